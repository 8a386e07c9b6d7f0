//! `online` mode: features recomputed for every training batch, as SciVid
//! trains (its backbone sees augmented clips each step). Each step draws,
//! per clip, a new random frame window (for clips sampled at random) and
//! new augmentation parameters, both from (run seed, step, clip), so a run
//! and its resumption see the same batches. Evaluation splits keep the
//! frozen, unaugmented features of `cached` mode.

use crate::backbone::Backbone;
use crate::data::augment::{self, Dims};
use crate::data::clips;
use crate::runtime::bindings::{Augmentation, InputSpec, SampledClip};
use crate::tensor::DynTensor;
use anyhow::{Context, Result};
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use sha2::{Digest, Sha256};
use std::path::Path;

/// What recomputes a training batch's features.
pub struct OnlineFeatures<'a> {
    pub backbone: &'a dyn Backbone,
    pub clips: TrainingClips<'a>,
}

/// The training clips and how each step draws and augments them.
pub struct TrainingClips<'a> {
    /// The dataset directory.
    pub root: &'a Path,
    /// The training split's clips, aligned with its feature rows.
    pub clips: &'a [SampledClip],
    pub input: InputSpec,
    pub augmentations: Vec<Augmentation>,
    pub seed: u64,
}

impl OnlineFeatures<'_> {
    /// Features [rows, T, N, D] of clips `rows` for training step `step`.
    /// Clips are decoded and augmented on every core, then the backbone
    /// runs on the batch.
    pub fn features(&self, rows: &[usize], step: u32) -> Result<DynTensor> {
        let training = &self.clips;
        let (t, h, w) = (
            training.input.frames as usize,
            training.input.height as usize,
            training.input.width as usize,
        );
        let dims = Dims { t, h, w };
        let step_seed = training.seed ^ (u64::from(step) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = rows.len().div_ceil(threads).max(1);
        let parts: Vec<Result<Vec<f32>>> = std::thread::scope(|s| {
            let workers: Vec<_> = rows
                .chunks(per)
                .map(|chunk| {
                    s.spawn(move || -> Result<Vec<f32>> {
                        let mut out = Vec::with_capacity(chunk.len() * t * h * w * 3);
                        for &row in chunk {
                            out.extend(training.clip(row, step, step_seed, dims)?);
                        }
                        Ok(out)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|wk| {
                    wk.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a clip decoding thread panicked")))
                })
                .collect()
        });
        let mut frames = Vec::with_capacity(rows.len() * t * h * w * 3);
        for part in parts {
            frames.extend(part?);
        }
        let video = Tensor::<5>::from_data(
            TensorData::new(frames, [rows.len(), t, h, w, 3]),
            &self.backbone.device(),
        );
        let features = self.backbone.forward(video)?;
        // Constants for the readouts, on the readouts' device.
        let data = features.into_data();
        Ok(DynTensor::from_burn(Tensor::<4>::from_data(
            data,
            &crate::tensor::default_device(),
        )))
    }
}

impl TrainingClips<'_> {
    /// One clip's frames for step `step`: its sampling drawn from the
    /// step's seed, decoded, augmented.
    fn clip(&self, row: usize, step: u32, step_seed: u64, dims: Dims) -> Result<Vec<f32>> {
        let clip = &self.clips[row];
        let mut frames = clips::decode(self.root, clip, &self.input, step_seed)
            .with_context(|| format!("online features of clip `{}` at step {step}", clip.id))?;
        let digest = Sha256::digest(format!("{step_seed}\0{}", clip.id).as_bytes());
        let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from_le_bytes(
            digest[..8].try_into().expect("8 bytes"),
        ));
        let drawn = augment::draw(&self.augmentations, dims, &mut rng);
        augment::apply(&mut frames, dims, &drawn);
        Ok(frames)
    }
}
