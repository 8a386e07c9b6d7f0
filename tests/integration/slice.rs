//! The vertical slice: synthetic data -> pixel backbone -> linear heads
//! trained jointly in Wasm -> metrics, against the control.

use crate::common::{motion_data, quick_spec, scivid};
use scivid::pipeline;

#[test]
fn flattened_linear_head_learns_motion_and_beats_control() {
    let out = tempfile::tempdir().unwrap();
    let spec = quick_spec(
        out.path(),
        &["linear=linear:pool=mean", "linear-flat=linear:pool=flatten"],
        300,
    );
    let results = pipeline::run(&spec).unwrap();
    let task = &results.tasks[0];
    assert!(task.error.is_none(), "{:?}", task.error);
    for split in ["val", "test"] {
        let control = task.control[split]["accuracy"];
        let flat = &task.heads[1];
        assert!(flat.error.is_none(), "{:?}", flat.error);
        let acc = flat.scores[split]["accuracy"];
        assert!(
            acc > 0.9 && acc > control + 0.4,
            "{split}: flatten head {acc} vs control {control}"
        );
        // SciVid's mean pooling discards where the shape is: it cannot see
        // the direction from pixel features, so it stays near chance.
        let mean = task.heads[0].scores[split]["accuracy"];
        assert!(
            mean < 0.5,
            "{split}: mean-pooled head {mean} should be near chance"
        );
    }
    // Results on disk match what was returned.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(json["tasks"][0]["task"], "motion");
    assert_eq!(json["tasks"][0]["heads"][1]["head"], "linear-flat");
    assert_eq!(json["mode"], "cached");
}

#[test]
fn same_seed_same_numbers() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ra = pipeline::run(&quick_spec(a.path(), &["flat=linear:pool=flatten"], 40)).unwrap();
    let rb = pipeline::run(&quick_spec(b.path(), &["flat=linear:pool=flatten"], 40)).unwrap();
    assert_eq!(ra.tasks[0].heads[0].scores, rb.tasks[0].heads[0].scores);
    assert_eq!(
        ra.tasks[0].heads[0].final_train_loss,
        rb.tasks[0].heads[0].final_train_loss
    );
}

#[test]
fn cli_run_prints_a_table_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = motion_data();
    let (code, stdout, stderr) = scivid(
        &[
            "run",
            "--task",
            "motion",
            "--backbone",
            "pixel8",
            "--readout",
            "linear",
            "--readout",
            "linear-flat=linear:pool=flatten",
            "--data",
            data.to_str().unwrap(),
            "--steps",
            "60",
            "--quiet",
            "--out",
            "res",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("| split | readout | accuracy ↑ [95% CI] | mAP |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| test | control |") && stdout.contains("| test | linear-flat |"),
        "{stdout}"
    );
    assert!(dir.path().join("res/results.json").exists());
    let csv = std::fs::read_to_string(dir.path().join("res/results.csv")).unwrap();
    assert!(
        csv.starts_with(
            "task,split,readout,metric,value,ci_low,ci_high,primary,higher_is_better\n"
        ),
        "{csv}"
    );
    assert!(csv.contains("\nmotion,test,control,accuracy,"), "{csv}");
    assert_eq!(
        csv.lines().count(),
        1 + 2 * 3 * 2,
        "2 splits x 3 rows x 2 metrics"
    );
    let md = std::fs::read_to_string(dir.path().join("res/results.md")).unwrap();
    assert!(
        md.starts_with("scivid ") && md.contains("| test | linear-flat |"),
        "{md}"
    );
}

#[test]
fn bootstrap_intervals_bracket_the_estimate_and_match_the_binomial_width() {
    let out = tempfile::tempdir().unwrap();
    let spec = quick_spec(out.path(), &["flat=linear:pool=flatten"], 100);
    let results = pipeline::run(&spec).unwrap();
    let task = &results.tasks[0];
    for split in ["val", "test"] {
        let n = 64.0; // clips (and videos) in val and test
        let p = task.control[split]["accuracy"];
        let [lo, hi] = task.control_ci[split];
        assert!(lo <= p && p <= hi, "{split}: {p} outside [{lo}, {hi}]");
        // Every clip is its own video here, so the interval should be close
        // to the normal approximation of a binomial proportion.
        let normal = 2.0 * 1.96 * (p * (1.0 - p) / n).sqrt();
        assert!(
            ((hi - lo) - normal).abs() < 0.06,
            "{split}: width {} vs binomial {normal}",
            hi - lo
        );
        let head = &task.heads[0];
        let a = head.scores[split]["accuracy"];
        let [hlo, hhi] = head.ci[split];
        assert!(
            hlo <= a && a <= hhi && hhi <= 1.0,
            "{split}: head {a} outside [{hlo}, {hhi}]"
        );
    }
}

/// SciVid's cadence: heads are scored on the minival set during training;
/// the last point is the final model, so it equals the final val score.
#[test]
fn heads_are_scored_on_minival_during_training() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = quick_spec(
        dir.path(),
        &[
            "flat=linear:pool=flatten",
            "attn=attention:width=16,heads=2",
        ],
        40,
    );
    spec.protocol.eval_every = Some(10);
    spec.bootstrap = 0;
    let r = pipeline::run(&spec).unwrap();
    let task = &r.tasks[0];
    assert_eq!(task.protocol["eval_every"], 10);
    assert_eq!(task.protocol["minival"]["split"], "val");
    assert_eq!(task.protocol["minival"]["clips"], 64);
    for h in &task.heads {
        let steps: Vec<u32> = h.eval_curve.iter().map(|p| p.0).collect();
        assert_eq!(steps, [10, 20, 30, 40], "{}", h.head);
        let last = h.eval_curve.last().unwrap().1;
        assert_eq!(last, h.scores["val"]["accuracy"], "{}", h.head);
    }
    // 0 turns it off.
    let mut off = quick_spec(&dir.path().join("off"), &["flat=linear:pool=flatten"], 20);
    off.protocol.eval_every = Some(0);
    off.bootstrap = 0;
    let r = pipeline::run(&off).unwrap();
    assert!(r.tasks[0].heads[0].eval_curve.is_empty());
    assert!(r.tasks[0].protocol["eval_every"].is_null());
}
