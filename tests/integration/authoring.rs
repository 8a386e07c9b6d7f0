//! Third-party authoring: `scivid new task|readout` make crates that build
//! and run with no other step (tested from a temporary directory, exactly as
//! a user types it), and `scivid plugins check|test` catch broken plugins.

use crate::common::{motion_data, test_plugin};
use std::path::Path;
use std::process::{Command, Output};

fn scivid(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scivid"))
        .args(args)
        .current_dir(cwd)
        .env("SCIVID_CACHE_DIR", cwd.join(".scivid-cache"))
        .output()
        .unwrap()
}

fn cargo(cwd: &Path, args: &[&str]) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what}:\n{text}");
    text
}

#[test]
fn new_task_builds_tests_and_runs_from_a_temporary_directory() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        &scivid(dir.path(), &["new", "task", "leaf-count"]),
        "new task",
    );
    let krate = dir.path().join("leaf-count");
    for f in [
        "Cargo.toml",
        "src/lib.rs",
        "README.md",
        "sample-data/train/labels.csv",
    ] {
        assert!(krate.join(f).exists(), "{f} missing");
    }
    ok(
        &cargo(&krate, &["build", "--release", "--target", "wasm32-wasip2"]),
        "cargo build",
    );
    let tests = ok(&cargo(&krate, &["test"]), "cargo test (native unit test)");
    assert!(tests.contains("test result: ok. 1 passed"), "{tests}");

    // Exactly the command `scivid new` prints: the folder's scivid.toml
    // grants the task its sample data.
    let wasm = "./target/wasm32-wasip2/release/leaf_count.wasm";
    let run = ok(
        &scivid(&krate, &["run", "--task", wasm, "--quiet", "--steps", "30"]),
        "scivid run",
    );
    assert!(run.contains("| leaf-count | test | accuracy"), "{run}");
    let results = crate::common::results_json(&krate.join("scivid-out"));
    assert!(results["tasks"][0]["error"].is_null(), "{results}");

    let test = ok(
        &scivid(&krate, &["plugins", "test", wasm, "--data", "sample-data"]),
        "plugins test",
    );
    assert!(test.contains("all 10 checks passed"), "{test}");

    // The name rules: no built-in's name, no existing folder.
    let e = scivid(dir.path(), &["new", "task", "motion"]);
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("built-in"));
    let e = scivid(dir.path(), &["new", "task", "leaf-count"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("not empty"));
    let e = scivid(dir.path(), &["new", "readout", "Bad_Name"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("a-z"));
}

#[test]
fn new_readout_builds_and_trains_on_a_built_in_task() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        &scivid(dir.path(), &["new", "readout", "mlp-probe"]),
        "new readout",
    );
    let krate = dir.path().join("mlp-probe");
    ok(
        &cargo(&krate, &["build", "--release", "--target", "wasm32-wasip2"]),
        "cargo build",
    );
    let wasm = "./target/wasm32-wasip2/release/mlp_probe.wasm";
    let check = ok(
        &scivid(&krate, &["plugins", "check", wasm]),
        "plugins check",
    );
    assert!(check.contains("all 7 checks passed"), "{check}");
    // `scivid run` alone: the folder's spec trains it beside `linear` on motion's stand-in.
    let run = ok(
        &scivid(
            &krate,
            &["run", "--quiet", "--steps", "20", "--bootstrap", "0"],
        ),
        "scivid run in the crate",
    );
    assert!(run.contains("| motion | test | accuracy"), "{run}");
    assert!(run.contains("mlp_probe") && run.contains("linear"), "{run}");
    let data = motion_data();
    let run = ok(
        &scivid(
            &krate,
            &[
                "run",
                "--task",
                "motion",
                "--data",
                data.to_str().unwrap(),
                "--readout",
                &format!("{wasm}:hidden=32"),
                "--quiet",
                "--steps",
                "30",
            ],
        ),
        "scivid run",
    );
    assert!(run.contains("mlp_probe"), "{run}");
    let results = crate::common::results_json(&krate.join("scivid-out"));
    let head = &results["tasks"][0]["heads"][0];
    assert!(head["error"].is_null(), "{head}");
    assert_eq!(head["config"]["hidden"], "32");
}

#[test]
fn plugins_check_and_test_catch_broken_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("cut-graph", "| gradients | FAILED | no gradient reaches"),
        (
            "shape-liar",
            "| forward | FAILED | plugin `shape-liar`: forward: returned shape [2, 7]",
        ),
        (
            "nan-output",
            "| forward | FAILED | predictions on random features are not finite",
        ),
        ("no-exports", "| component | FAILED |"),
        (
            "future-sdk",
            "built against scivid SDK 9.0.0, but this host implements SDK 0.",
        ),
    ];
    for (plugin, expect) in cases {
        let path = test_plugin(plugin);
        let out = scivid(dir.path(), &["plugins", "check", path.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{plugin}:\n{text}");
        assert!(text.contains(expect), "{plugin}:\n{text}");
    }
    // Every built-in passes, and a task's data test needs its data.
    for b in ["motion", "flyvsfly", "typhoon", "linear", "attention"] {
        let out = scivid(dir.path(), &["plugins", "check", b]);
        assert!(
            out.status.success(),
            "{b}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The tracking head is built for STIR's shapes and reads its query points.
    let out = scivid(dir.path(), &["plugins", "check", "tracking"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("--output and --extra"), "{text}");
    let out = scivid(
        dir.path(),
        &[
            "plugins",
            "check",
            "tracking",
            "--output",
            "16,34,4",
            "--extra",
            "queries=34,2",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("[B, 16, 34, 4]"),
        "{text}"
    );
    // The DPT decoder is built for a forecasting grid [leads, channels, lat,
    // lon]; a small configuration (the default has 179M parameters).
    let out = scivid(
        dir.path(),
        &[
            "plugins",
            "check",
            "dpt",
            "--output",
            "2,3,5,9",
            "--config",
            "dims=16,intermediate=8",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains("[B, 2, 3, 5, 9]")
            && text.contains("dims=16, intermediate=8"),
        "{text}"
    );
    let out = scivid(dir.path(), &["plugins", "test", "motion"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pass --data DIR"));
    let data = motion_data();
    let out = scivid(
        dir.path(),
        &[
            "plugins",
            "test",
            "motion",
            "--data",
            data.to_str().unwrap(),
        ],
    );
    let text = ok(&out, "plugins test motion");
    assert!(text.contains("perfect 1.0000"), "{text}");
}
