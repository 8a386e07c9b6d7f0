//! Scale-out: one run split into independent shards that any scheduler can
//! run anywhere, then merged back into the results a single process gives.
//!
//! - [`Plan`] ([`plan`]): the shards of a run. Feature extraction by clip
//!   ranges per (task, split), then training and evaluation per (task,
//!   head). It is a pure function of the run spec and the dataset indices,
//!   so every node computes the same plan.
//! - [`run_shard`] ([`shard`]): runs one shard, writing its record under
//!   `OUT/shards/`. Shards share the content-addressed feature cache: a
//!   training shard reads what extraction shards wrote, and a killed shard
//!   resumes (cache, training checkpoints) when run again.
//! - [`merge`] ([`mod@merge`]): gathers the shard records into `results.json`,
//!   `.csv` and `.md`, exactly as a single-process run writes them.
//! - [`slurm`]: job arrays for Slurm (extraction -> training -> merge,
//!   chained with `--dependency=afterok`), submission and status.

pub mod merge;
pub mod plan;
pub mod shard;
pub mod slurm;

pub use merge::merge;
pub use plan::{Plan, Unit};
pub use shard::{ShardRecord, run_shard};

use anyhow::{Context, Result, bail};

/// Parse `I/N` (a shard index out of N).
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let (i, n) = s
        .split_once('/')
        .with_context(|| format!("--shard `{s}`: expected I/N, e.g. 0/8"))?;
    let i: usize = i
        .trim()
        .parse()
        .with_context(|| format!("--shard `{s}`: `{i}` is not a shard index"))?;
    let n: usize = n
        .trim()
        .parse()
        .with_context(|| format!("--shard `{s}`: `{n}` is not a shard count"))?;
    if i >= n {
        bail!("--shard `{s}`: the index counts from 0 and must be below {n}");
    }
    Ok((i, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_syntax() {
        assert_eq!(parse_shard("3/8").unwrap(), (3, 8));
        assert!(parse_shard("8/8").is_err());
        assert!(parse_shard("3").is_err());
        assert!(parse_shard("a/8").is_err());
    }
}
