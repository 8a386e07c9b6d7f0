//! The plugin contract at the edge: versions, formats, worlds, and bad input
//! on the command line (one clear line naming the thing, non-zero exit).

use crate::common::{motion_data, repo_root, scivid, test_plugin};
use scivid::runtime::{PluginKind, Runtime};

#[test]
fn plugin_built_against_a_future_sdk_is_refused_naming_both_versions() {
    let rt = Runtime::new(None).unwrap();
    let e = format!(
        "{:#}",
        rt.load_file(&test_plugin("future-sdk")).err().unwrap()
    );
    assert!(
        e.contains("9.0.0")
            && e.contains(scivid::runtime::sdk_version::HOST_SDK_VERSION)
            && e.contains("future_sdk.wasm"),
        "{e}"
    );
}

/// The previous release's contract is frozen in `sdk/wit-snapshots/0.2.0`;
/// a plugin built against it loads, passes `plugins check`, and trains.
#[test]
fn plugin_built_against_the_frozen_previous_sdk_still_loads_and_trains() {
    let rt = Runtime::new(None).unwrap();
    let old = test_plugin("sdk-0-2-0-readout");
    let c = rt.load_file(&old).unwrap();
    assert_eq!(c.sdk_version.to_string(), "0.2.0");
    assert_eq!(c.kind, PluginKind::Readout);
    assert_ne!(
        scivid::runtime::sdk_version::HOST_SDK_VERSION,
        "0.2.0",
        "the host has moved on since the snapshot"
    );

    let dir = tempfile::tempdir().unwrap();
    let old = old.to_str().unwrap();
    let (code, out, err) = scivid(&["plugins", "check", old], dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("built with SDK 0.2.0"), "{out}");

    let mut spec = crate::common::quick_spec(dir.path(), &[&format!("old={old}")], 30);
    spec.bootstrap = 0;
    let r = scivid::pipeline::run(&spec).unwrap();
    let head = &r.tasks[0].heads[0];
    assert!(head.error.is_none(), "{:?}", head.error);
    assert_eq!(head.steps, 30);
    assert!(head.final_train_loss.is_some_and(f64::is_finite));

    // The frozen 0.1.0 contract is a breaking release behind: refused by version.
    let wit =
        std::fs::read_to_string(repo_root().join("sdk/wit-snapshots/0.1.0/tensor.wit")).unwrap();
    assert!(wit.starts_with("package scivid:plugin@0.1.0;"));
    assert!(scivid::runtime::sdk_version::check_compatible(&"0.1.0".parse().unwrap()).is_err());
}

/// A task built against the frozen 0.2.2 contract exports `task-api` only
/// (no `task-clips`, added in 0.2.3): it loads, indexes, trains and scores.
#[test]
fn task_built_against_the_frozen_0_2_2_sdk_still_indexes_trains_and_scores() {
    let rt = Runtime::new(None).unwrap();
    let old = test_plugin("sdk-0-2-2-task");
    let c = rt.load_file(&old).unwrap();
    assert_eq!(c.sdk_version.to_string(), "0.2.2");
    assert_eq!(c.kind, PluginKind::Task);
    let wit =
        std::fs::read_to_string(repo_root().join("sdk/wit-snapshots/0.2.2/tensor.wit")).unwrap();
    assert!(wit.starts_with("package scivid:plugin@0.2.2;") && !wit.contains("task-clips"));

    trains_and_scores(old);
}

/// A task built against the frozen 0.2.3 contract gives its clips through
/// `task-clips` (no `task-sampled-clips`, added in 0.2.4; its `task-api`
/// index and control refuse): it loads, indexes, trains and is scored.
#[test]
fn task_built_against_the_frozen_0_2_3_sdk_gives_clips_through_task_clips() {
    let rt = Runtime::new(None).unwrap();
    let old = test_plugin("sdk-0-2-3-task");
    let c = rt.load_file(&old).unwrap();
    assert_eq!(c.sdk_version.to_string(), "0.2.3");
    let wit =
        std::fs::read_to_string(repo_root().join("sdk/wit-snapshots/0.2.3/tensor.wit")).unwrap();
    assert!(
        wit.starts_with("package scivid:plugin@0.2.3;")
            && wit.contains("interface task-clips")
            && !wit.contains("task-sampled-clips")
    );

    trains_and_scores(old);
}

