//! Host tensors: [`DynTensor`] (an f32 burn tensor of any rank up to
//! [`MAX_RANK`]) and [`Ops`], the validated op set plugins call.
//!
//! burn tensors have a compile-time rank; plugins need a run-time one. Every
//! tensor is stored as a rank-6 burn tensor with leading 1s, which keeps
//! numpy broadcasting (right-aligned) and batched matmul exact, and the
//! logical shape is kept beside it.

pub mod ops;
mod shape;
pub mod spatial;

pub use ops::{OpError, Ops};
pub use shape::{broadcast_shapes, numel};
pub use spatial::Padding;

use burn::tensor::{Device, Tensor, TensorData};

/// Largest rank a plugin may use.
pub const MAX_RANK: usize = 6;

/// The device every host tensor lives on: flex CPU with autodiff.
pub fn default_device() -> Device {
    Device::flex().autodiff()
}

/// An f32 tensor of rank 0..=6 backed by burn (autodiff-capable).
#[derive(Clone, Debug)]
pub struct DynTensor {
    value: Tensor<MAX_RANK>,
    shape: Vec<usize>,
}

/// `shape` left-padded with 1s to rank 6.
pub(crate) fn padded(shape: &[usize]) -> [usize; MAX_RANK] {
    let mut out = [1; MAX_RANK];
    out[MAX_RANK - shape.len()..].copy_from_slice(shape);
    out
}

impl DynTensor {
    /// Wrap a rank-6 burn tensor whose leading dims are 1 beyond `shape`.
    pub(crate) fn from_padded(value: Tensor<MAX_RANK>, shape: Vec<usize>) -> Self {
        debug_assert_eq!(value.dims(), padded(&shape));
        DynTensor { value, shape }
    }

    /// Build from row-major data; the caller has checked `data.len()`.
    pub fn from_vec(data: Vec<f32>, shape: &[usize], device: &Device) -> Result<Self, OpError> {
        if shape.len() > MAX_RANK {
            return Err(OpError::new(
                "from-data",
                format!("rank {} exceeds the maximum {MAX_RANK}", shape.len()),
            ));
        }
        if numel(shape) != data.len() {
            return Err(OpError::new(
                "from-data",
                format!(
                    "{} values do not fill shape {shape:?} ({} elements)",
                    data.len(),
                    numel(shape)
                ),
            ));
        }
        let value = Tensor::from_data(TensorData::new(data, padded(shape)), device);
        Ok(DynTensor {
            value,
            shape: shape.to_vec(),
        })
    }

    /// Build from any rank-D burn tensor (used by native code: backbones, tests).
    pub fn from_burn<const D: usize>(t: Tensor<D>) -> Self {
        let shape = t.dims().to_vec();
        let value = t.reshape(padded(&shape));
        DynTensor { value, shape }
    }

    /// The tensor as rank-D burn tensor; `D` must equal the rank.
    pub fn to_burn<const D: usize>(&self) -> Tensor<D> {
        assert_eq!(D, self.shape.len(), "to_burn: rank mismatch");
        let mut dims = [0usize; D];
        dims.copy_from_slice(&self.shape);
        self.value.clone().reshape(dims)
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }
    /// Bytes of f32 storage.
    pub fn bytes(&self) -> u64 {
        self.numel() as u64 * 4
    }
    pub(crate) fn value(&self) -> &Tensor<MAX_RANK> {
        &self.value
    }
    /// Copy the values out, row-major.
    pub fn to_vec(&self) -> Vec<f32> {
        self.value
            .to_data()
            .try_to_vec::<f32>()
            .expect("host tensors are f32")
    }

    /// The same values without autodiff tracking (for metrics, caches).
    pub fn detached(&self) -> Self {
        DynTensor {
            value: self.value.clone().detach(),
            shape: self.shape.clone(),
        }
    }
}

impl DynTensor {
    /// Make this tensor an autodiff leaf whose gradient is kept.
    pub fn require_grad(self) -> Self {
        DynTensor {
            value: self.value.require_grad(),
            shape: self.shape,
        }
    }

    /// This tensor's gradient after `grads` was computed, if it has one.
    pub fn grad(&self, grads: &burn::tensor::Gradients) -> Option<DynTensor> {
        self.value.grad(grads).map(|g| DynTensor {
            value: g,
            shape: self.shape.clone(),
        })
    }

    /// Whether this tensor is part of a recorded autodiff graph.
    pub fn is_tracked(&self) -> bool {
        self.value.is_tracked()
    }

    /// Backpropagate from this (scalar) tensor; it must be tracked.
    pub fn backward(&self) -> burn::tensor::Gradients {
        self.value.backward()
    }

    /// The value without autodiff, for optimiser arithmetic.
    pub fn inner(&self) -> DynTensor {
        DynTensor {
            value: self.value.clone().inner(),
            shape: self.shape.clone(),
        }
    }

    /// Map the underlying burn tensor (same shape), for native host code.
    pub fn map(&self, f: impl FnOnce(Tensor<MAX_RANK>) -> Tensor<MAX_RANK>) -> DynTensor {
        DynTensor {
            value: f(self.value.clone()),
            shape: self.shape.clone(),
        }
    }
}

/// Arithmetic for native host code (same shapes, no validation needed).
impl DynTensor {
    pub fn add_native(&self, o: &DynTensor) -> DynTensor {
        self.map(|t| t.add(o.value.clone()))
    }
    pub fn div_native(&self, o: &DynTensor) -> DynTensor {
        self.map(|t| t.div(o.value.clone()))
    }
    /// Sum of squared elements, read back as f64.
    pub fn sum_squares(&self) -> f64 {
        self.value.clone().square().sum().into_scalar::<f32>() as f64
    }
    /// A fresh autodiff leaf holding this value.
    pub fn require_grad_leaf(self) -> DynTensor {
        DynTensor {
            value: self.value.detach().autodiff().require_grad(),
            shape: self.shape,
        }
    }
    /// Concatenate along the first axis (same trailing shape).
    pub fn cat_rows(parts: &[DynTensor]) -> DynTensor {
        let mut shape = parts[0].shape.clone();
        shape[0] = parts.iter().map(|p| p.shape[0]).sum();
        let dim = MAX_RANK - shape.len();
        let value = Tensor::cat(parts.iter().map(|p| p.value.clone()).collect(), dim);
        DynTensor { value, shape }
    }

    /// Rows `rows` of the first axis.
    pub fn select_rows(&self, rows: &[usize]) -> DynTensor {
        let device = self.value.device();
        let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let idx =
            Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [rows.len()]), &device);
        let mut shape = self.shape.clone();
        shape[0] = rows.len();
        DynTensor {
            value: self.value.clone().select(MAX_RANK - self.rank(), idx),
            shape,
        }
    }
}
