//! [`Ops`]: the op set plugins reach through the tensor resource. Each op
//! validates ranks, shapes and the size of its result *before* burn sees the
//! inputs, because burn panics on bad shapes and a plugin must never be able
//! to reach a panic or an unbounded allocation.

use super::shape::{broadcast_shapes, numel};
use super::{DynTensor, MAX_RANK, padded};
use burn::tensor::activation;
use burn::tensor::{Device, Tensor};

/// A refused op: which op, and why, in words a plugin author can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("tensor.{op}: {message}")]
pub struct OpError {
    pub op: &'static str,
    pub message: String,
    /// True when the op was refused for exceeding the size budget (the
    /// runtime turns these into traps rather than recoverable errors).
    pub over_budget: bool,
}

impl OpError {
    pub fn new(op: &'static str, message: impl Into<String>) -> Self {
        OpError {
            op,
            message: message.into(),
            over_budget: false,
        }
    }
}

type R = Result<DynTensor, OpError>;

/// Binary elementwise ops with broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// Unary elementwise ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    Tanh,
    Sigmoid,
    Relu,
    Gelu,
    Sin,
    Cos,
}

/// The validated op set, bound to a device and a size limit for results.
#[derive(Debug, Clone)]
pub struct Ops {
    pub device: Device,
    /// Largest number of elements one result may have.
    pub max_elements: usize,
}

impl Ops {
    pub fn new(device: Device, max_elements: usize) -> Self {
        Ops {
            device,
            max_elements,
        }
    }

    /// Refuse a result shape that is too large or of too high a rank.
    pub fn check_result(&self, op: &'static str, shape: &[usize]) -> Result<(), OpError> {
        if shape.len() > MAX_RANK {
            return Err(OpError::new(
                op,
                format!("result rank {} exceeds the maximum {MAX_RANK}", shape.len()),
            ));
        }
        let n = numel(shape);
        if n > self.max_elements {
            return Err(OpError {
                op,
                message: format!(
                    "result shape {shape:?} ({n} elements, {} bytes) exceeds the tensor-bytes budget ({} elements left)",
                    (n as u128) * 4,
                    self.max_elements
                ),
                over_budget: true,
            });
        }
        Ok(())
    }

    fn axis(op: &'static str, t: &DynTensor, axis: u32) -> Result<usize, OpError> {
        let a = axis as usize;
        if a >= t.rank() {
            return Err(OpError::new(
                op,
                format!("axis {axis} out of range for shape {:?}", t.shape()),
            ));
        }
        Ok(MAX_RANK - t.rank() + a)
    }

    pub fn from_data(&self, data: Vec<f32>, shape: &[u32]) -> R {
        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        self.check_result("from-data", &shape)?;
        DynTensor::from_vec(data, &shape, &self.device)
    }

    pub fn full(&self, shape: &[u32], value: f32) -> R {
        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        self.check_result("full", &shape)?;
        let t = Tensor::<MAX_RANK>::full(padded(&shape), value, &self.device);
        Ok(DynTensor::from_padded(t, shape))
    }

    pub fn binary(&self, op: BinaryOp, a: &DynTensor, b: &DynTensor) -> R {
        let name = match op {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
        };
        let shape = broadcast_shapes(a.shape(), b.shape()).ok_or_else(|| {
            OpError::new(
                name,
                format!(
                    "shapes {:?} and {:?} do not broadcast",
                    a.shape(),
                    b.shape()
                ),
            )
        })?;
        self.check_result(name, &shape)?;
        let (x, y) = (a.value().clone(), b.value().clone());
        let v = match op {
            BinaryOp::Add => x.add(y),
            BinaryOp::Sub => x.sub(y),
            BinaryOp::Mul => x.mul(y),
            BinaryOp::Div => x.div(y),
        };
        Ok(DynTensor::from_padded(v, shape))
    }

    pub fn add_scalar(&self, a: &DynTensor, v: f32) -> DynTensor {
        DynTensor::from_padded(a.value().clone().add_scalar(v), a.shape().to_vec())
    }

    pub fn mul_scalar(&self, a: &DynTensor, v: f32) -> DynTensor {
        DynTensor::from_padded(a.value().clone().mul_scalar(v), a.shape().to_vec())
    }

