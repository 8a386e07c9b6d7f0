//! The `tensor` resource as the host implements it: handles in the store's
//! resource table, each op validated by [`Ops`], budgets enforced on every
//! call. Shape mistakes come back to the plugin as error strings; exceeding
//! a budget traps the plugin, since a plugin that ignores errors could
//! otherwise keep hammering the host.

use super::bindings::task::scivid::plugin::tensor::{Host, HostTensor, Init, Padding};
use super::bindings::task::scivid::plugin::types;
use super::sandbox::PluginState;
use crate::tensor::spatial::{self, conv_flops, resize_flops};
use crate::tensor::{DynTensor, OpError, Ops, ops::BinaryOp, ops::UnaryOp};
use wasmtime::component::Resource;

/// Largest tensor a plugin may copy into its own memory with `read`.
pub const READ_LIMIT_ELEMENTS: usize = 1 << 24;

/// What a handle points at.
#[derive(Debug)]
pub enum TensorRes {
    /// A value, counted against the plugin's budget when `counted`.
    Value {
        tensor: Box<DynTensor>,
        counted: bool,
    },
    /// A trainable parameter (index into the store's `ParamStore`).
    Param(usize),
}

/// A budget the sandbox enforces on host tensors; crossing it is a trap
/// naming the budget.
#[derive(Debug, thiserror::Error)]
#[error("exceeded its {budget} budget: {detail}")]
pub struct BudgetExceeded {
    pub budget: &'static str,
    pub detail: String,
}

/// Live bytes, and per-call op counts and FLOPs, of one plugin. Fuel cannot
/// interrupt a host op, so an op's cost is estimated and charged before it
/// runs: one huge matmul is refused, not waited for.
#[derive(Debug)]
pub struct TensorBudget {
    pub live_bytes: u64,
    pub max_bytes: u64,
    pub ops_this_call: u64,
    pub max_ops_per_call: u64,
    pub flops_this_call: u64,
    pub max_flops_per_call: u64,
}

impl TensorBudget {
    pub fn new(max_bytes: u64, max_ops_per_call: u64, max_flops_per_call: u64) -> Self {
        TensorBudget {
            live_bytes: 0,
            max_bytes,
            ops_this_call: 0,
            max_ops_per_call,
            flops_this_call: 0,
            max_flops_per_call,
        }
    }
}

/// Floating-point operations of a batched matmul of these shapes (leading
/// dims broadcast): 2 * batch * M * N * K, saturating.
fn matmul_flops(a: &[usize], b: &[usize]) -> u64 {
    if a.len() < 2 || b.len() < 2 {
        return 0; // refused by the op itself
    }
    let (m, k, n) = (a[a.len() - 2], a[a.len() - 1], b[b.len() - 1]);
    let batch = |s: &[usize]| s[..s.len() - 2].iter().map(|&d| d as u64).product::<u64>();
    [batch(a).max(batch(b)), m as u64, n as u64, k as u64]
        .iter()
        .fold(2u64, |acc, &d| acc.saturating_mul(d))
}

type Handle = Resource<TensorRes>;
type OpResult = wasmtime::Result<Result<Handle, String>>;

impl PluginState {
    fn ops(&self) -> Ops {
        let left = self.budget.max_bytes.saturating_sub(self.budget.live_bytes);
        Ops::new(self.device.clone(), (left / 4) as usize)
    }

    /// Count one op against the per-call budget.
    fn tick(&mut self) -> wasmtime::Result<()> {
        self.budget.ops_this_call += 1;
        if self.budget.ops_this_call > self.budget.max_ops_per_call {
            return Err(wasmtime::Error::new(BudgetExceeded {
                budget: "host-op",
                detail: format!(
                    "more than {} tensor ops in one call (raise it with --budget-ops, or --budget-for NAME:ops=N)",
                    self.budget.max_ops_per_call
                ),
            }));
        }
        Ok(())
    }

    /// Charge `flops` (an estimate made before running `what`) against the
    /// per-call budget.
    fn charge(&mut self, what: &str, flops: u64) -> wasmtime::Result<()> {
        let b = &mut self.budget;
        b.flops_this_call = b.flops_this_call.saturating_add(flops);
        if b.flops_this_call > b.max_flops_per_call {
            return Err(wasmtime::Error::new(BudgetExceeded {
                budget: "host-flop",
                detail: format!(
                    "{what} of about {flops} FLOP would bring this call to {} FLOP, over {} \
                     (raise it with --budget-flops, or --budget-for NAME:flops=N)",
                    b.flops_this_call, b.max_flops_per_call
                ),
            }));
        }
        Ok(())
    }

