//! [`Plan`]: the shards of a run, in the order they may run. Extraction
//! shards come first (each fills the feature cache for one clip range of one
//! split), then one training shard per (task, head): it trains the head,
//! scores it and the task's control, and records the result.

use crate::pipeline::features::BATCH;
use crate::pipeline::{Prepared, RunSpec};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One shard's work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "lowercase")]
pub enum Unit {
    /// Features of clips `start..end` of one split, into the cache.
    Extract {
        task: String,
        task_index: usize,
        split: String,
        start: usize,
        end: usize,
    },
    /// Train one head on one task, then evaluate it and the control.
    Train {
        task: String,
        task_index: usize,
        head: String,
        head_index: usize,
    },
}

impl Unit {
    /// A short description: `extract flyvsfly/train clips 0..4096`.
    pub fn describe(&self) -> String {
        match self {
            Unit::Extract {
                task,
                split,
                start,
                end,
                ..
            } => format!("extract {task}/{split} clips {start}..{end}"),
            Unit::Train { task, head, .. } => format!("train {task} with {head}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Identifies the run the plan splits (spec, plugins, data, shard
    /// size): records of another plan are never merged with this one.
    pub id: String,
    /// Clips per extraction shard.
    pub shard_clips: usize,
    pub units: Vec<Unit>,
}

impl Plan {
    /// The shards of `spec`. Indexes every task's splits (cheap: clip
    /// specs only, no frames).
    pub fn build(spec: &RunSpec, prepared: &Prepared) -> Result<Plan> {
        // A multiple of the extraction batch, so batches line up with a
        // single run's and features are bit-identical.
        let shard_clips = spec.shard_clips.max(1).div_ceil(BATCH) * BATCH;
        let mut units = vec![];
        let mut fingerprints = vec![];
        for (t, (task_ref, _)) in prepared.tasks.iter().enumerate() {
            let task = task_ref.name();
            fingerprints.push(prepared.fingerprint(spec, t));
            let sizes = prepared
                .split_sizes(spec, t)
                .with_context(|| format!("indexing task `{task}` for the plan"))?;
            for (split, n) in sizes {
                for start in (0..n).step_by(shard_clips) {
                    units.push(Unit::Extract {
                        task: task.clone(),
                        task_index: t,
                        split: split.clone(),
                        start,
                        end: (start + shard_clips).min(n),
                    });
                }
            }
        }
        for (t, (task_ref, _)) in prepared.tasks.iter().enumerate() {
            for (h, (head, _)) in prepared.heads.iter().enumerate() {
                if !head.applies_to(&task_ref.name()) {
                    continue;
                }
                units.push(Unit::Train {
                    task: task_ref.name(),
                    task_index: t,
                    head: head.label.clone(),
                    head_index: h,
                });
            }
        }
        let id = crate::files::sha256_hex(
            serde_json::json!({"tasks": fingerprints, "units": units, "shard_clips": shard_clips})
                .to_string()
                .as_bytes(),
        );
        Ok(Plan {
            id,
            shard_clips,
            units,
        })
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// How many extraction shards come first.
    pub fn extract_count(&self) -> usize {
        self.units
            .iter()
            .filter(|u| matches!(u, Unit::Extract { .. }))
            .count()
    }

    /// The shard indices of the training stage.
    pub fn train_indices(&self) -> std::ops::Range<usize> {
        self.extract_count()..self.len()
    }

    /// The shards as a Markdown table.
    pub fn table(&self) -> String {
        let mut out = String::from("| shard | stage | work |\n|---:|---|---|\n");
        for (i, u) in self.units.iter().enumerate() {
            let stage = match u {
                Unit::Extract { .. } => "extract",
                Unit::Train { .. } => "train",
            };
            out.push_str(&format!(
                "| {i}/{} | {stage} | {} |\n",
                self.len(),
                u.describe()
            ));
        }
        out
    }

    pub fn path(out: &Path) -> std::path::PathBuf {
        out.join("plan.json")
    }

    pub fn save(&self, out: &Path) -> Result<()> {
        crate::files::write_atomic(
            &Self::path(out),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )
    }

    pub fn load(out: &Path) -> Result<Plan> {
        let path = Self::path(out);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}: is {} the output of a sharded run (`scivid run --shard I/N` writes it)?",
                path.display(),
                out.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("plan {}", path.display()))
    }
}