    pub fn unary(&self, op: UnaryOp, a: &DynTensor) -> DynTensor {
        let x = a.value().clone();
        let v = match op {
            UnaryOp::Neg => x.neg(),
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.log(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Sigmoid => activation::sigmoid(x),
            UnaryOp::Relu => activation::relu(x),
            UnaryOp::Gelu => activation::gelu(x),
            UnaryOp::Sin => x.sin(),
            UnaryOp::Cos => x.cos(),
        };
        DynTensor::from_padded(v, a.shape().to_vec())
    }

    /// Batched matmul over the last two dims with broadcast leading dims.
    pub fn matmul(&self, a: &DynTensor, b: &DynTensor) -> R {
        let (sa, sb) = (a.shape(), b.shape());
        if sa.len() < 2 || sb.len() < 2 {
            return Err(OpError::new(
                "matmul",
                format!("needs rank >= 2, got {sa:?} and {sb:?}"),
            ));
        }
        let (m, k1) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        if k1 != k2 {
            return Err(OpError::new(
                "matmul",
                format!("inner dims differ: {sa:?} x {sb:?} ({k1} != {k2})"),
            ));
        }
        let batch =
            broadcast_shapes(&sa[..sa.len() - 2], &sb[..sb.len() - 2]).ok_or_else(|| {
                OpError::new(
                    "matmul",
                    format!("batch dims of {sa:?} and {sb:?} do not broadcast"),
                )
            })?;
        let mut shape = batch;
        shape.extend([m, n]);
        self.check_result("matmul", &shape)?;
        if numel(&sb[..sb.len() - 2]) == 1 && sa.len() > 2 {
            // [..., M, K] x [K, N] (a dense layer on a batch of rows): one
            // GEMM over all rows. As a broadcast batched matmul, backward
            // would form one [K, N] weight gradient per batch entry and
            // then sum them.
            let rows = numel(sa) / k1;
            let flat = a.value().clone().reshape(padded(&[rows, k1]));
            let weight = b.value().clone().reshape(padded(&[k2, n]));
            return Ok(DynTensor::from_padded(
                flat.matmul(weight).reshape(padded(&shape)),
                shape,
            ));
        }
        Ok(DynTensor::from_padded(
            a.value().clone().matmul(b.value().clone()),
            shape,
        ))
    }

    pub fn reshape(&self, a: &DynTensor, shape: &[i64]) -> R {
        let mut infer = None;
        let mut known = 1usize;
        let mut out = Vec::with_capacity(shape.len());
        for (i, &d) in shape.iter().enumerate() {
            match d {
                -1 if infer.is_none() => {
                    infer = Some(i);
                    out.push(0);
                }
                -1 => {
                    return Err(OpError::new(
                        "reshape",
                        format!("more than one -1 in {shape:?}"),
                    ));
                }
                d if d < 0 => {
                    return Err(OpError::new(
                        "reshape",
                        format!("negative dim in {shape:?}"),
                    ));
                }
                d => {
                    known = known.saturating_mul(d as usize);
                    out.push(d as usize);
                }
            }
        }
        if let Some(i) = infer {
            if known == 0 || !a.numel().is_multiple_of(known) {
                return Err(OpError::new(
                    "reshape",
                    format!("cannot infer -1 in {shape:?} for shape {:?}", a.shape()),
                ));
            }
            out[i] = a.numel() / known;
        }
        if numel(&out) != a.numel() {
            return Err(OpError::new(
                "reshape",
                format!(
                    "{:?} ({} elements) cannot become {shape:?}",
                    a.shape(),
                    a.numel()
                ),
            ));
        }
        self.check_result("reshape", &out)?;
        Ok(DynTensor::from_padded(
            a.value().clone().reshape(padded(&out)),
            out,
        ))
    }

    pub fn permute(&self, a: &DynTensor, axes: &[u32]) -> R {
        let r = a.rank();
        let mut seen = vec![false; r];
        if axes.len() != r
            || axes
                .iter()
                .any(|&x| (x as usize) >= r || std::mem::replace(&mut seen[x as usize], true))
        {
            return Err(OpError::new(
                "permute",
                format!(
                    "{axes:?} is not a permutation of the axes of {:?}",
                    a.shape()
                ),
            ));
        }
        let off = MAX_RANK - r;
        let mut full = [0usize; MAX_RANK];
        for (i, f) in full.iter_mut().enumerate() {
            *f = if i < off {
                i
            } else {
                off + axes[i - off] as usize
            };
        }
        let shape: Vec<usize> = axes.iter().map(|&x| a.shape()[x as usize]).collect();
        Ok(DynTensor::from_padded(
            a.value().clone().permute(full),
            shape,
        ))
    }

    pub fn slice(&self, a: &DynTensor, axis: u32, start: u32, end: u32) -> R {
        let dim = Self::axis("slice", a, axis)?;
        let size = a.shape()[axis as usize];
        if start > end || end as usize > size {
            return Err(OpError::new(
                "slice",
                format!("range {start}..{end} out of bounds for axis {axis} of size {size}"),
            ));
        }
        let mut shape = a.shape().to_vec();
        shape[axis as usize] = (end - start) as usize;
        if start == end {
            return Err(OpError::new("slice", "empty range".to_string()));
        }
        let v = a
            .value()
            .clone()
            .slice_dim(dim, start as usize..end as usize);
        Ok(DynTensor::from_padded(v, shape))
    }

    pub fn expand(&self, a: &DynTensor, shape: &[u32]) -> R {
        let target: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        let ok = target.len() >= a.rank()
            && a.shape()
                .iter()
                .rev()
                .zip(target.iter().rev())
                .all(|(&s, &t)| s == t || s == 1);
        if !ok {
            return Err(OpError::new(
                "expand",
                format!("{:?} cannot expand to {target:?}", a.shape()),
            ));
        }
        self.check_result("expand", &target)?;
        Ok(DynTensor::from_padded(
            a.value().clone().expand(padded(&target)),
            target,
        ))
    }

    pub fn concat(&self, parts: &[&DynTensor], axis: u32) -> R {
        let first = parts
            .first()
            .ok_or_else(|| OpError::new("concat", "no tensors given"))?;
        let dim = Self::axis("concat", first, axis)?;
        let mut shape = first.shape().to_vec();
        for p in &parts[1..] {
            let same = p.rank() == first.rank()
                && p.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(i, (x, y))| i == axis as usize || x == y);
            if !same {
                return Err(OpError::new(
                    "concat",
                    format!(
                        "{:?} and {:?} differ off axis {axis}",
                        first.shape(),
                        p.shape()
                    ),
                ));
            }
            shape[axis as usize] = shape[axis as usize].saturating_add(p.shape()[axis as usize]);
        }
        self.check_result("concat", &shape)?;
        let vs = parts.iter().map(|p| p.value().clone()).collect();
        Ok(DynTensor::from_padded(Tensor::cat(vs, dim), shape))
    }

