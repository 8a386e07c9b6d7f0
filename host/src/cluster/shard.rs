//! Running one shard of a [`Plan`]: `scivid run --config run.toml --shard I/N`.
//! The shard takes a lock file (a second copy of the same shard, say a
//! requeued job whose first run is still dying, is refused), does its work
//! and writes its [`ShardRecord`] atomically. Run again, a shard whose
//! record is complete does nothing; a killed one resumes from the feature
//! cache and its training checkpoint.

use super::plan::{Plan, Unit};
use crate::pipeline::{self, RunSpec};
use crate::report::RunResults;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a finished shard leaves in `OUT/shards/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardRecord {
    /// The [`Plan::id`] this shard belongs to.
    pub plan: String,
    pub index: usize,
    pub of: usize,
    pub unit: Unit,
    /// Host that ran it and how long it took.
    pub host: String,
    pub seconds: f64,
    /// Features computed and read from the cache.
    pub computed: usize,
    pub cached: usize,
    /// A training shard's results: one task, one head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<RunResults>,
}

impl ShardRecord {
    pub fn path(out: &Path, index: usize, of: usize) -> PathBuf {
        out.join("shards")
            .join(format!("shard-{index:05}-of-{of:05}.json"))
    }

    /// The record at `path`, if there is a readable one.
    pub fn load(path: &Path) -> Result<Option<ShardRecord>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("shard record {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Done, and nothing in it failed (a failed head is tried again).
    pub fn finished(&self) -> bool {
        self.results
            .as_ref()
            .is_none_or(|r| r.tasks.iter().all(pipeline::finished))
    }
}

/// What happened when a shard ran.
pub enum Outcome {
    Done(ShardRecord),
    /// It had finished earlier; nothing was run.
    AlreadyDone(ShardRecord),
}

/// Run shard `index` of `of` of `spec`'s plan.
pub fn run_shard(spec: &RunSpec, index: usize, of: usize) -> Result<Outcome> {
    let prepared = pipeline::prepare(spec)?;
    let plan = Plan::build(spec, &prepared)?;
    if plan.len() != of {
        bail!(
            "this run has {} shards, not {of} (`scivid plan` with the same spec lists them); \
             was the spec or the dataset changed since the jobs were planned?",
            plan.len()
        );
    }
    let shards = spec.out.join("shards");
    std::fs::create_dir_all(&shards)
        .with_context(|| format!("cannot create {}", shards.display()))?;
    let lock_path = shards.join(format!("shard-{index:05}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open the lock file {}", lock_path.display()))?;
    if let Err(e) = lock.try_lock() {
        bail!(
            "shard {index}/{of} is being run by another process (lock {} is held: {e})",
            lock_path.display()
        );
    }
    plan.save(&spec.out)?;
    let path = ShardRecord::path(&spec.out, index, of);
    if let Some(done) = ShardRecord::load(&path).ok().flatten()
        && done.plan == plan.id
        && done.finished()
    {
        return Ok(Outcome::AlreadyDone(done));
    }

    let start = std::time::Instant::now();
    let unit = plan.units[index].clone();
    let (computed, cached, results) = match &unit {
        Unit::Extract {
            task_index,
            split,
            start,
            end,
            ..
        } => {
            let (computed, cached) =
                prepared.extract_clips(spec, *task_index, split, *start..*end)?;
            (computed, cached, None)
        }
        Unit::Train {
            task_index,
            head_index,
            ..
        } => {
            let task = prepared.run_task(spec, *task_index, *head_index..*head_index + 1);
            let count = |key: &str| task.features[key].as_u64().unwrap_or(0) as usize;
            let (computed, cached) = (count("computed"), count("cached"));
            let mut results = prepared.results_header(spec)?;
            results.tasks.push(task);
            (computed, cached, Some(results))
        }
    };
    let record = ShardRecord {
        plan: plan.id.clone(),
        index,
        of,
        unit,
        host: hostname(),
        seconds: start.elapsed().as_secs_f64(),
        computed,
        cached,
        results,
    };
    crate::files::write_atomic(&path, serde_json::to_string_pretty(&record)?.as_bytes())?;
    Ok(Outcome::Done(record))
}

/// This machine's name, for the record (which node ran a shard).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
