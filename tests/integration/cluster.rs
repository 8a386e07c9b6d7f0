//! Sharded runs: `scivid plan`, `scivid run --shard I/N` and `scivid merge`
//! give the results a single process gives; shards share the feature cache
//! (training shards read what extraction shards wrote, concurrent writers
//! are safe); the Slurm scripts chain the stages with afterok.

use crate::common::{motion_data, results_json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A run spec with two heads (one with dropout, so per-head seeds matter)
/// on the motion task, in 6 extraction shards and 2 training shards.
fn write_spec(dir: &Path) -> PathBuf {
    write_spec_with(dir, 60, 20, 50)
}

/// `write_spec` with its schedule, checkpoint cadence and bootstrap given.
pub fn write_spec_with(dir: &Path, steps: u32, checkpoint_every: u32, bootstrap: u32) -> PathBuf {
    let spec = format!(
        r#"backbone = "pixel8"
data = "{}"
bootstrap = {bootstrap}
checkpoint_every = {checkpoint_every}
shard_clips = 64

[[tasks]]
plugin = "motion"

[[readouts]]
label = "flat"
plugin = "linear"
config = {{ pool = "flatten" }}

[[readouts]]
label = "drop"
plugin = "attention"
config = {{ width = 16, heads = 2, dropout = 0.3 }}

[protocol]
steps = {steps}
"#,
        motion_data().display()
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

fn scivid(cache: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scivid"));
    c.args(args).env("SCIVID_CACHE_DIR", cache);
    c
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Results with what legitimately differs between two runs taken out: the
/// output folder and how features were obtained (cache hits or not).
fn comparable(mut r: serde_json::Value) -> serde_json::Value {
    r["spec"]["out"] = serde_json::Value::Null;
    for t in r["tasks"].as_array_mut().unwrap() {
        t["features"] = serde_json::Value::Null;
    }
    r
}

#[test]
fn sharded_run_merges_to_the_single_process_results() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path());
    let spec = spec.to_str().unwrap();
    let (single, sharded) = (dir.path().join("single"), dir.path().join("sharded"));

    let cache_a = dir.path().join("cache-a");
    let args = ["run", "--config", spec, "--quiet", "--out"];
    ok(
        scivid(&cache_a, &args).arg(&single).output().unwrap(),
        "single run",
    );

    // The shards run against a cache of their own, starting empty.
    let cache = dir.path().join("cache-b");
    let plan: serde_json::Value = serde_json::from_str(&ok(
        scivid(&cache, &["plan", "--config", spec, "--json"])
            .output()
            .unwrap(),
        "plan",
    ))
    .unwrap();
    let units = plan["units"].as_array().unwrap();
    let n = units.len();
    let stages: Vec<&str> = units.iter().map(|u| u["stage"].as_str().unwrap()).collect();
    assert_eq!(
        stages,
        [
            "extract", "extract", "extract", "extract", "extract", "extract", "train", "train"
        ],
        "256 train clips in 4 shards of 64, val and test one each, then one shard per head"
    );
    assert_eq!(units[3]["start"], 192);
    assert_eq!(units[3]["end"], 256);

    // A shard count that is not the plan's is refused before any work.
    let wrong = scivid(&cache, &args)
        .arg(&sharded)
        .args(["--shard", "0/5"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let e = String::from_utf8_lossy(&wrong.stderr);
    assert!(e.contains("8 shards, not 5"), "{e}");

    // Extraction shards two at a time, writing the one cache concurrently.
    let shard = |i: usize| {
        scivid(&cache, &args)
            .arg(&sharded)
            .args(["--shard", &format!("{i}/{n}")])
            .spawn()
            .unwrap()
    };
    for pair in [[0, 1], [2, 3], [4, 5]] {
        let children: Vec<_> = pair.iter().map(|&i| shard(i)).collect();
        for c in children {
            ok(c.wait_with_output().unwrap(), "extraction shard");
        }
    }
    let cached = scivid::cache::FeatureCache::new(cache.join("features"))
        .entries()
        .len();
    assert_eq!(cached, 384, "every clip of every split extracted once");
    let children: Vec<_> = [6, 7].iter().map(|&i| shard(i)).collect();
    for c in children {
        ok(c.wait_with_output().unwrap(), "training shard");
    }
    for i in [6, 7] {
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                sharded
                    .join("shards")
                    .join(format!("shard-{i:05}-of-{n:05}.json")),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (record["computed"].as_u64(), record["cached"].as_u64()),
            (Some(0), Some(384)),
            "training shard {i} reads the features the extraction shards wrote"
        );
    }

    // Run again, a finished shard does nothing.
    let again = ok(
        scivid(&cache, &args)
            .arg(&sharded)
            .args(["--shard", &format!("6/{n}")])
            .output()
            .unwrap(),
        "rerun",
    );
    assert!(again.contains("finished earlier"), "{again}");

    let merged = ok(
        scivid(&cache, &["merge"]).arg(&sharded).output().unwrap(),
        "merge",
    );
    assert!(merged.contains("| motion |"), "{merged}");
    let (a, b) = (results_json(&single), results_json(&sharded));
    assert_eq!(b["tasks"][0]["features"]["computed"], 384);
    assert_eq!(
        comparable(a),
        comparable(b),
        "the merged results are the single-process results"
    );
    // Byte for byte, so every score survived the shard records bit for bit.
    for f in ["results.csv", "results.md"] {
        assert_eq!(
            std::fs::read_to_string(single.join(f)).unwrap(),
            std::fs::read_to_string(sharded.join(f)).unwrap(),
            "{f}"
        );
    }

    // A missing training record is named, with what runs it.
    let record = sharded
        .join("shards")
        .join(format!("shard-00007-of-{n:05}.json"));
    std::fs::rename(&record, dir.path().join("aside.json")).unwrap();
    let missing = scivid(&cache, &["merge"]).arg(&sharded).output().unwrap();
    assert!(!missing.status.success());
    let e = String::from_utf8_lossy(&missing.stderr);
    assert!(
        e.contains("7/8 (train motion with drop)") && e.contains("--shard I/N"),
        "{e}"
    );
}

#[test]
fn slurm_dry_run_writes_chained_job_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path());
    let out = dir.path().join("out");
    let cache = dir.path().join("cache");
    let text = ok(
        scivid(
            &cache,
            &[
                "slurm",
                "submit",
                "--config",
                spec.to_str().unwrap(),
                "--partition",
                "gpu",
                "--gpus-per-task",
                "1",
                "--time",
                "2:00:00",
                "--sbatch-arg=--constraint=a100",
                "--dry-run",
                "--out",
            ],
        )
        .arg(&out)
        .output()
        .unwrap(),
        "dry run",
    );
    assert!(text.contains("nothing submitted"), "{text}");
    let slurm = out.join("slurm");
    let read = |f: &str| std::fs::read_to_string(slurm.join(f)).unwrap();
    let extract = read("extract.sbatch");
    for line in [
        "#SBATCH --array=0-5",
        "#SBATCH --requeue",
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --time=2:00:00",
        "#SBATCH --constraint=a100",
        "--shard \"$((SLURM_ARRAY_TASK_ID + 0))/8\"",
    ] {
        assert!(
            extract.contains(line),
            "extract.sbatch lacks `{line}`:\n{extract}"
        );
    }
    let train = read("train.sbatch");
    assert!(train.contains("#SBATCH --array=0-1"), "{train}");
    assert!(train.contains("$((SLURM_ARRAY_TASK_ID + 6))/8"), "{train}");
    let merge = read("merge.sbatch");
    assert!(merge.contains(" merge "), "{merge}");
    assert!(!merge.contains("gpus-per-task"), "merging needs no GPU");
    let submit = read("submit.sh");
    assert!(
        submit.contains("--dependency=afterok:\"${extract%%;*}\""),
        "{submit}"
    );
    assert!(
        submit.contains("--dependency=afterok:\"${train%%;*}\""),
        "{submit}"
    );
    // The spec the jobs run is the resolved one, with absolute paths.
    let resolved = scivid::spec::RunConfig::load(&slurm.join("run.toml")).unwrap();
    assert_eq!(resolved.out.as_deref(), Some(out.as_path()));
    assert_eq!(resolved.shard_clips, Some(64));
    assert_eq!(resolved.readouts.len(), 2);

    // A sweep: one run (spec, scripts, folder) per backbone and seed.
    let sweep = dir.path().join("sweep");
    ok(
        scivid(
            &cache,
            &[
                "slurm",
                "submit",
                "--config",
                spec.to_str().unwrap(),
                "--backbones",
                "pixel,pixel8",
                "--seeds",
                "0,1",
                "--dry-run",
                "--out",
            ],
        )
        .arg(&sweep)
        .output()
        .unwrap(),
        "sweep dry run",
    );
    for backbone in ["pixel", "pixel8"] {
        for seed in [0, 1] {
            let run = sweep.join(format!("{backbone}-seed{seed}"));
            let c = scivid::spec::RunConfig::load(&run.join("slurm/run.toml")).unwrap();
            assert_eq!(c.backbone.as_deref(), Some(backbone));
            assert_eq!(c.seed, Some(seed));
            assert_eq!(c.out.as_deref(), Some(run.as_path()));
        }
    }
}
