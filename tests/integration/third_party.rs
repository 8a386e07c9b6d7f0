//! A third party's task plugin from `examples/`, built on its own and run by
//! the unchanged `scivid` binary.

use crate::common::{build_wasm, motion_data, repo_root, scivid};

#[test]
fn example_task_plugin_builds_and_runs_with_the_unchanged_binary() {
    let dir = build_wasm(
        &repo_root().join("examples/motion-sign-task/Cargo.toml"),
        "example-plugins",
    );
    let wasm = dir.join("motion_sign.wasm");
    let data = motion_data();
    let work = tempfile::tempdir().unwrap();
    let (code, out, err) = scivid(
        &[
            "run",
            "--task",
            wasm.to_str().unwrap(),
            "--backbone",
            "pixel8",
            "--readout",
            "flat=linear:pool=flatten",
            "--data",
            data.to_str().unwrap(),
            "--quiet",
        ],
        work.path(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("## motion-sign"), "{out}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("scivid-out/results.json")).unwrap(),
    )
    .unwrap();
    let task = &json["tasks"][0];
    let head = task["heads"][0]["scores"]["test"]["balanced_accuracy"]
        .as_f64()
        .unwrap();
    let control = task["control"]["test"]["balanced_accuracy"]
        .as_f64()
        .unwrap();
    assert!(
        (control - 0.5).abs() < 1e-9,
        "a constant predictor has balanced accuracy 0.5, got {control}"
    );
    assert!(head > 0.85, "head {head}");
}
