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
        stdout.contains("| split | readout | accuracy | mAP |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| test | control |") && stdout.contains("| test | linear-flat |"),
        "{stdout}"
    );
    assert!(dir.path().join("res/results.json").exists());
}