    fn reduce(
        &self,
        op: &'static str,
        a: &DynTensor,
        axes: &[u32],
        keepdim: bool,
        mean: bool,
    ) -> R {
        let mut seen = vec![false; a.rank()];
        for &x in axes {
            Self::axis(op, a, x)?;
            if std::mem::replace(&mut seen[x as usize], true) {
                return Err(OpError::new(op, format!("axis {x} given twice")));
            }
        }
        let mut v = a.value().clone();
        for &x in axes {
            let d = MAX_RANK - a.rank() + x as usize;
            v = if mean { v.mean_dim(d) } else { v.sum_dim(d) };
        }
        let kept: Vec<usize> = a
            .shape()
            .iter()
            .enumerate()
            .map(|(i, &d)| if seen[i] { 1 } else { d })
            .collect();
        if keepdim {
            return Ok(DynTensor::from_padded(v, kept));
        }
        let shape: Vec<usize> = a
            .shape()
            .iter()
            .enumerate()
            .filter(|(i, _)| !seen[*i])
            .map(|(_, &d)| d)
            .collect();
        Ok(DynTensor::from_padded(v.reshape(padded(&shape)), shape))
    }

    pub fn sum(&self, a: &DynTensor, axes: &[u32], keepdim: bool) -> R {
        self.reduce("sum", a, axes, keepdim, false)
    }

    pub fn mean(&self, a: &DynTensor, axes: &[u32], keepdim: bool) -> R {
        self.reduce("mean", a, axes, keepdim, true)
    }

    pub fn softmax(&self, a: &DynTensor, axis: u32) -> R {
        let d = Self::axis("softmax", a, axis)?;
        Ok(DynTensor::from_padded(
            activation::softmax(a.value().clone(), d),
            a.shape().to_vec(),
        ))
    }

    pub fn log_softmax(&self, a: &DynTensor, axis: u32) -> R {
        let d = Self::axis("log-softmax", a, axis)?;
        Ok(DynTensor::from_padded(
            activation::log_softmax(a.value().clone(), d),
            a.shape().to_vec(),
        ))
    }

    /// Inverted dropout with a keep-mask drawn from `rng`.
    pub fn dropout(&self, a: &DynTensor, rate: f32, rng: &mut impl rand::RngExt) -> R {
        if !(0.0..1.0).contains(&rate) {
            return Err(OpError::new(
                "dropout",
                format!("rate {rate} is not in [0, 1)"),
            ));
        }
        if rate == 0.0 {
            return Ok(a.clone());
        }
        let keep = 1.0 - rate;
        let mask: Vec<f32> = (0..a.numel())
            .map(|_| {
                if rng.random::<f32>() < keep {
                    1.0 / keep
                } else {
                    0.0
                }
            })
            .collect();
        let mask = DynTensor::from_vec(mask, a.shape(), &self.device)?;
        Ok(DynTensor::from_padded(
            a.value().clone().mul(mask.value().clone()),
            a.shape().to_vec(),
        ))
    }

