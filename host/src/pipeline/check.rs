//! `scivid data check TASK DIR`: validate a dataset directory against a task
//! without training anything. Index every split through the task plugin
//! (its own checks: files present, labels known), check every clip's target
//! and extras, and decode a few clips per split through the same readers a
//! run uses, reporting counts and value ranges. The first problem is an
//! error naming the split, clip and file.

use super::PluginRef;
use super::inputs::Inputs;
use crate::data::clips;
use crate::runtime::{Budgets, PluginKind, Runtime};
use crate::tensor::DynTensor;
use anyhow::{Context, Result, bail};
use std::path::Path;

/// The seed `data check` draws randomly sampled frames with (a run's
/// default seed, so the check shows what such a run reads).
const CHECK_SEED: u64 = 0;

/// What one split holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitCheck {
    pub split: String,
    pub clips: usize,
    pub groups: usize,
    pub extras: Vec<String>,
    pub decoded: usize,
    /// (min, max) over the decoded frames, after the task's value mapping.
    pub value_range: (f32, f32),
}

pub fn check_dataset(
    rt: &Runtime,
    task: &PluginRef,
    dir: &Path,
    samples: usize,
) -> Result<Vec<SplitCheck>> {
    if !dir.is_dir() {
        bail!("dataset directory {} does not exist", dir.display());
    }
    let c = task.load(rt)?;
    if c.kind != PluginKind::Task {
        bail!("{} is a {} plugin, not a task", c.origin, c.kind);
    }
    let mut t = rt.instantiate_task(&c, Some(dir), 0, &Budgets::default())?;
    let input = t.info.input;
    let mut out = vec![];
    for split in t.splits()? {
        let list = t
            .index(&split)
            .with_context(|| format!("split `{split}`"))?;
        if list.is_empty() {
            bail!("split `{split}`: no clips");
        }
        let features = DynTensor::from_vec(
            vec![0.0; list.len()],
            &[list.len(), 1],
            &crate::tensor::default_device(),
        )?;
        let inputs = Inputs::new(features, &list).with_context(|| format!("split `{split}`"))?;
        let mut groups: Vec<&str> = list.iter().map(|c| c.group.as_str()).collect();
        groups.sort_unstable();
        groups.dedup();
        // Spread the decoded samples over the split.
        let step = (list.len() / samples.max(1)).max(1);
        let (mut lo, mut hi, mut decoded) = (f32::INFINITY, f32::NEG_INFINITY, 0);
        for clip in list.iter().step_by(step).take(samples) {
            let frames = clips::decode(dir, clip, &input, CHECK_SEED)
                .with_context(|| format!("split `{split}`, clip `{}`", clip.id))?;
            for v in frames {
                if !v.is_finite() {
                    bail!(
                        "split `{split}`, clip `{}`: a decoded value is not finite",
                        clip.id
                    );
                }
                lo = lo.min(v);
                hi = hi.max(v);
            }
            decoded += 1;
        }
        out.push(SplitCheck {
            split,
            clips: list.len(),
            groups: groups.len(),
            extras: inputs.extras.iter().map(|(n, _)| n.clone()).collect(),
            decoded,
            value_range: (lo, hi),
        });
    }
    Ok(out)
}
