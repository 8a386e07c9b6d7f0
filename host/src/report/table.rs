//! `scivid results table DIR...`: many runs side by side, the view a sweep
//! needs: per task, one row per run (backbone and seed) with the control and
//! every head's primary metric on the last split and its interval, then per
//! backbone run with several seeds, the mean and standard deviation over
//! them.

use super::{RunResults, score_cell};
use std::collections::BTreeMap;

/// A run and the name it goes by in the table.
pub struct Labelled {
    pub label: String,
    pub results: RunResults,
}

impl Labelled {
    /// The name the run asked for (`pixel8`), else the backbone's family.
    fn backbone(&self) -> String {
        self.results.spec["backbone"]
            .as_str()
            .or(self.results.backbone["backbone"].as_str())
            .unwrap_or("?")
            .to_string()
    }
}

/// The Markdown tables, one per task (tasks in first-seen order).
pub fn table(runs: &[Labelled]) -> String {
    let mut tasks: Vec<&str> = vec![];
    for r in runs {
        for t in &r.results.tasks {
            if !tasks.contains(&t.task.as_str()) {
                tasks.push(&t.task);
            }
        }
    }
    let mut out = String::new();
    for task in tasks {
        let entries: Vec<(&Labelled, &super::TaskResult)> = runs
            .iter()
            .filter_map(|r| Some((r, r.results.tasks.iter().find(|t| t.task == task)?)))
            .collect();
        let Some((_, first)) = entries.iter().find(|(_, t)| t.error.is_none()) else {
            out.push_str(&format!("## {task}\n\nfailed in every run\n\n"));
            continue;
        };
        let metric = first.primary_metric.clone();
        let arrow = if first.higher_is_better { "↑" } else { "↓" };
        let split = first.splits.last().cloned().unwrap_or_default();
        let mut heads: Vec<&str> = vec![];
        for (_, t) in &entries {
            for h in &t.heads {
                if !heads.contains(&h.head.as_str()) {
                    heads.push(&h.head);
                }
            }
        }
        out.push_str(&format!(
            "## {task}: {metric} {arrow} on `{split}`\n\n| run | backbone | seed | control | {} |\n|---|---|---:|---:|{}\n",
            heads.join(" | "),
            "---:|".repeat(heads.len())
        ));
        // Per backbone, per column: the values over its runs (seeds).
        let mut by_backbone: BTreeMap<String, Vec<Vec<Option<f64>>>> = BTreeMap::new();
        for (run, t) in &entries {
            let mut values = vec![];
            let mut cells = vec![];
            if t.error.is_some() {
                cells.push("failed".to_string());
                cells.extend(heads.iter().map(|_| "-".to_string()));
                values.extend((0..=heads.len()).map(|_| None));
            } else {
                let control = t.control.get(&split).and_then(|s| s.get(&metric)).copied();
                cells.push(score_cell(control, t.control_ci.get(&split)));
                values.push(control);
                for name in &heads {
                    match t.heads.iter().find(|h| h.head == *name) {
                        Some(h) if h.error.is_none() => {
                            let v = h.scores.get(&split).and_then(|s| s.get(&metric)).copied();
                            cells.push(score_cell(v, h.ci.get(&split)));
                            values.push(v);
                        }
                        Some(_) => {
                            cells.push("failed".into());
                            values.push(None);
                        }
                        None => {
                            cells.push("-".into());
                            values.push(None);
                        }
                    }
                }
            }
            by_backbone.entry(run.backbone()).or_default().push(values);
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                run.label,
                run.backbone(),
                run.results.seed,
                cells.join(" | ")
            ));
        }
        for (backbone, rows) in &by_backbone {
            if rows.len() < 2 {
                continue;
            }
            let cells: Vec<String> = (0..=heads.len())
                .map(|c| {
                    let v: Vec<f64> = rows.iter().filter_map(|r| r[c]).collect();
                    mean_sd(&v)
                })
                .collect();
            out.push_str(&format!(
                "| **mean ± sd** | {backbone} | {} seeds | {} |\n",
                rows.len(),
                cells.join(" | ")
            ));
        }
        out.push('\n');
    }
    out
}

/// `mean ± sd` (sample standard deviation) of `v`, or `-` if empty.
fn mean_sd(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    format!(
        "{} ± {}",
        score_cell(Some(mean), None),
        score_cell(Some(sd), None)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn mean_and_sample_sd() {
        assert_eq!(super::mean_sd(&[]), "-");
        // mean 0.5, sample sd sqrt(((0.1)^2 + (0.1)^2) / 1) = 0.1414
        assert_eq!(super::mean_sd(&[0.4, 0.6]), "0.5000 ± 0.1414");
    }
}
