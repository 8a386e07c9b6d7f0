//! Metric helpers plugins share, written to match their usual references
//! (scikit-learn for average precision).

/// Average precision of `scores` for binary `labels`, as scikit-learn's
/// `average_precision_score`: sum over distinct thresholds (descending) of
/// (recall step) x precision. Tied scores form one threshold. With no
/// positive label the result is 0, as scikit-learn returns.
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

/// Mean of per-class average precision over `classes`, for scores and
/// labels stored row-major as [N, C].
pub fn mean_average_precision(
    scores: &[f32],
    labels: &[bool],
    num_classes: usize,
    classes: &[usize],
) -> f64 {
    if classes.is_empty() {
        return 0.0;
    }
    let n = scores.len() / num_classes;
    let total: f64 = classes
        .iter()
        .map(|&c| {
            let s: Vec<f32> = (0..n).map(|i| scores[i * num_classes + c]).collect();
            let l: Vec<bool> = (0..n).map(|i| labels[i * num_classes + c]).collect();
            average_precision(&s, &l)
        })
        .sum();
    total / classes.len() as f64
}

/// Index of the largest value in each row of a row-major [N, C] matrix.
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
}
