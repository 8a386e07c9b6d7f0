//! Linear warmup from 0 to the peak, then cosine decay to a final value,
//! as optax's `warmup_cosine_decay_schedule` (SciVid's schedule).

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupCosine {
    pub peak: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub end: f64,
}

impl WarmupCosine {
    /// Learning rate used at `step` (0-based).
    pub fn at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps as f64;
        }
        let decay = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay as f64).min(1.0);
        self.end + (self.peak - self.end) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_optax_shape() {
        let s = WarmupCosine {
            peak: 3e-4,
            warmup_steps: 1000,
            total_steps: 40_000,
            end: 1e-7,
        };
        assert_eq!(s.at(0), 0.0);
        assert!((s.at(500) - 1.5e-4).abs() < 1e-12);
        assert!((s.at(1000) - 3e-4).abs() < 1e-12);
        let mid = s.at(1000 + 19_500);
        assert!((mid - (1e-7 + (3e-4 - 1e-7) * 0.5)).abs() < 1e-12);
        assert!((s.at(40_000) - 1e-7).abs() < 1e-15);
    }
}