    /// Resolve a handle to its current value.
    pub(crate) fn get(&self, h: &Handle) -> wasmtime::Result<DynTensor> {
        match self.table.get(h)? {
            TensorRes::Value { tensor, .. } => Ok((**tensor).clone()),
            TensorRes::Param(i) => Ok(self.params.params[*i].value.clone()),
        }
    }

    /// Insert a plugin-made tensor, charging its bytes.
    pub(crate) fn put(&mut self, t: DynTensor) -> wasmtime::Result<Handle> {
        let bytes = t.bytes();
        if self.budget.live_bytes + bytes > self.budget.max_bytes {
            return Err(wasmtime::Error::new(BudgetExceeded {
                budget: "tensor-bytes",
                detail: format!(
                    "holding {} bytes of host tensors plus {bytes} more exceeds {} (raise it with --budget-tensor-bytes, or --budget-for NAME:tensor_bytes=N)",
                    self.budget.live_bytes, self.budget.max_bytes
                ),
            }));
        }
        self.budget.live_bytes += bytes;
        Ok(self.table.push(TensorRes::Value {
            tensor: Box::new(t),
            counted: true,
        })?)
    }

    /// Lend a host tensor (features, targets) to the plugin for one call; not
    /// charged to the plugin.
    pub(crate) fn lend(&mut self, t: DynTensor) -> wasmtime::Result<Handle> {
        Ok(self.table.push(TensorRes::Value {
            tensor: Box::new(t),
            counted: false,
        })?)
    }

    /// Take a tensor back out of the table (a returned or lent handle).
    pub(crate) fn take(&mut self, h: Handle) -> wasmtime::Result<DynTensor> {
        match self.table.delete(h)? {
            TensorRes::Value { tensor, counted } => {
                if counted {
                    self.budget.live_bytes = self.budget.live_bytes.saturating_sub(tensor.bytes());
                }
                Ok(*tensor)
            }
            TensorRes::Param(i) => Ok(self.params.params[i].value.clone()),
        }
    }

