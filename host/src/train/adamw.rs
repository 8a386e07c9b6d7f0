//! AdamW with decoupled weight decay (optax `adamw`: the decay is scaled by
//! the learning rate), optionally followed by global-norm clipping of the
//! resulting update, which is where SciVid applies it.

use crate::tensor::DynTensor;

#[derive(Debug, Clone)]
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Clip the global norm of the update to this, if set.
    pub clip_update_norm: Option<f64>,
    step: u64,
    m: Vec<DynTensor>,
    v: Vec<DynTensor>,
}

impl AdamW {
    pub fn new(weight_decay: f64, clip_update_norm: Option<f64>) -> Self {
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            clip_update_norm,
            step: 0,
            m: vec![],
            v: vec![],
        }
    }

    /// New parameter values (autodiff leaves again) from values and grads.
    pub fn step(&mut self, lr: f64, params: &[DynTensor], grads: &[DynTensor]) -> Vec<DynTensor> {
        assert_eq!(params.len(), grads.len());
        if self.m.is_empty() {
            self.m = params
                .iter()
                .map(|p| p.inner().map(|t| t.zeros_like()))
                .collect();
            self.v = self.m.clone();
        }
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.step as i32);
        let c2 = 1.0 - b2.powi(self.step as i32);
        let mut updates = Vec::with_capacity(params.len());
        for i in 0..params.len() {
            let g = grads[i].inner();
            let m = self.m[i]
                .map(|m| m.mul_scalar(b1))
                .add_native(&g.map(|g| g.mul_scalar(1.0 - b1)));
            let v = self.v[i]
                .map(|v| v.mul_scalar(b2))
                .add_native(&g.map(|g| g.square().mul_scalar(1.0 - b2)));
            let p = params[i].inner();
            let adam = m
                .map(|m| m.div_scalar(c1))
                .div_native(&v.map(|v| v.div_scalar(c2).sqrt().add_scalar(self.eps)));
            let u = adam
                .add_native(&p.map(|p| p.mul_scalar(self.weight_decay)))
                .map(|u| u.mul_scalar(-lr));
            self.m[i] = m;
            self.v[i] = v;
            updates.push(u);
        }
        if let Some(max) = self.clip_update_norm {
            let norm = updates.iter().map(|u| u.sum_squares()).sum::<f64>().sqrt();
            if norm > max {
                let scale = max / norm;
                updates = updates
                    .iter()
                    .map(|u| u.map(|t| t.mul_scalar(scale)))
                    .collect();
            }
        }
        params
            .iter()
            .zip(updates)
            .map(|(p, u)| p.inner().add_native(&u).require_grad_leaf())
            .collect()
    }
}
