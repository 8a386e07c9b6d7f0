//! Frozen-feature extraction: decode clips in batches, run the backbone,
//! gather features [N, T, N_tok, D] for the readouts.

use crate::backbone::Backbone;
use crate::data::clips;
use crate::runtime::bindings::{ClipSpec, InputSpec};
use crate::tensor::DynTensor;
use anyhow::{Context, Result};
use burn::tensor::{Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

const BATCH: usize = 16;

pub fn extract(
    backbone: &dyn Backbone,
    root: &Path,
    clips: &[ClipSpec],
    input: &InputSpec,
    split: &str,
    progress: bool,
) -> Result<DynTensor> {
    let device = Device::flex();
    let (t, h, w) = (
        input.frames as usize,
        input.height as usize,
        input.width as usize,
    );
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
    let mut parts: Vec<Tensor<4>> = vec![];
    for batch in clips.chunks(BATCH) {
        let mut data = Vec::with_capacity(batch.len() * t * h * w * 3);
        for clip in batch {
            data.extend(
                clips::decode(root, clip, input).with_context(|| format!("clip `{}`", clip.id))?,
            );
        }
        let video =
            Tensor::<5>::from_data(TensorData::new(data, [batch.len(), t, h, w, 3]), &device);
        parts.push(backbone.forward(video)?);
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    let all = Tensor::cat(parts, 0);
    // Features are constants for the readouts: autodiff-enabled, no grad.
    Ok(DynTensor::from_burn(all).map(|v| v.autodiff()))
}
