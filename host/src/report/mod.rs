//! Results of a run: the JSON record (with provenance) and the Markdown table
//! people compare. Results are written after every finished task, to a
//! temporary name then renamed, so a crash never loses a finished task and
//! never leaves a half-written file that looks complete.

pub mod breakdown;
pub mod examples;
pub mod html;
pub mod table;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Metric name -> value.
pub type Scores = BTreeMap<String, f64>;

/// A table cell: the value, with its interval when given (`-` when absent).
pub(crate) fn score_cell(v: Option<f64>, ci: Option<&[f64; 2]>) -> String {
    match (v, ci) {
        (Some(v), Some([lo, hi])) => {
            format!("{} [{}, {}]", value(v, 4), value(*lo, 3), value(*hi, 3))
        }
        (Some(v), None) => value(v, 4),
        (None, _) => "-".into(),
    }
}

/// A score with `digits` decimals, or in scientific notation when small
/// (specific humidity errors are ~1e-3).
fn value(v: f64, digits: usize) -> String {
    if v != 0.0 && v.abs() < 1e-2 {
        format!("{v:.digits$e}", digits = digits - 1)
    } else {
        format!("{v:.digits$}")
    }
}

/// A task's columns in tables: the primary metric, then the task's other
/// metrics in its declared order, then any others it reported; breakdowns
/// (`FAMILY/ITEM`) are left to the report's plots and to results.csv.
pub(crate) fn table_metrics(t: &TaskResult) -> Vec<String> {
    let mut metrics: Vec<String> = vec![t.primary_metric.clone()];
    let reported = t
        .control
        .values()
        .chain(t.heads.iter().flat_map(|h| h.scores.values()))
        .flat_map(|s| s.keys());
    for m in t.metrics.iter().chain(reported) {
        if !metrics.contains(m) && !breakdown::is_breakdown(m) {
            metrics.push(m.clone());
        }
    }
    metrics
}

/// One row of a table: readout name, its scores and its interval.
type ScoreRow<'a> = (&'a str, Option<&'a Scores>, Option<&'a [f64; 2]>);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    /// Version of this file's layout (see docs/results-schema.md).
    #[serde(default)]
    pub schema: u32,
    pub scivid_version: String,
    /// The commit scivid was built from, when built from a git checkout.
    #[serde(default)]
    pub git_commit: Option<String>,
    pub sdk_version: String,
    pub wasmtime_version: String,
    pub backbone: serde_json::Value,
    pub seed: u64,
    pub mode: String,
    /// The resolved run spec (loadable with `scivid run --config`).
    #[serde(default)]
    pub spec: serde_json::Value,
    pub tasks: Vec<TaskResult>,
}

/// The current results layout version.
pub const SCHEMA_VERSION: u32 = 1;

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
    /// sha256 over the clip specs of every split (ids, files, frames, targets).
    #[serde(default)]
    pub dataset_fingerprint: String,
    pub primary_metric: String,
    pub higher_is_better: bool,
    /// The task's metrics in its declared order (primary first).
    #[serde(default)]
    pub metrics: Vec<String>,
    pub protocol: serde_json::Value,
    /// None when the task finished; otherwise why it failed.
    pub error: Option<String>,
    /// Training continued from a checkpoint at this step (a resumed run).
    #[serde(default)]
    pub resumed_from_step: Option<u32>,
    /// Clips whose features were computed, and taken from the cache.
    pub features: serde_json::Value,
    /// Evaluated splits, in the task's order.
    pub splits: Vec<String>,
    /// Clips skipped as unreadable (`--skip-bad`): split, clip id, why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedClip>,
    /// Split -> scores of the no-video control.
    pub control: BTreeMap<String, Scores>,
    /// Split -> 95% cluster-bootstrap interval of the control's primary metric.
    #[serde(default)]
    pub control_ci: BTreeMap<String, [f64; 2]>,
    pub heads: Vec<HeadResult>,
    /// A few clips of the last split: target and predictions (added in 0.2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<examples::Examples>,
}

/// A clip left out of a task because it could not be read or decoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkippedClip {
    pub split: String,
    pub clip: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadResult {
    pub head: String,
    pub plugin: String,
    pub sha256: String,
    pub config: BTreeMap<String, String>,
    pub error: Option<String>,
    /// Split -> 95% cluster-bootstrap interval of the primary metric.
    #[serde(default)]
    pub ci: BTreeMap<String, [f64; 2]>,
    pub final_train_loss: Option<f64>,
    /// (step, training loss), sampled to at most ~200 points.
    #[serde(default)]
    pub loss_curve: Vec<(u32, f64)>,
    /// (step, the task's primary metric on the minival set) during training.
    #[serde(default)]
    pub eval_curve: Vec<(u32, f64)>,
    pub steps: u32,
    /// Split -> scores.
    pub scores: BTreeMap<String, Scores>,
}

