//! Runs that last: finished work is never redone. Features come from the
//! content-addressed cache, finished tasks from the earlier results, and a
//! run killed with SIGKILL resumes without recomputing what it had finished.

use crate::common::{motion_data, results_json as results};
use std::path::Path;
use std::process::Command;

fn scivid_cmd(cache: &Path, out: &Path, steps: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scivid"));
    c.args([
        "run",
        "--task",
        "motion",
        "--backbone",
        "pixel8",
        "--readout",
        "flat=linear:pool=flatten",
        "--steps",
        steps,
        "--quiet",
        "--out",
    ])
    .arg(out)
    .arg("--data")
    .arg(motion_data())
    .env("SCIVID_CACHE_DIR", cache);
    c
}

fn cached_entries(cache: &Path) -> usize {
    scivid::cache::FeatureCache::new(cache.join("features"))
        .entries()
        .len()
}

/// The newest checkpoint of the (only) task training in `out`, if any.
fn latest_checkpoint(out: &Path) -> Option<String> {
    let ckpt = std::fs::read_dir(out.join("checkpoints"))
        .ok()?
        .flatten()
        .next()?
        .path();
    std::fs::read_to_string(ckpt.join("LATEST")).ok()
}

/// Kill `child` with SIGKILL once `ready(latest checkpoint)` holds; fails
/// if the run ends first or nothing comes within five minutes.
fn kill_when(child: &mut std::process::Child, out: &Path, ready: impl Fn(Option<String>) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !ready(latest_checkpoint(out)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the awaited checkpoint never appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn rerun_reuses_finished_tasks_and_cached_features() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, out) = (dir.path().join("cache"), dir.path().join("out"));
    let first = scivid_cmd(&cache, &out, "40").output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let r1 = results(&out);
    assert_eq!(r1["tasks"][0]["features"]["computed"], 384);

    // Same spec: the finished task is reused, nothing is recomputed.
    let again = scivid_cmd(&cache, &out, "40").output().unwrap();
    assert!(again.status.success());
    assert_eq!(results(&out)["tasks"][0], r1["tasks"][0]);

    // A new head changes the spec: training reruns, features come from the cache.
    let out2 = dir.path().join("out2");
    let other = scivid_cmd(&cache, &out2, "41").output().unwrap();
    assert!(other.status.success());
    let r2 = results(&out2);
    assert_eq!(r2["tasks"][0]["features"]["computed"], 0);
    assert_eq!(r2["tasks"][0]["features"]["cached"], 384);
}

#[test]
fn killed_run_resumes_without_recomputing_finished_features() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, out) = (dir.path().join("cache"), dir.path().join("out"));
    let mut child = scivid_cmd(&cache, &out, "300").spawn().unwrap();
    // Kill it (SIGKILL) as soon as some features are on disk.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while cached_entries(&cache) < 64 {
        assert!(std::time::Instant::now() < deadline, "no features appeared");
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = cached_entries(&cache);
    assert!(at_kill >= 64, "{at_kill}");

    let resumed = scivid_cmd(&cache, &out, "300").output().unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let r = results(&out);
    let (computed, cached) = (
        r["tasks"][0]["features"]["computed"].as_u64().unwrap(),
        r["tasks"][0]["features"]["cached"].as_u64().unwrap(),
    );
    assert_eq!(computed + cached, 384);
    assert!(
        cached as usize >= at_kill,
        "features finished before the kill were recomputed: {cached} < {at_kill}"
    );

    // The resumed run's numbers equal an uninterrupted run's.
    let clean = dir.path().join("clean");
    let fresh = scivid_cmd(&dir.path().join("cache2"), &clean, "300")
        .output()
        .unwrap();
    assert!(fresh.status.success());
    assert_eq!(
        r["tasks"][0]["heads"][0]["scores"],
        results(&clean)["tasks"][0]["heads"][0]["scores"]
    );
}

