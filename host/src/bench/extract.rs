//! `scivid bench extract`: the extraction pipeline as runs use it (read PNG
//! frames, decode, resize, backbone forward, feature cache write) against
//! the backbone's pure forward pass on the same clips in the same batches,
//! as a ratio: decoding runs one batch ahead on its own thread, so the
//! pipeline should approach the forward pass alone. Decoding alone is timed
//! too, to tell which of the two bounds the pipeline.

use crate::backbone::{self, BackboneSpec};
use crate::cache::FeatureCache;
use crate::pipeline::features::{self, BATCH};
use crate::runtime::bindings::{ClipTarget, FrameSampling, InputSpec, MediaSource, SampledClip};
use anyhow::{Context, Result};
use burn::tensor::{Distribution, Tensor};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to measure (the flags of `scivid bench extract`).
#[derive(Debug, Clone, clap::Args)]
pub struct ExtractBench {
    /// A name from `scivid backbones list`.
    #[arg(long, default_value = "videomae-s")]
    pub model: String,
    /// Clips per repetition (batches of 16 go through the backbone).
    #[arg(long, default_value_t = 32)]
    pub clips: usize,
    #[arg(long, default_value_t = 16)]
    pub frames: usize,
    /// Side of the backbone's input.
    #[arg(long, default_value_t = 224)]
    pub size: usize,
    /// Side of the stored PNG frames (resized to --size on the way in).
    #[arg(long, default_value_t = 256)]
    pub stored: usize,
    /// Timed repetitions (the median of each figure is reported).
    #[arg(long, default_value_t = 1)]
    pub reps: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExtractResult {
    pub model: String,
    pub clips: usize,
    pub forward_clips_per_s: f64,
    pub decode_clips_per_s: f64,
    pub pipeline_clips_per_s: f64,
    /// Pipeline throughput over the pure forward's, the median over
    /// repetitions (issue 7 asks >= 0.9).
    pub pipeline_over_forward: f64,
    pub peak_rss_mib: f64,
}

/// A folder removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn extract(b: &ExtractBench) -> Result<ExtractResult> {
    let model = backbone::build(&BackboneSpec {
        name: b.model.clone(),
        weights: None,
        depth_fraction: backbone::DEFAULT_DEPTH_FRACTION,
        layer: None,
        random_weights: true,
        library: None,
        device: Default::default(),
    })?;
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "scivid-bench-extract-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    )));
    let clips = write_clips(&scratch.0, b)?;
    let input = InputSpec {
        frames: b.frames as u32,
        height: b.size as u32,
        width: b.size as u32,
        channels: 3,
    };
    // The forward pass alone: the same batch sizes, inputs made beforehand.
    let batches: Vec<Tensor<5>> = clips
        .chunks(BATCH)
        .map(|batch| {
            Tensor::<5>::random(
                [batch.len(), b.frames, b.size, b.size, 3],
                Distribution::Uniform(0.0, 1.0),
                &model.device(),
            )
        })
        .collect();
    let _ = model.forward(batches[0].clone().slice(0..1))?.into_data();
    let forward_alone = || -> Result<f64> {
        let start = Instant::now();
        for batch in &batches {
            let _ = model.forward(batch.clone())?.into_data();
        }
        Ok(start.elapsed().as_secs_f64())
    };
    let through_pipeline = |rep: usize| -> Result<f64> {
        // A fresh cache each time: every clip is computed and written.
        let cache = FeatureCache::new(scratch.0.join(format!("cache-{rep}")));
        let start = Instant::now();
        let got = features::extract(
            model.as_ref(),
            Some(&cache),
            &scratch.0,
            &clips,
            &input,
            0,
            "bench",
            false,
            &mut 0,
        )?;
        anyhow::ensure!(got.computed == clips.len(), "every clip is computed");
        Ok(start.elapsed().as_secs_f64())
    };
    let reps = b.reps.max(1);
    let mut decode = vec![];
    for _ in 0..reps {
        let start = Instant::now();
        for clip in &clips {
            crate::data::clips::decode(&scratch.0, clip, &input, 0)?;
        }
        decode.push(start.elapsed().as_secs_f64());
    }
    let mut rep = 0;
    let (forward, pipeline): (Vec<f64>, Vec<f64>) = super::in_turn(reps, forward_alone, || {
        rep += 1;
        through_pipeline(rep)
    })?
    .into_iter()
    .unzip();
    let pairs: Vec<f64> = forward.iter().zip(&pipeline).map(|(f, p)| f / p).collect();
    let rate = |times: Vec<f64>| clips.len() as f64 / super::median(&times);
    let pipeline_over_forward = super::median(&pairs);
    let (forward, decode, pipeline) = (rate(forward), rate(decode), rate(pipeline));
    Ok(ExtractResult {
        model: b.model.clone(),
        clips: clips.len(),
        forward_clips_per_s: forward,
        decode_clips_per_s: decode,
        pipeline_clips_per_s: pipeline,
        pipeline_over_forward,
        peak_rss_mib: super::peak_rss_mib().unwrap_or(f64::NAN),
    })
}

/// `b.clips` clips of `b.frames` PNG frames each (smooth colour fields with
/// noise, so that they compress and decode like camera frames).
fn write_clips(dir: &Path, b: &ExtractBench) -> Result<Vec<SampledClip>> {
    let mut clips = vec![];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 59) as u8
    };
    for c in 0..b.clips {
        let mut files = vec![];
        for k in 0..b.frames {
            let rel = format!("clip_{c:04}/frame_{k:02}.png");
            let path = dir.join(&rel);
            std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
            let img = image::RgbImage::from_fn(b.stored as u32, b.stored as u32, |x, y| {
                let v = |s: u32| ((x * s + y * (7 - s) + (c * 13 + k * 5) as u32) % 256) as u8;
                image::Rgb([
                    v(1).wrapping_add(noise()),
                    v(3).wrapping_add(noise()),
                    v(5).wrapping_add(noise()),
                ])
            });
            img.save(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            files.push(rel);
        }
        clips.push(SampledClip {
            id: format!("clip_{c:04}"),
            source: MediaSource::ImageFiles(files),
            sampling: FrameSampling::Indices((0..b.frames as u32).collect()),
            target: ClipTarget::Values(vec![]),
            group: format!("clip_{c:04}"),
            extras: vec![],
        });
    }
    Ok(clips)
}