impl RunResults {
    /// Write results.json, results.csv and results.md into `dir`, each atomically.
    pub fn write_all(&self, dir: &Path) -> anyhow::Result<()> {
        self.write_json(&dir.join("results.json"))?;
        crate::files::write_atomic(&dir.join("results.csv"), self.csv().as_bytes())?;
        let md = format!("{}\n{}", self.header(), self.markdown());
        crate::files::write_atomic(&dir.join("results.md"), md.as_bytes())
    }

    /// One row per (task, split, readout, metric), for spreadsheets and pandas.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "task,split,readout,metric,value,ci_low,ci_high,primary,higher_is_better\n",
        );
        let q = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        for t in self.tasks.iter().filter(|t| t.error.is_none()) {
            for split in &t.splits {
                let mut rows: Vec<ScoreRow> =
                    vec![("control", t.control.get(split), t.control_ci.get(split))];
                for h in t.heads.iter().filter(|h| h.error.is_none()) {
                    rows.push((&h.head, h.scores.get(split), h.ci.get(split)));
                }
                for (name, scores, ci) in rows {
                    for (m, v) in scores.into_iter().flatten() {
                        let primary = *m == t.primary_metric;
                        let (lo, hi) = match ci.filter(|_| primary) {
                            Some([lo, hi]) => (lo.to_string(), hi.to_string()),
                            None => (String::new(), String::new()),
                        };
                        out.push_str(&format!(
                            "{},{},{},{},{v},{lo},{hi},{primary},{}\n",
                            q(&t.task),
                            q(split),
                            q(name),
                            q(m),
                            t.higher_is_better
                        ));
                    }
                }
            }
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        crate::files::write_atomic(path, text.as_bytes())
    }

    /// One table per task: a row per (split, control or head), a column per metric.
    /// One table over all tasks: each task's primary metric on its last
    /// evaluated split, for the control and every head, with its direction.
    pub fn summary(&self) -> String {
        let mut heads: Vec<&str> = vec![];
        for t in &self.tasks {
            for h in &t.heads {
                if !heads.contains(&h.head.as_str()) {
                    heads.push(&h.head);
                }
            }
        }
        let mut out = format!(
            "| task | split | metric | control | {} |\n|---|---|---|---:|{}\n",
            heads.join(" | "),
            "---:|".repeat(heads.len())
        );
        for t in &self.tasks {
            let arrow = if t.higher_is_better { "↑" } else { "↓" };
            let Some(split) = t.splits.last().filter(|_| t.error.is_none()) else {
                out.push_str(&format!(
                    "| {} | - | {} {arrow} | failed |{}\n",
                    t.task,
                    t.primary_metric,
                    " |".repeat(heads.len())
                ));
                continue;
            };
            let m = &t.primary_metric;
            let cells: Vec<String> = heads
                .iter()
                .map(|name| match t.heads.iter().find(|h| h.head == *name) {
                    None => "-".into(),
                    Some(h) if h.error.is_some() => "failed".into(),
                    Some(h) => {
                        score_cell(h.scores.get(split).and_then(|s| s.get(m)).copied(), None)
                    }
                })
                .collect();
            let control = score_cell(t.control.get(split).and_then(|s| s.get(m)).copied(), None);
            out.push_str(&format!(
                "| {} | {split} | {m} {arrow} | {control} | {} |\n",
                t.task,
                cells.join(" | ")
            ));
        }
        out
    }

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
            if !t.skipped.is_empty() {
                let list: Vec<String> = t
                    .skipped
                    .iter()
                    .map(|s| format!("`{}` ({})", s.clip, s.split))
                    .collect();
                out.push_str(&format!(
                    "Skipped {} unreadable clip(s) (--skip-bad; reasons in results.json): {}\n\n",
                    t.skipped.len(),
                    list.join(", ")
                ));
            }
            let metrics = table_metrics(t);
            let names: Vec<String> = metrics
                .iter()
                .map(|m| {
                    if *m == t.primary_metric {
                        let arrow = if t.higher_is_better { "↑" } else { "↓" };
                        format!("{m} {arrow} [95% CI]")
                    } else {
                        m.clone()
                    }
                })
                .collect();
            out.push_str(&format!("| split | readout | {} |\n", names.join(" | ")));
            out.push_str(&format!("|---|---|{}\n", "---:|".repeat(metrics.len())));
            for split in &t.splits {
                let ctrl = &t.control[split];
                let row = |name: &str, s: Option<&Scores>, ci: Option<&[f64; 2]>| {
                    let cells: Vec<String> = metrics
                        .iter()
                        .map(|m| {
                            score_cell(
                                s.and_then(|s| s.get(m)).copied(),
                                ci.filter(|_| *m == t.primary_metric),
                            )
                        })
                        .collect();
                    format!("| {split} | {name} | {} |\n", cells.join(" | "))
                };
                out.push_str(&row("control", Some(ctrl), t.control_ci.get(split)));
                for h in &t.heads {
                    match &h.error {
                        Some(_) => out.push_str(&format!("| {split} | {} | failed |\n", h.head)),
                        None => out.push_str(&row(&h.head, h.scores.get(split), h.ci.get(split))),
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

impl RunResults {
    /// Read `DIR/results.json` (or the file itself).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let file = if path.is_dir() {
            path.join("results.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| anyhow::anyhow!("cannot read results {}: {e}", file.display()))?;
        let r: RunResults = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("results {}: {e}", file.display()))?;
        if r.schema > SCHEMA_VERSION {
            anyhow::bail!(
                "results {} use schema {}, newer than this scivid understands ({SCHEMA_VERSION}); upgrade scivid",
                file.display(),
                r.schema
            );
        }
        Ok(r)
    }

    /// Provenance lines for the top of a report.
    pub fn header(&self) -> String {
        format!(
            "scivid {} ({}), SDK {}, wasmtime {}, backbone {}, seed {}, mode {}\n",
            self.scivid_version,
            self.git_commit
                .as_deref()
                .map(|c| &c[..c.len().min(12)])
                .unwrap_or("commit unknown"),
            self.sdk_version,
            self.wasmtime_version,
            self.backbone["backbone"].as_str().unwrap_or("?"),
            self.seed,
            self.mode
        )
    }
}

/// Side by side: the primary metric of every (task, split, readout) in two
/// runs, then every difference in their specs and plugins.
pub fn compare(a: &RunResults, b: &RunResults) -> String {
    let mut out = String::from(
        "| task | split | readout | metric | A | B | B - A |\n|---|---|---|---|---:|---:|---:|\n",
    );
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
    let mut tasks: Vec<&str> = a
        .tasks
        .iter()
        .chain(&b.tasks)
        .map(|t| t.task.as_str())
        .collect();
    tasks.dedup();
    tasks.sort();
    tasks.dedup();
    for name in tasks {
        let (ta, tb) = (
            a.tasks.iter().find(|t| t.task == name),
            b.tasks.iter().find(|t| t.task == name),
        );
        let metric = ta
            .or(tb)
            .map(|t| t.primary_metric.clone())
            .unwrap_or_default();
        let splits = ta.or(tb).map(|t| t.splits.clone()).unwrap_or_default();
        let mut rows: Vec<String> = vec!["control".into()];
        for t in [ta, tb].into_iter().flatten() {
            for h in &t.heads {
                if !rows.contains(&h.head) {
                    rows.push(h.head.clone());
                }
            }
        }
        for split in &splits {
            for row in &rows {
                let get = |t: Option<&TaskResult>| -> Option<f64> {
                    let t = t?;
                    let scores = if row == "control" {
                        t.control.get(split)?
                    } else {
                        t.heads.iter().find(|h| &h.head == row)?.scores.get(split)?
                    };
                    scores.get(&metric).copied()
                };
                let (va, vb) = (get(ta), get(tb));
                let delta = match (va, vb) {
                    (Some(x), Some(y)) => format!("{:+.4}", y - x),
                    _ => "-".into(),
                };
                out.push_str(&format!(
                    "| {name} | {split} | {row} | {metric} | {} | {} | {delta} |\n",
                    fmt(va),
                    fmt(vb)
                ));
            }
        }
    }
    let mut diffs = vec![];
    diff_json("spec", &a.spec, &b.spec, &mut diffs);
    diff_json("backbone", &a.backbone, &b.backbone, &mut diffs);
    for (what, x, y) in [
        ("scivid_version", &a.scivid_version, &b.scivid_version),
        ("sdk_version", &a.sdk_version, &b.sdk_version),
    ] {
        if x != y {
            diffs.push(format!("{what}: {x} -> {y}"));
        }
    }
    for ta in &a.tasks {
        if let Some(tb) = b.tasks.iter().find(|t| t.task == ta.task) {
            if ta.sha256 != tb.sha256 {
                diffs.push(format!(
                    "task {} plugin sha256: {} -> {}",
                    ta.task,
                    &ta.sha256[..12],
                    &tb.sha256[..12]
                ));
            }
            if ta.dataset_fingerprint != tb.dataset_fingerprint {
                diffs.push(format!(
                    "task {}: the datasets differ (fingerprints)",
                    ta.task
                ));
            }
        }
    }
    out.push('\n');
    if diffs.is_empty() {
        out.push_str("The runs have the same spec, plugins and data.\n");
    } else {
        out.push_str("Differences:\n");
        for d in diffs {
            out.push_str(&format!("- {d}\n"));
        }
    }
    out
}

/// Every leaf where two JSON values differ, as `path: a -> b`.
fn diff_json(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff_json(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff_json(&format!("{path}[{i}]"), p, q, out);
            }
        }
        (x, y) if x != y => out.push(format!("{path}: {x} -> {y}")),
        _ => {}
    }
}