    /// LayerNorm over the last dim (biased variance, as PyTorch and flax).
    pub fn layer_norm(
        &self,
        a: &DynTensor,
        weight: Option<&DynTensor>,
        bias: Option<&DynTensor>,
        eps: f32,
    ) -> R {
        let last = *a
            .shape()
            .last()
            .ok_or_else(|| OpError::new("layer-norm", "needs rank >= 1"))?;
        for (what, t) in [("weight", weight), ("bias", bias)] {
            if let Some(t) = t
                && t.shape() != [last]
            {
                return Err(OpError::new(
                    "layer-norm",
                    format!("{what} has shape {:?}, expected [{last}]", t.shape()),
                ));
            }
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(OpError::new(
                "layer-norm",
                format!("eps must be positive and finite, got {eps}"),
            ));
        }
        let x = a.value().clone();
        let mean = x.clone().mean_dim(MAX_RANK - 1);
        let centered = x.sub(mean);
        let var = centered.clone().square().mean_dim(MAX_RANK - 1);
        let mut y = centered.div(var.add_scalar(eps).sqrt());
        if let Some(w) = weight {
            y = y.mul(w.value().clone());
        }
        if let Some(b) = bias {
            y = y.add(b.value().clone());
        }
        Ok(DynTensor::from_padded(y, a.shape().to_vec()))
    }

    fn same_shape(op: &'static str, a: &DynTensor, t: &DynTensor) -> Result<(), OpError> {
        if a.shape() != t.shape() {
            return Err(OpError::new(
                op,
                format!(
                    "predictions {:?} and targets {:?} differ in shape",
                    a.shape(),
                    t.shape()
                ),
            ));
        }
        Ok(())
    }

    fn mean_all(v: Tensor<MAX_RANK>) -> DynTensor {
        DynTensor::from_padded(v.mean().reshape(padded(&[])), vec![])
    }

    /// Softmax cross-entropy over the last axis, averaged over the rest.
    pub fn softmax_cross_entropy(&self, logits: &DynTensor, targets: &DynTensor) -> R {
        Self::same_shape("softmax-cross-entropy", logits, targets)?;
        if logits.rank() == 0 {
            return Err(OpError::new("softmax-cross-entropy", "needs rank >= 1"));
        }
        let logp = activation::log_softmax(logits.value().clone(), MAX_RANK - 1);
        let per_row = logp
            .mul(targets.value().clone())
            .sum_dim(MAX_RANK - 1)
            .neg();
        Ok(Self::mean_all(per_row))
    }

    /// Numerically stable sigmoid BCE from logits, mean over elements:
    /// max(x, 0) - x t + log(1 + exp(-|x|)).
    pub fn sigmoid_bce(&self, logits: &DynTensor, targets: &DynTensor) -> R {
        Self::same_shape("sigmoid-bce", logits, targets)?;
        let x = logits.value().clone();
        let l = activation::relu(x.clone()) - x.clone().mul(targets.value().clone())
            + x.abs().neg().exp().log1p();
        Ok(Self::mean_all(l))
    }

    /// Huber loss, mean over elements: 0.5 d^2 for |d| <= delta, else
    /// delta (|d| - 0.5 delta); written as 0.5 q^2 + delta (|d| - q) with
    /// q = min(|d|, delta) so its gradient is continuous.
    pub fn huber(&self, pred: &DynTensor, targets: &DynTensor, delta: f32) -> R {
        Self::same_shape("huber", pred, targets)?;
        if !(delta.is_finite() && delta > 0.0) {
            return Err(OpError::new(
                "huber",
                format!("delta must be positive and finite, got {delta}"),
            ));
        }
        let a = pred.value().clone().sub(targets.value().clone()).abs();
        let q = a.clone().clamp_max(delta);
        let l = q
            .clone()
            .square()
            .mul_scalar(0.5)
            .add(a.sub(q).mul_scalar(delta));
        Ok(Self::mean_all(l))
    }

    pub fn mse(&self, pred: &DynTensor, targets: &DynTensor) -> R {
        Self::same_shape("mse", pred, targets)?;
        Ok(Self::mean_all(
            pred.value().clone().sub(targets.value().clone()).square(),
        ))
    }
}
