//! Metric helpers plugins share, written to match their usual references
//! (scikit-learn for average precision, WeatherBench 2 for latitude weights).

/// Average precision of `scores` for binary `labels`, as scikit-learn's
/// `average_precision_score`: sum over distinct thresholds (descending) of
/// (recall step) x precision. Tied scores form one threshold. With no
/// positive label the result is 0, as scikit-learn returns.
///
/// ```
/// use scivid_sdk::metrics::average_precision;
/// // scikit-learn: average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
/// let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
/// assert!((ap - 0.8333333333333333).abs() < 1e-12);
/// ```
pub fn average_precision(scores: &[f32], labels: &[bool]) -> f64 {
    assert_eq!(
        scores.len(),
        labels.len(),
        "average_precision: scores and labels differ in length"
    );
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 {
        return 0.0;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Descending by score; NaN sorts last so it never counts as a confident hit.
    order.sort_by(|&a, &b| {
        let (x, y) = (scores[a], scores[b]);
        y.partial_cmp(&x)
            .unwrap_or_else(|| x.is_nan().cmp(&y.is_nan()))
    });
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut ap, mut prev_recall) = (0.0f64, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        // Take every example tied at this score as one threshold.
        while i < order.len()
            && (scores[order[i]] == s || (s.is_nan() && scores[order[i]].is_nan()))
        {
            if labels[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let recall = tp as f64 / positives as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    ap
}

/// WeatherBench 2's latitude weights for `n` equally spaced latitudes from
/// -90 to 90 degrees (poles included): the area of each latitude band
/// (sin of the upper bound minus sin of the lower bound, the bounds being
/// the midpoints between rows, clipped at the poles), normalised to mean 1.
/// Proportional to cos(latitude) away from the poles.
///
/// ```
/// use scivid_sdk::metrics::latitude_weights;
/// let w = latitude_weights(181); // ERA5 at 1 degree: -90, -89, ..., 90
/// assert!((w.iter().sum::<f64>() / 181.0 - 1.0).abs() < 1e-12);
/// assert!((w[0] - w[180]).abs() < 1e-12); // symmetric about the equator
/// let ratio = w[90 + 60] / w[90]; // 60 degrees north against the equator
/// assert!((ratio - 60f64.to_radians().cos()).abs() < 1e-3);
/// ```
pub fn latitude_weights(n: usize) -> Vec<f64> {
    if n < 2 {
        return vec![1.0; n];
    }
    let lat: Vec<f64> = (0..n)
        .map(|i| (-90.0 + 180.0 * i as f64 / (n - 1) as f64).to_radians())
        .collect();
    let half_pi = std::f64::consts::FRAC_PI_2;
    let bound = |i: usize| -> f64 {
        if i == 0 {
            -half_pi
        } else if i == n {
            half_pi
        } else {
            (lat[i - 1] + lat[i]) / 2.0
        }
    };
    let area: Vec<f64> = (0..n)
        .map(|i| bound(i + 1).sin() - bound(i).sin())
        .collect();
    let mean = area.iter().sum::<f64>() / n as f64;
    area.iter().map(|a| a / mean).collect()
}

/// Mean of per-class average precision over `classes`, for scores and
/// labels stored row-major as [N, C].
///
/// ```
/// use scivid_sdk::metrics::mean_average_precision;
/// // Two clips, three classes; class 2 (say, background) left out.
/// let scores = [0.9, 0.1, 0.5, 0.2, 0.8, 0.5];
/// let labels = [true, false, false, false, true, true];
/// assert_eq!(mean_average_precision(&scores, &labels, 3, &[0, 1]), 1.0);
/// ```
pub fn mean_average_precision(
    scores: &[f32],
    labels: &[bool],
    num_classes: usize,
    classes: &[usize],
) -> f64 {
    if classes.is_empty() {
        return 0.0;
    }
    let ap = per_class_average_precision(scores, labels, num_classes);
    classes.iter().map(|&c| ap[c]).sum::<f64>() / classes.len() as f64
}

/// Average precision of every class (column) of scores and labels stored
/// row-major as [N, C], as [`average_precision`] per column.
///
/// ```
/// use scivid_sdk::metrics::per_class_average_precision;
/// let scores = [0.9, 0.1, 0.2, 0.8];
/// let labels = [true, false, false, true];
/// assert_eq!(per_class_average_precision(&scores, &labels, 2), vec![1.0, 1.0]);
/// ```
pub fn per_class_average_precision(
    scores: &[f32],
    labels: &[bool],
    num_classes: usize,
) -> Vec<f64> {
    let n = scores.len() / num_classes;
    (0..num_classes)
        .map(|c| {
            let s: Vec<f32> = (0..n).map(|i| scores[i * num_classes + c]).collect();
            let l: Vec<bool> = (0..n).map(|i| labels[i * num_classes + c]).collect();
            average_precision(&s, &l)
        })
        .collect()
}

/// Row-normalised confusion matrix [C, C] of single-label classification,
/// row-major: entry (t, p) is the fraction of the examples of true class t
/// (the argmax of its one-hot label row) whose highest score is class p.
/// A class without examples has a row of zeros.
///
/// ```
/// use scivid_sdk::metrics::confusion_rows;
/// // Three examples, two classes: true 0, 0, 1; predicted 0, 1, 1.
/// let scores = [0.9, 0.1, 0.4, 0.6, 0.2, 0.8];
/// let labels = [true, false, true, false, false, true];
/// assert_eq!(confusion_rows(&scores, &labels, 2), vec![0.5, 0.5, 0.0, 1.0]);
/// ```
pub fn confusion_rows(scores: &[f32], labels: &[bool], num_classes: usize) -> Vec<f64> {
    let k = num_classes;
    let onehot: Vec<f32> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    let truth = argmax_rows(&onehot, k);
    let predicted = argmax_rows(scores, k);
    let mut counts = vec![0.0f64; k * k];
    for (&t, &p) in truth.iter().zip(&predicted) {
        counts[t * k + p] += 1.0;
    }
    for row in counts.chunks_mut(k) {
        let total: f64 = row.iter().sum();
        if total > 0.0 {
            row.iter_mut().for_each(|v| *v /= total);
        }
    }
    counts
}

/// Area under the ROC curve of `scores` for binary `labels`, as
/// scikit-learn's `roc_auc_score`: the probability that a random positive
/// scores above a random negative, ties counting one half (Mann-Whitney U
/// with average ranks). NaN scores rank lowest. Undefined without both
/// classes; then 0.5 (chance) is returned.
///
/// ```
/// use scivid_sdk::metrics::roc_auc;
/// // scikit-learn: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
/// let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
/// assert!((auc - 0.75).abs() < 1e-12);
/// ```
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> f64 {
    assert_eq!(
        scores.len(),
        labels.len(),
        "roc_auc: scores and labels differ in length"
    );
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return 0.5;
    }
    let key = |v: f32| if v.is_nan() { f32::NEG_INFINITY } else { v };
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| key(scores[a]).total_cmp(&key(scores[b])));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && key(scores[order[j]]) == key(scores[order[i]]) {
            j += 1;
        }
        let average_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += average_rank * order[i..j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j;
    }
    let (p, n) = (positives as f64, negatives as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// Index of the largest value in each row of a row-major [N, C] matrix
/// (the first on ties).
///
/// ```
/// use scivid_sdk::metrics::argmax_rows;
/// assert_eq!(argmax_rows(&[0.1, 0.7, 0.2, 0.5, 0.5, 0.0], 3), vec![1, 0]);
/// ```
pub fn argmax_rows(values: &[f32], num_classes: usize) -> Vec<usize> {
    values
        .chunks(num_classes)
        .map(|row| {
            let mut best = 0;
            for (j, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ap_matches_hand_computed_sklearn_values() {
        // sklearn: average_precision_score([0,0,1,1], [0.1,0.4,0.35,0.8]) = 0.8333...
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert!((ap - 0.833_333_333_333_333_4).abs() < 1e-12, "{ap}");
        // All tied: AP equals the positive rate.
        let ap = average_precision(&[0.5; 4], &[true, false, false, false]);
        assert!((ap - 0.25).abs() < 1e-12, "{ap}");
    }

    /// Cases written by `tests/fixtures/task_metrics_reference.py` with
    /// scikit-learn's `roc_auc_score` (ties included).
    #[test]
    fn roc_auc_matches_scikit_learn() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/task-metrics/roc_auc.json"
        );
        let text = std::fs::read_to_string(path).expect("the fixture exists");
        let mut cases = 0;
        // {"cases": [{"scores": [...], "labels": [...], "auc": x}, ...]}, parsed by hand.
        for case in text.split("{\"scores\": [").skip(1) {
            let (scores, rest) = case.split_once("], \"labels\": [").unwrap();
            let (labels, rest) = rest.split_once("], \"auc\": ").unwrap();
            let auc: f64 = rest
                .trim_end_matches(['}', ']', ',', ' ', '\n'])
                .parse()
                .unwrap();
            let scores: Vec<f32> = scores.split(", ").map(|v| v.parse().unwrap()).collect();
            let labels: Vec<bool> = labels.split(", ").map(|v| v == "1").collect();
            let got = roc_auc(&scores, &labels);
            assert!((got - auc).abs() < 1e-12, "case {cases}: {got} vs {auc}");
            cases += 1;
        }
        assert_eq!(cases, 3);
        assert_eq!(roc_auc(&[0.2, 0.9], &[true, true]), 0.5, "one class only");
    }
}

/// Scores and binary labels gathered chunk by chunk (for mAP-style metrics
/// that need every example before they can be computed).
#[derive(Debug, Clone, Default)]
pub struct ScoreBuffer {
    pub scores: Vec<f32>,
    /// Targets above 0.5 count as positive.
    pub labels: Vec<bool>,
}

impl ScoreBuffer {
    pub fn update(
        &mut self,
        predictions: &crate::Tensor,
        targets: &crate::Tensor,
    ) -> crate::Result<()> {
        self.scores.extend(predictions.read()?);
        self.labels
            .extend(targets.read()?.into_iter().map(|t| t > 0.5));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}