    fn finish(&mut self, r: Result<DynTensor, OpError>) -> OpResult {
        match r {
            Ok(t) => Ok(Ok(self.put(t)?)),
            Err(e) if e.over_budget => Err(wasmtime::Error::new(BudgetExceeded {
                budget: "tensor-bytes",
                detail: format!(
                    "{e} (raise it with --budget-tensor-bytes, or --budget-for NAME:tensor_bytes=N)"
                ),
            })),
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    fn unary(&mut self, h: Handle, op: UnaryOp) -> wasmtime::Result<Handle> {
        self.tick()?;
        let a = self.get(&h)?;
        self.charge("a unary op", a.numel() as u64)?;
        let ops = self.ops();
        ops.check_result("unary", a.shape()).map_err(|e| {
            wasmtime::Error::new(BudgetExceeded {
                budget: "tensor-bytes",
                detail: e.to_string(),
            })
        })?;
        let t = ops.unary(op, &a);
        self.put(t)
    }

    fn binary(&mut self, a: Handle, b: Handle, op: BinaryOp) -> OpResult {
        self.tick()?;
        let (x, y) = (self.get(&a)?, self.get(&b)?);
        self.charge("a binary op", x.numel().max(y.numel()) as u64)?;
        let r = self.ops().binary(op, &x, &y);
        self.finish(r)
    }

    fn with1(
        &mut self,
        h: Handle,
        f: impl FnOnce(&Ops, &DynTensor) -> Result<DynTensor, OpError>,
    ) -> OpResult {
        self.tick()?;
        let a = self.get(&h)?;
        // Reductions, norms, softmax: a few passes over the input.
        self.charge("an op", 8 * a.numel() as u64)?;
        let r = f(&self.ops(), &a);
        self.finish(r)
    }

    fn with2(
        &mut self,
        h: Handle,
        o: Handle,
        f: impl FnOnce(&Ops, &DynTensor, &DynTensor) -> Result<DynTensor, OpError>,
    ) -> OpResult {
        self.tick()?;
        let (a, b) = (self.get(&h)?, self.get(&o)?);
        self.charge("an op", 8 * (a.numel() + b.numel()) as u64)?;
        let r = f(&self.ops(), &a, &b);
        self.finish(r)
    }
}

impl Host for PluginState {}
impl types::Host for PluginState {}

impl HostTensor for PluginState {
    fn from_data(&mut self, data: Vec<f32>, shape: Vec<u32>) -> OpResult {
        self.tick()?;
        let r = self.ops().from_data(data, &shape);
        self.finish(r)
    }

    fn full(&mut self, shape: Vec<u32>, value: f32) -> OpResult {
        self.tick()?;
        let r = self.ops().full(&shape, value);
        self.finish(r)
    }

    fn param(&mut self, name: String, shape: Vec<u32>, init: Init) -> OpResult {
        self.tick()?;
        let ops = self.ops();
        match self.params.declare(&ops, &name, &shape, &init) {
            Ok(i) => {
                self.budget.live_bytes += self.params.params[i].value.bytes();
                Ok(Ok(self.table.push(TensorRes::Param(i))?))
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    fn concat(&mut self, parts: Vec<Handle>, axis: u32) -> OpResult {
        self.tick()?;
        let ts = parts
            .iter()
            .map(|h| self.get(h))
            .collect::<wasmtime::Result<Vec<_>>>()?;
        let refs: Vec<&DynTensor> = ts.iter().collect();
        let r = self.ops().concat(&refs, axis);
        self.finish(r)
    }

    fn shape(&mut self, h: Handle) -> wasmtime::Result<Vec<u32>> {
        Ok(self.get(&h)?.shape().iter().map(|&d| d as u32).collect())
    }

    fn numel(&mut self, h: Handle) -> wasmtime::Result<u64> {
        Ok(self.get(&h)?.numel() as u64)
    }

    fn read(&mut self, h: Handle) -> wasmtime::Result<Result<Vec<f32>, String>> {
        self.tick()?;
        let t = self.get(&h)?;
        if t.numel() > READ_LIMIT_ELEMENTS {
            return Ok(Err(format!(
                "tensor.read: {:?} has {} elements, above the read-back limit of {READ_LIMIT_ELEMENTS}",
                t.shape(),
                t.numel()
            )));
        }
        Ok(Ok(t.to_vec()))
    }

    fn add(&mut self, a: Handle, b: Handle) -> OpResult {
        self.binary(a, b, BinaryOp::Add)
    }
    fn sub(&mut self, a: Handle, b: Handle) -> OpResult {
        self.binary(a, b, BinaryOp::Sub)
    }
    fn mul(&mut self, a: Handle, b: Handle) -> OpResult {
        self.binary(a, b, BinaryOp::Mul)
    }
    fn div(&mut self, a: Handle, b: Handle) -> OpResult {
        self.binary(a, b, BinaryOp::Div)
    }
    fn add_scalar(&mut self, h: Handle, v: f32) -> wasmtime::Result<Handle> {
        self.tick()?;
        let a = self.get(&h)?;
        let t = self.ops().add_scalar(&a, v);
        self.put(t)
    }
    fn mul_scalar(&mut self, h: Handle, v: f32) -> wasmtime::Result<Handle> {
        self.tick()?;
        let a = self.get(&h)?;
        let t = self.ops().mul_scalar(&a, v);
        self.put(t)
    }
    fn matmul(&mut self, a: Handle, b: Handle) -> OpResult {
        let flops = matmul_flops(self.get(&a)?.shape(), self.get(&b)?.shape());
        self.charge("a matmul", flops)?;
        self.with2(a, b, |o, x, y| o.matmul(x, y))
    }

    fn neg(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Neg)
    }
    fn exp(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Exp)
    }
    fn log(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Log)
    }
    fn sqrt(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Sqrt)
    }
    fn abs(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Abs)
    }
    fn tanh(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Tanh)
    }
    fn sigmoid(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Sigmoid)
    }
    fn relu(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Relu)
    }
    fn sin(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Sin)
    }
    fn cos(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Cos)
    }
    fn gelu(&mut self, h: Handle) -> wasmtime::Result<Handle> {
        self.unary(h, UnaryOp::Gelu)
    }

    fn reshape(&mut self, h: Handle, shape: Vec<i64>) -> OpResult {
        self.with1(h, |o, a| o.reshape(a, &shape))
    }
    fn permute(&mut self, h: Handle, axes: Vec<u32>) -> OpResult {
        self.with1(h, |o, a| o.permute(a, &axes))
    }
    fn slice(&mut self, h: Handle, axis: u32, start: u32, end: u32) -> OpResult {
        self.with1(h, |o, a| o.slice(a, axis, start, end))
    }
    fn expand(&mut self, h: Handle, shape: Vec<u32>) -> OpResult {
        self.with1(h, |o, a| o.expand(a, &shape))
    }
    fn sum(&mut self, h: Handle, axes: Vec<u32>, keepdim: bool) -> OpResult {
        self.with1(h, |o, a| o.sum(a, &axes, keepdim))
    }
    fn mean(&mut self, h: Handle, axes: Vec<u32>, keepdim: bool) -> OpResult {
        self.with1(h, |o, a| o.mean(a, &axes, keepdim))
    }
    fn softmax(&mut self, h: Handle, axis: u32) -> OpResult {
        self.with1(h, |o, a| o.softmax(a, axis))
    }
    fn log_softmax(&mut self, h: Handle, axis: u32) -> OpResult {
        self.with1(h, |o, a| o.log_softmax(a, axis))
    }
    fn dropout(&mut self, h: Handle, rate: f32) -> OpResult {
        self.tick()?;
        let a = self.get(&h)?;
        let ops = self.ops();
        if let Err(e) = ops.check_result("dropout", a.shape()) {
            return self.finish(Err(e));
        }
        let r = ops.dropout(&a, rate, &mut self.rng);
        self.finish(r)
    }
    fn layer_norm(
        &mut self,
        h: Handle,
        weight: Option<Handle>,
        bias: Option<Handle>,
        eps: f32,
    ) -> OpResult {
        self.tick()?;
        let a = self.get(&h)?;
        let w = weight.as_ref().map(|w| self.get(w)).transpose()?;
        let b = bias.as_ref().map(|b| self.get(b)).transpose()?;
        let r = self.ops().layer_norm(&a, w.as_ref(), b.as_ref(), eps);
        self.finish(r)
    }
    fn conv2d(&mut self, h: Handle, k: Handle, stride: (u32, u32), padding: Padding) -> OpResult {
        let flops = conv_flops(self.get(&h)?.shape(), self.get(&k)?.shape());
        self.charge("a convolution", flops)?;
        self.with2(h, k, |o, x, w| o.conv2d(x, w, stride, padding.into()))
    }
    fn conv_transpose2d(
        &mut self,
        h: Handle,
        k: Handle,
        stride: (u32, u32),
        padding: Padding,
    ) -> OpResult {
        let flops = conv_flops(self.get(&h)?.shape(), self.get(&k)?.shape());
        self.charge("a transposed convolution", flops)?;
        self.with2(h, k, |o, x, w| {
            o.conv_transpose2d(x, w, stride, padding.into())
        })
    }
    fn resize_bilinear(&mut self, h: Handle, height: u32, width: u32) -> OpResult {
        let flops = resize_flops(self.get(&h)?.shape(), height, width);
        self.charge("a resize", flops)?;
        self.with1(h, |o, x| o.resize_bilinear(x, height, width))
    }
    fn softmax_cross_entropy(&mut self, h: Handle, t: Handle) -> OpResult {
        self.with2(h, t, |o, a, b| o.softmax_cross_entropy(a, b))
    }
    fn sigmoid_bce(&mut self, h: Handle, t: Handle) -> OpResult {
        self.with2(h, t, |o, a, b| o.sigmoid_bce(a, b))
    }
    fn huber(&mut self, h: Handle, t: Handle, delta: f32) -> OpResult {
        self.with2(h, t, |o, a, b| o.huber(a, b, delta))
    }
    fn mse(&mut self, h: Handle, t: Handle) -> OpResult {
        self.with2(h, t, |o, a, b| o.mse(a, b))
    }

    fn drop(&mut self, h: Handle) -> wasmtime::Result<()> {
        match self.table.delete(h)? {
            TensorRes::Value {
                tensor,
                counted: true,
            } => {
                self.budget.live_bytes = self.budget.live_bytes.saturating_sub(tensor.bytes());
            }
            TensorRes::Value { .. } | TensorRes::Param(_) => {}
        }
        Ok(())
    }
}

impl From<Padding> for spatial::Padding {
    fn from(p: Padding) -> Self {
        match p {
            Padding::Same => spatial::Padding::Same,
            Padding::Valid => spatial::Padding::Valid,
        }
    }
}
