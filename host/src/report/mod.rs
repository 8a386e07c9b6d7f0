//! Results of a run: the JSON record (with provenance) and the Markdown table
//! people compare. Results are written after every finished task, to a
//! temporary name then renamed, so a crash never loses a finished task and
//! never leaves a half-written file that looks complete.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Metric name -> value.
pub type Scores = BTreeMap<String, f64>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    pub scivid_version: String,
    pub sdk_version: String,
    pub wasmtime_version: String,
    pub backbone: serde_json::Value,
    pub seed: u64,
    pub mode: String,
    pub tasks: Vec<TaskResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResult {
    pub task: String,
    /// Hash of everything that determines this result (plugins, data,
    /// backbone, heads, protocol, seed): a re-run with the same fingerprint
    /// reuses a finished result instead of recomputing it.
    #[serde(default)]
    pub fingerprint: String,
    pub plugin: String,
    pub version: String,
    pub sha256: String,
    pub dataset: String,
    pub primary_metric: String,
    pub higher_is_better: bool,
    pub protocol: serde_json::Value,
    /// None when the task finished; otherwise why it failed.
    pub error: Option<String>,
    /// Clips whose features were computed, and taken from the cache.
    pub features: serde_json::Value,
    /// Evaluated splits, in the task's order.
    pub splits: Vec<String>,
    /// Split -> scores of the no-video control.
    pub control: BTreeMap<String, Scores>,
    pub heads: Vec<HeadResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadResult {
    pub head: String,
    pub plugin: String,
    pub sha256: String,
    pub config: BTreeMap<String, String>,
    pub error: Option<String>,
    pub final_train_loss: Option<f64>,
    pub steps: u32,
    /// Split -> scores.
    pub scores: BTreeMap<String, Scores>,
}

impl RunResults {
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        crate::runtime::compile_cache::write_atomic(path, text.as_bytes())
    }

    /// One table per task: a row per (split, control or head), a column per metric.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for t in &self.tasks {
            out.push_str(&format!(
                "## {} (backbone {}, primary metric {})\n\n",
                t.task,
                self.backbone["backbone"].as_str().unwrap_or("?"),
                t.primary_metric
            ));
            if let Some(e) = &t.error {
                out.push_str(&format!("FAILED: {e}\n\n"));
                continue;
            }
            let mut metrics: Vec<String> = vec![t.primary_metric.clone()];
            for s in t
                .control
                .values()
                .chain(t.heads.iter().flat_map(|h| h.scores.values()))
            {
                for k in s.keys() {
                    if !metrics.contains(k) {
                        metrics.push(k.clone());
                    }
                }
            }
            out.push_str(&format!("| split | readout | {} |\n", metrics.join(" | ")));
            out.push_str(&format!("|---|---|{}\n", "---:|".repeat(metrics.len())));
            for split in &t.splits {
                let ctrl = &t.control[split];
                let row = |name: &str, s: Option<&Scores>| {
                    let cells: Vec<String> = metrics
                        .iter()
                        .map(|m| {
                            s.and_then(|s| s.get(m))
                                .map(|v| format!("{v:.4}"))
                                .unwrap_or_else(|| "-".into())
                        })
                        .collect();
                    format!("| {split} | {name} | {} |\n", cells.join(" | "))
                };
                out.push_str(&row("control", Some(ctrl)));
                for h in &t.heads {
                    match &h.error {
                        Some(_) => out.push_str(&format!("| {split} | {} | failed |\n", h.head)),
                        None => out.push_str(&row(&h.head, h.scores.get(split))),
                    }
                }
            }
            for h in t.heads.iter().filter(|h| h.error.is_some()) {
                out.push_str(&format!(
                    "\nhead `{}` failed: {}\n",
                    h.head,
                    h.error.as_deref().unwrap_or("")
                ));
            }
            out.push('\n');
        }
        out
    }
}
