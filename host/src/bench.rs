//! `scivid bench backbone`: forward throughput of a backbone on random
//! clips, for comparison with the peer benchmarks (shared/reference-bench)
//! run side by side in the same session, as a ratio. Reports clips/s (the
//! median repetition), achieved GFLOP/s from the analytic FLOP count, and
//! the process's peak resident memory. `scivid bench readout` is in
//! [`readout`], `scivid bench extract` (the extraction pipeline against the
//! forward pass) in [`extract`], `scivid bench all` (every figure, with the
//! peers) in [`all`].

pub mod all;
pub mod extract;
pub mod peer;
pub mod readout;

use crate::backbone::{self, BackboneSpec};
use anyhow::Result;
use burn::tensor::{Distribution, Tensor};
use std::path::PathBuf;

/// What to measure (also the flags of `scivid bench backbone`).
#[derive(Debug, Clone, clap::Args)]
pub struct BackboneBench {
    /// A name from `scivid backbones list`.
    #[arg(long)]
    pub model: String,
    /// A checkpoint (random weights otherwise: speed does not depend on them).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    pub frames: usize,
    #[arg(long, default_value_t = 224)]
    pub size: usize,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// cpu, cuda, cuda:N or wgpu (GPUs need a build with their feature).
    #[arg(long, default_value = "cpu")]
    pub device: crate::device::ComputeDevice,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    pub runtime: &'static str,
    pub model: String,
    pub batch: usize,
    pub frames: usize,
    pub size: usize,
    pub clips_per_s: f64,
    pub gflop_per_clip: f64,
    pub gflop_per_s: f64,
    pub rep_seconds: Vec<f64>,
    pub peak_rss_mib: f64,
}

pub fn backbone(b: &BackboneBench) -> Result<BenchResult> {
    let timer = ForwardTimer::new(b)?;
    let times = (0..b.reps.max(1))
        .map(|_| timer.rep())
        .collect::<Result<Vec<_>>>()?;
    Ok(timer.result(times))
}

/// A backbone built and warmed up, timed one forward pass at a time
/// (`scivid bench all` alternates these with a peer's).
pub struct ForwardTimer {
    bench: BackboneBench,
    model: Box<dyn backbone::Backbone>,
}

impl ForwardTimer {
    pub fn new(b: &BackboneBench) -> Result<Self> {
        let model = backbone::build(&BackboneSpec {
            name: b.model.clone(),
            weights: b.weights.clone(),
            depth_fraction: backbone::DEFAULT_DEPTH_FRACTION,
            // The whole encoder, as the peers run it.
            layer: Some(backbone::depth_of(&b.model)?),
            random_weights: true,
            library: None,
            device: b.device,
        })?;
        let timer = ForwardTimer {
            bench: b.clone(),
            model,
        };
        for _ in 0..b.warmup {
            let _ = timer.model.forward(timer.video())?.into_data();
        }
        Ok(timer)
    }

    fn video(&self) -> Tensor<5> {
        let b = &self.bench;
        Tensor::<5>::random(
            [b.batch, b.frames, b.size, b.size, 3],
            Distribution::Uniform(0.0, 1.0),
            &self.model.device(),
        )
    }

    /// Seconds one forward pass took (drawing its clip is not timed).
    pub fn rep(&self) -> Result<f64> {
        let v = self.video();
        let start = std::time::Instant::now();
        // Reading the data back waits for the computation to finish.
        let _ = self.model.forward(v)?.into_data();
        Ok(start.elapsed().as_secs_f64())
    }

    /// The figures from these repetitions' times (the median's).
    pub fn result(&self, times: Vec<f64>) -> BenchResult {
        let b = &self.bench;
        let clips_per_s = b.batch as f64 / median(&times);
        let gflop = self.model.flops(b.frames, b.size, b.size) / 1e9;
        BenchResult {
            runtime: "scivid",
            model: b.model.clone(),
            batch: b.batch,
            frames: b.frames,
            size: b.size,
            clips_per_s,
            gflop_per_clip: gflop,
            gflop_per_s: gflop * clips_per_s,
            rep_seconds: times,
            peak_rss_mib: peak_rss_mib().unwrap_or(f64::NAN),
        }
    }
}

/// `pairs` pairs of timings (a, b) taken in turn, the first of each pair
/// alternating (a b, b a, a b, ...): a slow spell of a shared machine falls
/// on both sides, and neither always runs just after the other.
pub fn in_turn(
    pairs: usize,
    mut a: impl FnMut() -> Result<f64>,
    mut b: impl FnMut() -> Result<f64>,
) -> Result<Vec<(f64, f64)>> {
    (0..pairs)
        .map(|i| {
            if i % 2 == 0 {
                let ta = a()?;
                Ok((ta, b()?))
            } else {
                let tb = b()?;
                Ok((a()?, tb))
            }
        })
        .collect()
}

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Peak resident set size of this process (Linux `VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::in_turn;

    #[test]
    fn pairs_in_turn_alternate_which_runs_first() {
        let order = std::cell::RefCell::new(String::new());
        let step = |name: char, seconds: f64| {
            let order = &order;
            move || {
                order.borrow_mut().push(name);
                Ok(seconds)
            }
        };
        let pairs = in_turn(3, step('a', 1.0), step('b', 2.0)).unwrap();
        assert_eq!(order.into_inner(), "abbaab");
        assert_eq!(pairs, vec![(1.0, 2.0); 3]);
    }
}
