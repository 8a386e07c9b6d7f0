//! Confidence intervals by cluster bootstrap: resample the groups a task
//! declares (videos, sequences) with replacement, score each resample with
//! the task's own metric accumulator, and take the 2.5th and 97.5th
//! percentiles of the primary metric. Clips of one video are correlated;
//! resampling videos rather than clips keeps the interval honest.

use crate::runtime::{PluginError, TaskPlugin};
use crate::tensor::DynTensor;
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// 95% percentile interval of `metric`, or None when there are fewer than two groups.
#[allow(clippy::too_many_arguments)]
pub fn interval(
    task: &mut TaskPlugin,
    split: &str,
    preds: &DynTensor,
    targets: &DynTensor,
    groups: &[String],
    metric: &str,
    resamples: usize,
    seed: u64,
) -> Result<Option<[f64; 2]>, PluginError> {
    let mut by_group: Vec<(String, Vec<usize>)> = vec![];
    for (i, g) in groups.iter().enumerate() {
        match by_group.iter_mut().find(|(name, _)| name == g) {
            Some((_, rows)) => rows.push(i),
            None => by_group.push((g.clone(), vec![i])),
        }
    }
    if by_group.len() < 2 || resamples == 0 {
        return Ok(None);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let mut rows = vec![];
        for _ in 0..by_group.len() {
            rows.extend(&by_group[rng.random_range(0..by_group.len())].1);
        }
        let (p, t) = (preds.select_rows(&rows), targets.select_rows(&rows));
        let scores = task.evaluate(split, [(&p, &t)])?;
        if let Some(v) = scores.iter().find(|m| m.name == metric).map(|m| m.value)
            && v.is_finite()
        {
            values.push(v);
        }
    }
    if values.is_empty() {
        return Ok(None);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Ok(Some([at(0.025), at(0.975)]))
}
