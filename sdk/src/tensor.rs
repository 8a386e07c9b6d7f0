//! [`Tensor`]: a handle to a host-owned f32 tensor, with methods that return
//! [`Result`] and arithmetic operators that panic on error (a panic traps the
//! plugin and the host reports the message).

use crate::bindings::shared::scivid::plugin::tensor as raw;
use crate::{Error, Result};

pub use raw::{Init, Padding};

/// A handle to a tensor that lives in the host. Cloning is not offered: ops
/// return new handles and the host frees a tensor when its handle drops.
#[derive(Debug)]
#[repr(transparent)]
pub struct Tensor(raw::Tensor);

fn wrap(r: std::result::Result<raw::Tensor, String>) -> Result<Tensor> {
    r.map(Tensor).map_err(Error)
}

impl Tensor {
    /// A constant from row-major data.
    pub fn from_data(data: &[f32], shape: &[u32]) -> Result<Tensor> {
        wrap(raw::Tensor::from_data(data, shape))
    }

    /// A constant filled with `value`.
    pub fn full(shape: &[u32], value: f32) -> Result<Tensor> {
        wrap(raw::Tensor::full(shape, value))
    }

    /// A scalar constant (rank 0).
    pub fn scalar(value: f32) -> Result<Tensor> {
        Tensor::full(&[], value)
    }

    /// A trainable parameter owned by the host (declare them in `init`).
    pub fn param(name: &str, shape: &[u32], init: Init) -> Result<Tensor> {
        wrap(raw::Tensor::param(name, shape, init))
    }

    /// Concatenate along `axis`.
    pub fn concat(parts: &[&Tensor], axis: u32) -> Result<Tensor> {
        let raw_parts: Vec<&raw::Tensor> = parts.iter().map(|t| &t.0).collect();
        wrap(raw::Tensor::concat(&raw_parts, axis))
    }

    /// Wrap a borrowed handle given to an export (the host keeps ownership).
    pub(crate) fn borrowed(t: &raw::Tensor) -> &Tensor {
        // SAFETY: `Tensor` is `repr(transparent)` over `raw::Tensor`,
        // so a reference to the raw handle is a valid reference to the wrapper.
        unsafe { &*(t as *const raw::Tensor as *const Tensor) }
    }

    pub(crate) fn from_raw(t: raw::Tensor) -> Tensor {
        Tensor(t)
    }

    pub(crate) fn into_raw(self) -> raw::Tensor {
        self.0
    }

