//! `scivid merge DIR`: the shard records of a sharded run gathered into the
//! results a single-process run writes (`results.json`, `.csv`, `.md`): tasks
//! in the spec's order, each task's heads in the spec's order. Every
//! training shard must be there; a missing one is named with the command
//! that runs it.

use super::plan::{Plan, Unit};
use super::shard::ShardRecord;
use crate::report::{RunResults, TaskResult};
use anyhow::{Context, Result, bail};
use std::path::Path;

/// Merge the records in `dir` and write the results there.
pub fn merge(dir: &Path) -> Result<RunResults> {
    let plan = Plan::load(dir)?;
    let mut missing = vec![];
    let mut records = vec![];
    let mut counts = vec![(0usize, 0usize); plan.len()];
    for (i, unit) in plan.units.iter().enumerate() {
        let path = ShardRecord::path(dir, i, plan.len());
        match ShardRecord::load(&path)? {
            Some(r) if r.plan == plan.id => {
                counts[i] = (r.computed, r.cached);
                if matches!(unit, Unit::Train { .. }) {
                    records.push(r);
                }
            }
            Some(_) => bail!(
                "{} belongs to another plan than {} (the spec changed): run that shard again",
                path.display(),
                Plan::path(dir).display()
            ),
            // Extraction only fills the cache: training recomputes what it lacks.
            None if matches!(unit, Unit::Extract { .. }) => {}
            None => missing.push(format!("{i}/{} ({})", plan.len(), unit.describe())),
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} training shard(s) have no record in {}: {}; run each with `scivid run --config SPEC --shard I/N`",
            missing.len(),
            dir.join("shards").display(),
            missing.join(", ")
        );
    }
    let mut merged: Option<RunResults> = None;
    let mut by_task: Vec<(usize, TaskResult)> = vec![];
    for r in records {
        let Unit::Train { task_index, .. } = r.unit else {
            unreachable!("only training records are kept")
        };
        let mut results = r
            .results
            .with_context(|| format!("training shard {} has no results", r.index))?;
        let task = results
            .tasks
            .pop()
            .with_context(|| format!("training shard {} has no task result", r.index))?;
        match by_task.iter_mut().find(|(t, _)| *t == task_index) {
            None => by_task.push((task_index, task)),
            Some((_, into)) => join_heads(into, task)?,
        }
        if merged.is_none() {
            merged = Some(results);
        }
    }
    let mut merged = merged.context("the plan has no training shards")?;
    for (t, mut task) in by_task {
        // What the shards of this task did, extraction included.
        let (computed, cached) = plan
            .units
            .iter()
            .zip(&counts)
            .filter(|(u, _)| unit_task(u) == t)
            .fold((0, 0), |(a, b), (_, (c, d))| (a + c, b + d));
        let storage = task.features["storage"].clone();
        task.features =
            serde_json::json!({"computed": computed, "cached": cached, "storage": storage});
        merged.tasks.push(task);
    }
    merged.write_all(dir)?;
    Ok(merged)
}

fn unit_task(u: &Unit) -> usize {
    match u {
        Unit::Extract { task_index, .. } | Unit::Train { task_index, .. } => *task_index,
    }
}

/// Add the heads of `other` (the same task, other heads) to `into`.
fn join_heads(into: &mut TaskResult, other: TaskResult) -> Result<()> {
    if into.error.is_some() {
        return Ok(());
    }
    if other.error.is_some() {
        *into = other;
        return Ok(());
    }
    if into.fingerprint != other.fingerprint || into.control != other.control {
        bail!(
            "shards of task `{}` disagree on the task's control scores or spec: they ran different versions",
            into.task
        );
    }
    into.resumed_from_step = into.resumed_from_step.max(other.resumed_from_step);
    into.heads.extend(other.heads);
    Ok(())
}