/// The motion-data task plugin at `plugin` indexes, trains a linear head
/// and is scored, with its control, on today's host.
fn trains_and_scores(plugin: std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = crate::common::quick_spec(dir.path(), &["linear"], 40);
    spec.tasks = vec![scivid::pipeline::PluginRef::File(plugin)];
    spec.bootstrap = 0;
    let r = scivid::pipeline::run(&spec).unwrap();
    let t = &r.tasks[0];
    assert!(t.error.is_none(), "{:?}", t.error);
    assert!(t.splits.iter().any(|s| s == "val"), "{:?}", t.splits);
    let head = &t.heads[0];
    assert!(head.error.is_none(), "{:?}", head.error);
    assert_eq!(head.steps, 40);
    let acc = t.control.values().next().and_then(|s| s.get("accuracy"));
    assert!(
        acc.is_some_and(|a| a.is_finite()),
        "control scored: {:?}",
        t.control
    );
}

#[test]
fn component_without_a_scivid_world_is_refused() {
    let rt = Runtime::new(None).unwrap();
    let e = format!(
        "{:#}",
        rt.load_file(&test_plugin("no-exports")).err().unwrap()
    );
    assert!(
        e.contains("exports neither scivid:plugin/task-api nor scivid:plugin/readout-api"),
        "{e}"
    );
}

#[test]
fn builtins_load_with_their_kinds_and_the_compile_cache_is_reused() {
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::new(Some(cache.path().to_path_buf())).unwrap();
    let bytes = scivid::runtime::builtin::get("linear").unwrap();
    let first = rt.load_bytes("linear", bytes).unwrap();
    assert_eq!(first.kind, PluginKind::Readout);
    assert_eq!(
        first.cache,
        scivid::runtime::compile_cache::CacheOutcome::Miss
    );
    let rt2 = Runtime::new(Some(cache.path().to_path_buf())).unwrap();
    let second = rt2.load_bytes("linear", bytes).unwrap();
    assert_eq!(
        second.cache,
        scivid::runtime::compile_cache::CacheOutcome::Hit
    );
    let motion = rt
        .load_bytes("motion", scivid::runtime::builtin::get("motion").unwrap())
        .unwrap();
    assert_eq!(motion.kind, PluginKind::Task);
}

/// Each bad input: exit code 1 and one `error:` line naming the thing.
fn assert_one_line_error(args: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (code, _out, err) = scivid(args, dir.path());
    assert_eq!(code, 1, "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: expected one line, got:\n{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{args:?}: {err}"
    );
}

#[test]
fn bad_input_gets_one_clear_line() {
    let data = motion_data();
    let data = data.to_str().unwrap();
    assert_one_line_error(
        &["run", "--task", "nope.wasm", "--data", data],
        "nope.wasm not found",
    );
    assert_one_line_error(
        &["run", "--task", "nonesuch"],
        "no built-in plugin `nonesuch`",
    );
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"this is not wasm").unwrap();
    assert_one_line_error(
        &["run", "--task", junk.to_str().unwrap(), "--data", data],
        "not a WebAssembly file",
    );
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    assert_one_line_error(
        &["run", "--task", core.to_str().unwrap(), "--data", data],
        "core WebAssembly module",
    );
    let future = test_plugin("future-sdk");
    assert_one_line_error(&["plugins", "inspect", future.to_str().unwrap()], "9.0.0");
    let none = test_plugin("no-exports");
    assert_one_line_error(
        &["plugins", "inspect", none.to_str().unwrap()],
        "exports neither",
    );
    assert_one_line_error(
        &["run", "--data", "/nonexistent/scivid-data"],
        "/nonexistent/scivid-data does not exist",
    );
    assert_one_line_error(
        &["run", "--readout", "motion", "--data", data],
        "is a task plugin, not a readout",
    );
    assert_one_line_error(
        &[
            "run",
            "--readout",
            "linear",
            "--readout",
            "linear",
            "--data",
            data,
        ],
        "readout label `linear` is given twice",
    );
}

#[test]
fn inspect_shows_name_kind_versions_hash_and_grants() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = scivid(&["plugins", "inspect", "motion", "--json"], dir.path());
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "motion");
    assert_eq!(v["kind"], "task");
    assert_eq!(
        v["sdk_version"],
        scivid::runtime::sdk_version::HOST_SDK_VERSION
    );
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    assert!(v["grants"][0].as_str().unwrap().starts_with("dataset-read"));
    let (code, out, _) = scivid(&["plugins", "list"], dir.path());
    assert_eq!(code, 0);
    assert!(
        out.contains("motion") && out.contains("linear") && out.contains("readout"),
        "{out}"
    );
    let _ = repo_root();
}
