//! [`ParamStore`]: the trainable parameters a readout declares. The host owns
//! them (values, gradients, optimiser state); the plugin holds handles that
//! always resolve to the current value.

use crate::tensor::{DynTensor, OpError, Ops};
use rand::{RngExt, SeedableRng, rngs::StdRng};

use super::bindings::task::scivid::plugin::tensor::Init;

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    /// Current value; an autodiff leaf that requires grad.
    pub value: DynTensor,
}

#[derive(Debug)]
pub struct ParamStore {
    pub params: Vec<Param>,
    /// Parameters may only be declared while the readout is initialised.
    pub open: bool,
    rng: StdRng,
}

impl ParamStore {
    pub fn new(seed: u64) -> Self {
        ParamStore {
            params: Vec::new(),
            open: false,
            rng: StdRng::seed_from_u64(seed ^ 0x9a4a_3e7e),
        }
    }

    /// Declare a parameter; returns its index.
    pub fn declare(
        &mut self,
        ops: &Ops,
        name: &str,
        shape: &[u32],
        init: &Init,
    ) -> Result<usize, OpError> {
        if !self.open {
            return Err(OpError::new(
                "param",
                format!("`{name}`: parameters can only be declared in init"),
            ));
        }
        if name.is_empty() || name.len() > 256 {
            return Err(OpError::new("param", "name must be 1 to 256 bytes"));
        }
        if self.params.iter().any(|p| p.name == name) {
            return Err(OpError::new("param", format!("`{name}` declared twice")));
        }
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        ops.check_result("param", &dims)?;
        let n = crate::tensor::numel(&dims);
        // As flax's variance scaling: leading dims beyond the last two (a
        // conv kernel's window) multiply both fans.
        let (fan_in, fan_out) = match dims.len() {
            0 => (1, 1),
            1 => (dims[0], dims[0]),
            r => {
                let window: usize = dims[..r - 2].iter().product();
                (dims[r - 2] * window, dims[r - 1] * window)
            }
        };
        let data: Vec<f32> = match *init {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Constant(c) => vec![c; n],
            Init::Normal(std) => (0..n).map(|_| std * self.normal()).collect(),
            Init::TruncatedNormal(std) => (0..n).map(|_| std * self.truncated_normal()).collect(),
            Init::Uniform((lo, hi)) => {
                if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
                    return Err(OpError::new(
                        "param",
                        format!("`{name}`: uniform({lo}, {hi}) is empty"),
                    ));
                }
                (0..n).map(|_| self.rng.random_range(lo..hi)).collect()
            }
            Init::XavierUniform => {
                let a = (6.0 / (fan_in + fan_out).max(1) as f32).sqrt();
                (0..n).map(|_| self.rng.random_range(-a..a)).collect()
            }
            Init::LecunNormal => {
                // flax's lecun_normal is a truncated normal rescaled to unit variance.
                let std = (1.0 / fan_in.max(1) as f32).sqrt() / 0.879_625_7;
                (0..n).map(|_| std * self.truncated_normal()).collect()
            }
        };
        let value = DynTensor::from_vec(data, &dims, &ops.device)?.require_grad();
        self.params.push(Param {
            name: name.to_string(),
            value,
        });
        Ok(self.params.len() - 1)
    }

    fn normal(&mut self) -> f32 {
        // Box-Muller; u1 in (0, 1] so the log is finite.
        let u1: f32 = 1.0 - self.rng.random::<f32>();
        let u2: f32 = self.rng.random::<f32>();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }

    fn truncated_normal(&mut self) -> f32 {
        loop {
            let x = self.normal();
            if x.abs() <= 2.0 {
                return x;
            }
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.params.iter().map(|p| p.value.bytes()).sum()
    }
}
