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
    let device = model.device();
    let video = || {
        Tensor::<5>::random(
            [b.batch, b.frames, b.size, b.size, 3],
            Distribution::Uniform(0.0, 1.0),
            &device,
        )
    };
    for _ in 0..b.warmup {
        let _ = model.forward(video())?.into_data();
    }
    let mut times = vec![];
    for _ in 0..b.reps.max(1) {
        let v = video();
        let start = std::time::Instant::now();
        // Reading the data back waits for the computation to finish.
        let _ = model.forward(v)?.into_data();
        times.push(start.elapsed().as_secs_f64());
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let clips_per_s = b.batch as f64 / median;
    let gflop = model.flops(b.frames, b.size, b.size) / 1e9;
    Ok(BenchResult {
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
    })
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
