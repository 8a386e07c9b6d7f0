//! A third party's task and readout plugins from `examples/`, built on their
//! own and run by the unchanged `scivid` binary.

use crate::common::{build_wasm, motion_data, repo_root, results_json, scivid};

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
    let json = results_json(&work.path().join("scivid-out"));
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

#[test]
fn example_readout_plugin_builds_and_runs_with_the_unchanged_binary() {
    let dir = build_wasm(
        &repo_root().join("examples/change-mlp-readout/Cargo.toml"),
        "example-plugins",
    );
    let wasm = dir.join("change_mlp.wasm");
    let data = motion_data();
    let work = tempfile::tempdir().unwrap();
    let (code, out, err) = scivid(
        &[
            "run",
            "--task",
            "motion",
            "--backbone",
            "pixel8",
            "--readout",
            "linear",
            "--readout",
            &format!("change={}:hidden=64", wasm.display()),
            "--data",
            data.to_str().unwrap(),
            "--quiet",
        ],
        work.path(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let json = results_json(&work.path().join("scivid-out"));
    let heads = &json["tasks"][0]["heads"];
    let score = |i: usize| heads[i]["scores"]["test"]["accuracy"].as_f64().unwrap();
    assert_eq!(heads[1]["head"], "change", "{heads}");
    assert_eq!(heads[1]["config"]["hidden"], "64", "{heads}");
    // Mean pooling cannot see which way the shape moved; the change of each
    // token between the first and the last frame can.
    assert!(
        score(1) > 0.9 && score(0) < 0.5,
        "change {} vs linear {}",
        score(1),
        score(0)
    );
}

/// The manufacturing proof of concept of `examples/manufacturing-line`, as
/// its README walks it: generate the data, build the two task plugins,
/// check them on the data, run `poc.toml` with a video backbone.
#[test]
fn manufacturing_example_generates_its_data_and_runs_its_poc() {
    let example = repo_root().join("examples/manufacturing-line");
    let plugins = build_wasm(&example.join("Cargo.toml"), "manufacturing");
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let generated = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args([
            "run",
            "--release",
            "-q",
            "-p",
            "line-data",
            "--manifest-path",
        ])
        .arg(example.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(repo_root().join("target/manufacturing-native"))
        .args(["--", "--clips", "80", "--out"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    for (wasm, dir) in [
        ("line_inspection.wasm", "inspection"),
        ("operator_steps.wasm", "operator"),
    ] {
        let (code, out, err) = scivid(
            &[
                "plugins",
                "test",
                plugins.join(wasm).to_str().unwrap(),
                "--data",
                data.join(dir).to_str().unwrap(),
            ],
            work.path(),
        );
        assert_eq!(code, 0, "{wasm}: {out}{err}");
        assert!(out.contains("all 10 checks passed"), "{out}");
    }

    // The example's own run spec, pointed at these builds and this data.
    let spec = std::fs::read_to_string(example.join("poc.toml"))
        .unwrap()
        .replace(
            "target/wasm32-wasip2/release/",
            &format!("{}/", plugins.display()),
        )
        .replace("\"data/", &format!("\"{}/", data.display()));
    let spec_path = work.path().join("poc.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let (code, out, err) = scivid(
        &[
            "run",
            "--config",
            spec_path.to_str().unwrap(),
            "--backbone",
            "videomae-tiny",
            "--steps",
            "150",
            "--bootstrap",
            "100",
            "--quiet",
            "--out",
            "out",
        ],
        work.path(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let r = crate::common::results_json(&work.path().join("out"));
    let names: Vec<&str> = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["line-inspection", "operator-steps"]);
    let inspection = &r["tasks"][0];
    assert_eq!(inspection["control"]["test"]["auroc"], 0.5);
    let best = inspection["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["scores"]["test"]["auroc"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(best > 0.8, "a head finds the defective parts: AUROC {best}");
    for h in inspection["heads"].as_array().unwrap() {
        let m = &h["scores"]["test"];
        assert!(
            m["accuracy"].is_number() && m["mAP_defects"].is_number(),
            "{h}"
        );
    }
}
