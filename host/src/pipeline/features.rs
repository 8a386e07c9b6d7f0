//! Frozen-feature extraction: for each clip, the feature cache first; the
//! clips it lacks are decoded and run through the backbone in batches, and
//! their features cached. Reading and decoding run on their own thread one
//! batch ahead of the backbone. Gathers features [N, T, N_tok, D] for the
//! readouts.

use crate::backbone::Backbone;
use crate::cache::{FeatureCache, Lookup};
use crate::data::clips;
use crate::runtime::bindings::{InputSpec, SampledClip};
use crate::tensor::DynTensor;
use anyhow::Result;
use burn::tensor::{Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::Path;

/// Clips per backbone forward pass; cluster extraction shards start on a
/// multiple of it, so every clip sees the batch a single run gives it.
pub const BATCH: usize = 16;

/// Features of one split and how they were obtained.
pub struct Extracted {
    /// Features of the kept clips, in order.
    pub features: DynTensor,
    pub computed: usize,
    pub cached: usize,
    /// Indices (into the clips given) of the clips that have features.
    pub kept: Vec<usize>,
    /// Clips skipped as unreadable: (index, why).
    pub skipped: Vec<(usize, String)>,
}

/// Skip clip `i` for `why` if the budget allows, else fail naming it.
fn skip_or_fail(
    skip_left: &mut usize,
    skipped: &mut Vec<(usize, String)>,
    i: usize,
    clip: &SampledClip,
    why: anyhow::Error,
) -> Result<()> {
    if *skip_left == 0 {
        return Err(why.context(format!(
            "clip `{}` (--skip-bad N skips up to N unreadable clips, counted in the results)",
            clip.id
        )));
    }
    *skip_left -= 1;
    skipped.push((i, format!("{why:#}")));
    Ok(())
}

/// One batch made ready for the backbone.
struct Batch {
    clips: usize,
    /// (clip index, features) found in the cache.
    hits: Vec<(usize, Vec<f32>)>,
    /// (clip index, cache key) of the clips to compute, in `frames` order.
    missing: Vec<(usize, Option<String>)>,
    /// Their decoded frames, [missing, T, H, W, 3] flat.
    frames: Vec<f32>,
    /// Clips skipped as unreadable: (index, why).
    skipped: Vec<(usize, String)>,
}

/// Makes batches ready for the backbone: where clips live, how their
/// features are keyed.
struct ClipReader<'a> {
    cache: Option<&'a FeatureCache>,
    describe: &'a serde_json::Value,
    input_key: &'a str,
    per_clip: usize,
    root: &'a Path,
    input: &'a InputSpec,
    /// Draws the frames of clips sampled at random.
    seed: u64,
    bar: &'a ProgressBar,
}

/// What became of one clip.
enum ClipOutcome {
    /// Its features, from the cache.
    Hit(Vec<f32>),
    /// Its frames, and the key to cache its features under.
    Decoded(Option<String>, Vec<f32>),
    Unreadable(anyhow::Error),
}

