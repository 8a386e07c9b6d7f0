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
    /// SampledClip the global norm of the update to this, if set.
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

    /// Steps taken and the first and second moments, for checkpoints.
    pub fn state(&self) -> (u64, &[DynTensor], &[DynTensor]) {
        (self.step, &self.m, &self.v)
    }

    /// Continue from a checkpointed state.
    pub fn restore(&mut self, step: u64, m: Vec<DynTensor>, v: Vec<DynTensor>) {
        self.step = step;
        self.m = m;
        self.v = v;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::default_device;

    /// Three AdamW steps against a scalar f64 transcription of optax's
    /// `adamw` (bias-corrected moments, decay scaled by the learning rate).
    #[test]
    fn matches_a_scalar_reference() {
        let dev = default_device();
        let p0 = [0.5f64, -1.0, 2.0];
        let grads = [[0.1f64, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.1, 0.2]];
        let (lr, wd) = (0.01, 0.1);
        let mut opt = AdamW::new(wd, None);
        let mut p =
            DynTensor::from_vec(p0.iter().map(|&x| x as f32).collect(), &[3], &dev).unwrap();
        let (mut m, mut v, mut want) = ([0f64; 3], [0f64; 3], p0);
        for (t, g) in grads.iter().enumerate() {
            let gt =
                DynTensor::from_vec(g.iter().map(|&x| x as f32).collect(), &[3], &dev).unwrap();
            p = opt.step(lr, &[p], &[gt]).remove(0);
            for i in 0..3 {
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                let mhat = m[i] / (1.0 - 0.9f64.powi(t as i32 + 1));
                let vhat = v[i] / (1.0 - 0.999f64.powi(t as i32 + 1));
                want[i] -= lr * (mhat / (vhat.sqrt() + 1e-8) + wd * want[i]);
            }
        }
        for (got, want) in p.to_vec().iter().zip(want) {
            assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn clipping_bounds_the_global_norm_of_the_update() {
        let dev = default_device();
        let p = DynTensor::from_vec(vec![0.0; 4], &[4], &dev).unwrap();
        let g = DynTensor::from_vec(vec![1.0, -1.0, 1.0, -1.0], &[4], &dev).unwrap();
        let mut opt = AdamW::new(0.0, Some(0.1));
        // Unclipped, the first Adam update is lr * sign(g) per element: norm 2 * lr.
        let new = opt.step(1.0, &[p], &[g]).remove(0);
        let norm = new
            .to_vec()
            .iter()
            .map(|x| (*x as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 0.1).abs() < 1e-6, "{norm}");
    }
}