    pub fn shape(&self) -> Vec<u32> {
        self.0.shape()
    }
    pub fn numel(&self) -> u64 {
        self.0.numel()
    }
    /// Copy the values out (row-major); no gradient flows through the copy.
    pub fn read(&self) -> Result<Vec<f32>> {
        self.0.read().map_err(Error)
    }
    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        let v = self.read()?;
        match v.as_slice() {
            [x] => Ok(*x),
            _ => Err(Error(format!(
                "item: tensor has {} elements, not 1",
                v.len()
            ))),
        }
    }

    pub fn add(&self, o: &Tensor) -> Result<Tensor> {
        wrap(self.0.add(&o.0))
    }
    pub fn sub(&self, o: &Tensor) -> Result<Tensor> {
        wrap(self.0.sub(&o.0))
    }
    pub fn mul(&self, o: &Tensor) -> Result<Tensor> {
        wrap(self.0.mul(&o.0))
    }
    pub fn div(&self, o: &Tensor) -> Result<Tensor> {
        wrap(self.0.div(&o.0))
    }
    pub fn add_scalar(&self, v: f32) -> Tensor {
        Tensor(self.0.add_scalar(v))
    }
    pub fn mul_scalar(&self, v: f32) -> Tensor {
        Tensor(self.0.mul_scalar(v))
    }
    pub fn matmul(&self, o: &Tensor) -> Result<Tensor> {
        wrap(self.0.matmul(&o.0))
    }

    pub fn neg(&self) -> Tensor {
        Tensor(self.0.neg())
    }
    pub fn exp(&self) -> Tensor {
        Tensor(self.0.exp())
    }
    pub fn log(&self) -> Tensor {
        Tensor(self.0.log())
    }
    pub fn sqrt(&self) -> Tensor {
        Tensor(self.0.sqrt())
    }
    pub fn abs(&self) -> Tensor {
        Tensor(self.0.abs())
    }
    pub fn tanh(&self) -> Tensor {
        Tensor(self.0.tanh())
    }
    /// Since SDK 0.2.1.
    pub fn sin(&self) -> Tensor {
        Tensor(self.0.sin())
    }
    /// Since SDK 0.2.1.
    pub fn cos(&self) -> Tensor {
        Tensor(self.0.cos())
    }
    pub fn sigmoid(&self) -> Tensor {
        Tensor(self.0.sigmoid())
    }
    pub fn relu(&self) -> Tensor {
        Tensor(self.0.relu())
    }
    pub fn gelu(&self) -> Tensor {
        Tensor(self.0.gelu())
    }

    /// Reshape; one entry may be -1.
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        wrap(self.0.reshape(shape))
    }
    pub fn permute(&self, axes: &[u32]) -> Result<Tensor> {
        wrap(self.0.permute(axes))
    }
    pub fn slice(&self, axis: u32, start: u32, end: u32) -> Result<Tensor> {
        wrap(self.0.slice(axis, start, end))
    }
    pub fn expand(&self, shape: &[u32]) -> Result<Tensor> {
        wrap(self.0.expand(shape))
    }
    pub fn sum(&self, axes: &[u32], keepdim: bool) -> Result<Tensor> {
        wrap(self.0.sum(axes, keepdim))
    }
    pub fn mean(&self, axes: &[u32], keepdim: bool) -> Result<Tensor> {
        wrap(self.0.mean(axes, keepdim))
    }
    /// Mean of all elements, as a scalar tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        let axes: Vec<u32> = (0..self.shape().len() as u32).collect();
        self.mean(&axes, false)
    }
    pub fn softmax(&self, axis: u32) -> Result<Tensor> {
        wrap(self.0.softmax(axis))
    }
    pub fn log_softmax(&self, axis: u32) -> Result<Tensor> {
        wrap(self.0.log_softmax(axis))
    }
    /// Inverted dropout (seeded by the run); call it only when training.
    pub fn dropout(&self, rate: f32) -> Result<Tensor> {
        wrap(self.0.dropout(rate))
    }
    pub fn layer_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f32,
    ) -> Result<Tensor> {
        wrap(
            self.0
                .layer_norm(weight.map(|t| &t.0), bias.map(|t| &t.0), eps),
        )
    }
    /// Convolution of an image [B, H, W, C] with a kernel [kh, kw, C, out]
    /// (XLA's conventions; no bias). Since SDK 0.2.2.
    pub fn conv2d(&self, kernel: &Tensor, stride: (u32, u32), padding: Padding) -> Result<Tensor> {
        wrap(self.0.conv2d(&kernel.0, stride, padding))
    }
    /// `jax.lax.conv_transpose`: the image dilated by `stride`, correlated
    /// with the kernel [kh, kw, C, out] as stored. Since SDK 0.2.2.
    pub fn conv_transpose2d(
        &self,
        kernel: &Tensor,
        stride: (u32, u32),
        padding: Padding,
    ) -> Result<Tensor> {
        wrap(self.0.conv_transpose2d(&kernel.0, stride, padding))
    }
    /// Bilinear resize of [B, H, W, C] to [B, height, width, C], as
    /// `jax.image.resize`. Since SDK 0.2.2.
    pub fn resize_bilinear(&self, height: u32, width: u32) -> Result<Tensor> {
        wrap(self.0.resize_bilinear(height, width))
    }
    pub fn softmax_cross_entropy(&self, targets: &Tensor) -> Result<Tensor> {
        wrap(self.0.softmax_cross_entropy(&targets.0))
    }
    pub fn sigmoid_bce(&self, targets: &Tensor) -> Result<Tensor> {
        wrap(self.0.sigmoid_bce(&targets.0))
    }
    pub fn mse(&self, targets: &Tensor) -> Result<Tensor> {
        wrap(self.0.mse(&targets.0))
    }
    /// Huber loss (quadratic within `delta`, linear beyond), mean over elements.
    pub fn huber(&self, targets: &Tensor, delta: f32) -> Result<Tensor> {
        wrap(self.0.huber(&targets.0, delta))
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident) => {
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Tensor;
            /// Panics (trapping the plugin) if the shapes do not broadcast.
            fn $method(self, rhs: &Tensor) -> Tensor {
                match Tensor::$method(self, rhs) {
                    Ok(t) => t,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    };
}
binary_operator!(Add, add);
binary_operator!(Sub, sub);
binary_operator!(Mul, mul);
binary_operator!(Div, div);

impl std::ops::Add<f32> for &Tensor {
    type Output = Tensor;
    fn add(self, rhs: f32) -> Tensor {
        self.add_scalar(rhs)
    }
}
impl std::ops::Mul<f32> for &Tensor {
    type Output = Tensor;
    fn mul(self, rhs: f32) -> Tensor {
        self.mul_scalar(rhs)
    }
}
impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}
