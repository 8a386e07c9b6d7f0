//! Native backbones from trusted cdylibs: the example in
//! examples/native-backbone, built here, runs through the unchanged
//! `scivid` binary; a library declaring another ABI major is refused with
//! both versions named; a file that is no library is one clear error.

use crate::common::{motion_data, repo_root, scivid};
use std::path::PathBuf;
use std::process::Command;

/// Build the example (optionally with `wrong-abi`) and return its library.
fn build_example(wrong_abi: bool) -> PathBuf {
    let target = repo_root().join("target").join(if wrong_abi {
        "native-wrong-abi"
    } else {
        "native-example"
    });
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--release", "--manifest-path"])
        .arg(repo_root().join("examples/native-backbone/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if wrong_abi {
        cmd.args(["--features", "wrong-abi"]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("release").join(format!(
        "{}motion_energy{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

#[test]
fn example_native_backbone_runs_through_the_unchanged_binary() {
    let lib = build_example(false);
    let dir = tempfile::tempdir().unwrap();
    let data = motion_data();
    let (code, out, err) = scivid(
        &[
            "run",
            "--task",
            "motion",
            "--data",
            data.to_str().unwrap(),
            "--backbone-lib",
            lib.to_str().unwrap(),
            "--readout",
            "flat=linear:pool=flatten",
            "--steps",
            "80",
            "--bootstrap",
            "0",
            "--quiet",
            "--out",
            "res",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let r = crate::common::results_json(&dir.path().join("res"));
    assert_eq!(r["backbone"]["backbone"], "motion-energy");
    assert_eq!(r["backbone"]["family"], "native");
    let t = &r["tasks"][0];
    let flat = t["heads"][0]["scores"]["test"]["accuracy"]
        .as_f64()
        .unwrap();
    let control = t["control"]["test"]["accuracy"].as_f64().unwrap();
    assert!(
        flat > control + 0.3,
        "motion energy should show direction: {flat} vs control {control}"
    );
}

#[test]
fn incompatible_or_foreign_libraries_are_refused_clearly() {
    let lib = build_example(true);
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = scivid(
        &[
            "run",
            "--task",
            "motion",
            "--backbone-lib",
            lib.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("refused") && err.contains("ABI 2.0.0") && err.contains("ABI 1.0.0"),
        "{err}"
    );
    let junk = dir.path().join("junk.so");
    std::fs::write(&junk, "not a library").unwrap();
    let (code, _, err) = scivid(
        &[
            "run",
            "--task",
            "motion",
            "--backbone-lib",
            junk.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot load native backbone") && err.contains("junk.so"),
        "{err}"
    );
}