#[test]
fn cache_ls_and_gc() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, out) = (dir.path().join("cache"), dir.path().join("out"));
    assert!(
        scivid_cmd(&cache, &out, "5")
            .output()
            .unwrap()
            .status
            .success()
    );
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_scivid"))
            .args(args)
            .env("SCIVID_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let ls = run(&["cache", "ls"]);
    assert!(ls.contains("features         384 entries"), "{ls}");
    let entry_bytes = scivid::cache::FeatureCache::new(cache.join("features")).entries()[0].1;
    let gc = run(&[
        "cache",
        "gc",
        "--max-bytes",
        &(100 * entry_bytes).to_string(),
    ]);
    assert!(gc.starts_with("removed 284 feature entries"), "{gc}");
    assert_eq!(cached_entries(&cache), 100);
    run(&["cache", "gc", "--max-bytes", "0"]);
    assert_eq!(cached_entries(&cache), 0);
}

#[test]
fn results_show_and_compare_call_out_spec_differences() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(
        scivid_cmd(&cache, &a, "30")
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(
        scivid_cmd(&cache, &b, "30")
            .args(["--seed", "4"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let run = |args: &[&std::ffi::OsStr]| {
        let o = Command::new(env!("CARGO_BIN_EXE_scivid"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let show = run(&["results".as_ref(), "show".as_ref(), a.as_os_str()]);
    assert!(
        show.starts_with(&format!("scivid {}", env!("CARGO_PKG_VERSION")))
            && show.contains("| test | flat |"),
        "{show}"
    );
    let cmp = run(&[
        "results".as_ref(),
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
    ]);
    assert!(cmp.contains("| motion | test | flat | accuracy |"), "{cmp}");
    assert!(cmp.contains("- spec.seed: 0 -> 4"), "{cmp}");
    let same = run(&[
        "results".as_ref(),
        "compare".as_ref(),
        a.as_os_str(),
        a.as_os_str(),
    ]);
    assert!(
        same.contains("The runs have the same spec, plugins and data."),
        "{same}"
    );
    let json = results(&a);
    assert_eq!(json["schema"], 1);
    assert_eq!(json["spec"]["readouts"][0]["label"], "flat");
    assert_eq!(
        json["tasks"][0]["dataset_fingerprint"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn killed_training_resumes_from_its_checkpoint_with_the_same_numbers() {
    kill_mid_training_then_resume(&[]);
}

/// Online training draws each step's frames and augmentation from (seed,
/// step, clip): a resumed run sees the batches an uninterrupted one sees.
#[test]
fn killed_online_training_resumes_with_the_same_numbers() {
    kill_mid_training_then_resume(&["--mode", "online"]);
}

fn kill_mid_training_then_resume(mode: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (cache, out) = (dir.path().join("cache"), dir.path().join("out"));
    let mut args = vec![
        "--checkpoint-every",
        "25",
        "--readout",
        "drop=attention:width=16,heads=2,dropout=0.3",
        "--bootstrap",
        "0",
    ];
    args.extend_from_slice(mode);
    let mut child = scivid_cmd(&cache, &out, "800").args(&args).spawn().unwrap();
    kill_when(&mut child, &out, |l| {
        l.is_some_and(|l| l.as_str() >= "step-00000100")
    });
    assert!(
        !out.join("results.json").exists(),
        "killed before any task finished"
    );

    let resumed = scivid_cmd(&cache, &out, "800")
        .args(&args)
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let r = results(&out);
    let from = r["tasks"][0]["resumed_from_step"]
        .as_u64()
        .expect("the run resumed");
    assert!(from >= 100 && from.is_multiple_of(25), "{from}");
    assert!(
        !out.join("checkpoints").read_dir().unwrap().any(|_| true),
        "checkpoints of a finished task are removed"
    );

    let clean = dir.path().join("clean");
    let fresh = scivid_cmd(&cache, &clean, "800")
        .args(&args)
        .output()
        .unwrap();
    assert!(fresh.status.success());
    let c = results(&clean);
    assert_eq!(c["tasks"][0]["resumed_from_step"], serde_json::Value::Null);
    for i in 0..2 {
        assert_eq!(
            r["tasks"][0]["heads"][i]["final_train_loss"],
            c["tasks"][0]["heads"][i]["final_train_loss"],
            "head {i}"
        );
        assert_eq!(
            r["tasks"][0]["heads"][i]["scores"], c["tasks"][0]["heads"][i]["scores"],
            "head {i}"
        );
    }
}

/// Killed during evaluation (after the last training step): the rerun
/// resumes with training done (from the last step's checkpoint) and ends
/// with the numbers of an uninterrupted run.
#[test]
fn killed_evaluation_resumes_without_retraining() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, out) = (dir.path().join("cache"), dir.path().join("out"));
    // Many bootstrap resamples: an evaluation long enough to be killed in.
    let args = ["--checkpoint-every", "25", "--bootstrap", "20000"];
    let mut child = scivid_cmd(&cache, &out, "100").args(args).spawn().unwrap();
    kill_when(&mut child, &out, |l| l.as_deref() == Some("step-00000100"));
    assert!(
        !out.join("results.json").exists(),
        "killed during evaluation"
    );

    let resumed = scivid_cmd(&cache, &out, "100").args(args).output().unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let r = results(&out);
    assert_eq!(r["tasks"][0]["resumed_from_step"], 100, "no step retrained");
    let clean = dir.path().join("clean");
    let fresh = scivid_cmd(&cache, &clean, "100")
        .args(args)
        .output()
        .unwrap();
    assert!(fresh.status.success());
    let c = results(&clean);
    for key in ["final_train_loss", "scores", "ci", "loss_curve"] {
        assert_eq!(
            r["tasks"][0]["heads"][0][key], c["tasks"][0]["heads"][0][key],
            "{key}"
        );
    }
    assert_eq!(r["tasks"][0]["control_ci"], c["tasks"][0]["control_ci"]);
}

/// `--cache-dtype f16`: entries of their own (an f32 cache is not read),
/// half the bytes, read back by the next run; the scores barely move.
#[test]
fn an_f16_feature_cache_halves_the_entries_and_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let run = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let status = scivid_cmd(&cache, &out, "40").args(extra).status().unwrap();
        assert!(status.success());
        results(&out)
    };
    let f32_run = run("f32", &[]);
    let sizes = || -> (u64, u64) {
        let e = scivid::cache::FeatureCache::new(cache.join("features")).entries();
        (e.len() as u64, e.iter().map(|e| e.1).sum())
    };
    let (n32, f32_bytes) = sizes();
    let f16_run = run("f16", &["--cache-dtype", "f16"]);
    let t = &f16_run["tasks"][0];
    assert_eq!(t["features"]["storage"], "f16");
    assert_eq!(
        t["features"]["cached"], 0,
        "f32 entries are not f16 entries"
    );
    let (n, all) = sizes();
    let (n16, f16_bytes) = (n - n32, all - f32_bytes);
    assert_eq!(n16, n32);
    // Per entry: a 16-byte header and a 32-byte checksum, then the values.
    assert_eq!(2 * (f16_bytes - 48 * n16), f32_bytes - 48 * n32);
    let again = run("f16-again", &["--cache-dtype", "f16"]);
    assert_eq!(again["tasks"][0]["features"]["computed"], 0);
    assert_eq!(again["spec"]["cache_dtype"], "f16");
    let acc = |r: &serde_json::Value| {
        r["tasks"][0]["heads"][0]["scores"]["test"]["accuracy"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(acc(&f16_run), acc(&again), "the same f16 features");
    assert!(
        (acc(&f16_run) - acc(&f32_run)).abs() <= 0.1,
        "{} vs {}",
        acc(&f16_run),
        acc(&f32_run)
    );
}