impl ClipReader<'_> {
    /// Read each clip of `batch` (clip `first` onwards) once: hash it for
    /// the cache key and, on a miss, decode it from the same bytes. With
    /// `every_thread` the clips are read on all of rayon's threads (for the
    /// first batch, which nothing else runs beside: the backbone waits for
    /// it); otherwise one after the other on this one.
    fn prepare(
        &self,
        first: usize,
        batch: &[SampledClip],
        skip_left: &mut usize,
        every_thread: bool,
    ) -> Result<Batch> {
        let mut b = Batch {
            clips: batch.len(),
            hits: vec![],
            missing: vec![],
            frames: vec![],
            skipped: vec![],
        };
        let outcomes: Box<dyn Iterator<Item = ClipOutcome>> = if every_thread {
            let all: Vec<ClipOutcome> = batch.par_iter().map(|c| self.read(c)).collect();
            Box::new(all.into_iter())
        } else {
            Box::new(batch.iter().map(|c| self.read(c)))
        };
        for (j, (clip, outcome)) in batch.iter().zip(outcomes).enumerate() {
            let i = first + j;
            match outcome {
                ClipOutcome::Hit(v) => b.hits.push((i, v)),
                ClipOutcome::Decoded(key, frames) => {
                    b.frames.extend(frames);
                    b.missing.push((i, key));
                }
                ClipOutcome::Unreadable(e) => skip_or_fail(skip_left, &mut b.skipped, i, clip, e)?,
            }
        }
        Ok(b)
    }

    /// One clip's features from the cache, or its frames.
    fn read(&self, clip: &SampledClip) -> ClipOutcome {
        let bytes = match clips::read(self.root, clip, self.input, self.seed) {
            Ok(bytes) => bytes,
            Err(e) => return ClipOutcome::Unreadable(e),
        };
        let mut key = None;
        if let Some(cache) = self.cache {
            let k = cache.key(
                self.describe,
                self.input_key,
                &bytes.picked,
                &bytes.digest(clip),
            );
            match cache.get(&k, self.per_clip) {
                Lookup::Hit(v) => return ClipOutcome::Hit(v),
                Lookup::Corrupt(why) => self.bar.suspend(|| {
                    eprintln!("warning: corrupt feature cache entry recomputed: {why}")
                }),
                Lookup::Miss => {}
            }
            key = Some(k);
        }
        match bytes.decode(clip, self.input) {
            Ok(frames) => ClipOutcome::Decoded(key, frames),
            Err(e) => ClipOutcome::Unreadable(e),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn extract(
    backbone: &dyn Backbone,
    cache: Option<&FeatureCache>,
    root: &Path,
    clips: &[SampledClip],
    input: &InputSpec,
    seed: u64,
    split: &str,
    progress: bool,
    skip_left: &mut usize,
) -> Result<Extracted> {
    let device = backbone.device();
    let (t, h, w) = (
        input.frames as usize,
        input.height as usize,
        input.width as usize,
    );
    let shape = backbone.feature_shape(t, h, w)?;
    let per_clip = shape.time * shape.tokens() * shape.dim;
    let input_key = format!("{t}x{h}x{w}x{}", input.channels);
    let describe = backbone.describe();

    let bar = if progress {
        ProgressBar::new(clips.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} clips {per_sec} ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("extract {split}"));
    let start = std::time::Instant::now();

    let mut out: Vec<Option<Vec<f32>>> = vec![None; clips.len()];
    let (mut computed, mut cached) = (0, 0);
    let mut writable = true;
    let mut skipped = vec![];
    let reader = ClipReader {
        cache,
        describe: &describe,
        input_key: &input_key,
        per_clip,
        root,
        input,
        seed,
        bar: &bar,
    };
    // Reading, hashing and decoding run one batch ahead on their own thread,
    // so the backbone never waits for files (a rendezvous channel: at most
    // one decoded batch waits while another is in the backbone).
    std::thread::scope(|scope| -> Result<()> {
        let (send, batches) = std::sync::mpsc::sync_channel::<Result<Batch>>(0);
        let reader = &reader;
        let skip_left = &mut *skip_left;
        scope.spawn(move || {
            for (b, batch) in clips.chunks(BATCH).enumerate() {
                let prepared = reader.prepare(b * BATCH, batch, skip_left, b == 0);
                let failed = prepared.is_err();
                if send.send(prepared).is_err() || failed {
                    return;
                }
            }
        });
        for batch in batches {
            let batch = batch?;
            skipped.extend(batch.skipped);
            cached += batch.hits.len();
            for (i, v) in batch.hits {
                out[i] = Some(v);
            }
            if !batch.missing.is_empty() {
                let n = batch.missing.len();
                let video =
                    Tensor::<5>::from_data(TensorData::new(batch.frames, [n, t, h, w, 3]), &device);
                let values = backbone
                    .forward(video)?
                    .into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                // Both cores are free until the next batch: each clip's copy
                // and cache entry (checksum, write) are made side by side.
                let cache = cache.filter(|_| writable);
                let done: Vec<(usize, Vec<f32>, Result<()>)> = batch
                    .missing
                    .into_par_iter()
                    .enumerate()
                    .map(|(k, (i, key))| {
                        let v = values[k * per_clip..(k + 1) * per_clip].to_vec();
                        let put = match (cache, key) {
                            (Some(c), Some(key)) => c.put(&key, &v),
                            _ => Ok(()),
                        };
                        (i, v, put)
                    })
                    .collect();
                for (i, v, put) in done {
                    if let (Some(c), Err(e), true) = (cache, put, writable) {
                        // The cache only saves time: a full or read-only disk
                        // must not stop the run. Warn once and go on without it.
                        bar.suspend(|| {
                            eprintln!(
                                "warning: cannot write the feature cache in {} ({e:#}); going on without caching",
                                c.dir().display()
                            )
                        });
                        writable = false;
                    }
                    out[i] = Some(v);
                    computed += 1;
                }
            }
            bar.inc(batch.clips as u64);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    if progress {
        eprintln!(
            "extract {split}: {} clips ({computed} computed, {cached} from the cache) in {:.1} s",
            clips.len(),
            start.elapsed().as_secs_f64()
        );
    }
    let kept: Vec<usize> = (0..clips.len()).filter(|&i| out[i].is_some()).collect();
    let mut flat = Vec::with_capacity(kept.len() * per_clip);
    for v in out.into_iter().flatten() {
        flat.extend_from_slice(&v);
    }
    let all = Tensor::<4>::from_data(
        TensorData::new(flat, [kept.len(), shape.time, shape.tokens(), shape.dim]),
        &crate::tensor::default_device(),
    );
    // Features are constants for the readouts: autodiff-enabled, no grad.
    Ok(Extracted {
        features: DynTensor::from_burn(all),
        computed,
        cached,
        kept,
        skipped,
    })
}
