//! Faults outside plugins: bad output locations and corrupt dataset files
//! get one clear error naming the path, and nothing half-written is left.

use crate::common::{quick_spec, scivid};
use scivid::pipeline;

/// A private copy of a small motion dataset that a test may damage.
fn damaged_copy(dir: &std::path::Path) -> std::path::PathBuf {
    crate::common::small_motion(dir, 64, 16, 5)
}

#[test]
fn output_directory_that_cannot_be_created_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = blocker.join("results");
    let (code, _, err) = scivid(
        &["run", "--out", out.to_str().unwrap(), "--quiet"],
        dir.path(),
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot create output directory") && err.contains("a-file/results"),
        "{err}"
    );
}

#[test]
fn truncated_clip_fails_its_task_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = damaged_copy(dir.path());
    let victim = data.join("train/clip_00003.npy");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() - 100]).unwrap();
    let mut spec = quick_spec(&dir.path().join("out"), &["flat=linear:pool=flatten"], 5);
    spec.data = Some(data);
    let results = pipeline::run(&spec).unwrap();
    let e = results.tasks[0].error.as_deref().unwrap();
    assert!(
        e.contains("train/clip_00003.npy") && e.contains("truncated or corrupt"),
        "{e}"
    );
    // The failure is recorded in results.json, written whole.
    let json = crate::common::results_json(&dir.path().join("out"));
    assert!(
        json["tasks"][0]["error"]
            .as_str()
            .unwrap()
            .contains("clip_00003.npy")
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn wrong_dtype_clip_fails_naming_the_file_and_the_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let data = damaged_copy(dir.path());
    let victim = data.join("test/clip_00001.npy");
    let floats = vec![0u8; 16 * 32 * 32 * 3 * 4];
    std::fs::write(
        &victim,
        scivid::data::npy::to_bytes(scivid::data::npy::Dtype::F32, &[16, 32, 32, 3], &floats),
    )
    .unwrap();
    let mut spec = quick_spec(&dir.path().join("out"), &["flat=linear:pool=flatten"], 5);
    spec.data = Some(data);
    let results = pipeline::run(&spec).unwrap();
    let e = results.tasks[0].error.as_deref().unwrap();
    assert!(
        e.contains("test/clip_00001.npy") && e.contains("must be uint8"),
        "{e}"
    );
}

#[test]
fn label_out_of_range_fails_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = damaged_copy(dir.path());
    let labels = data.join("val/labels.csv");
    let text = std::fs::read_to_string(&labels)
        .unwrap()
        .replacen(",right,", ",sideways,", 1);
    let text = if text.contains("sideways") {
        text
    } else {
        text.replacen(",left,", ",sideways,", 1)
    };
    std::fs::write(&labels, text).unwrap();
    let mut spec = quick_spec(&dir.path().join("out"), &["flat=linear:pool=flatten"], 5);
    spec.data = Some(data);
    let results = pipeline::run(&spec).unwrap();
    let e = results.tasks[0].error.as_deref().unwrap();
    assert!(
        e.contains("/data/val/labels.csv line") && e.contains("unknown label `sideways`"),
        "{e}"
    );
}

/// A small tmpfs mounted for one test (root only); unmounted on drop.
struct FullDisk(std::path::PathBuf);

impl FullDisk {
    /// `None` (with the reason) where mounting is not possible here; under
    /// `SCIVID_REQUIRE_MOUNT=1` (set by `.ci/run`) that is a failure.
    fn mount(dir: &std::path::Path, bytes: usize) -> Option<FullDisk> {
        let at = dir.join("small-disk");
        std::fs::create_dir_all(&at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&at)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(FullDisk(at)),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("SCIVID_REQUIRE_MOUNT").as_deref() != Ok("1"),
                    "SCIVID_REQUIRE_MOUNT=1 but a tmpfs cannot be mounted: {why}"
                );
                eprintln!("SKIPPED (cannot mount a small tmpfs here: {why})");
                None
            }
        }
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_output_disk_is_a_clear_error_and_leaves_no_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = FullDisk::mount(dir.path(), 64 << 10) else {
        return;
    };
    // Fill it: not a byte left for results.
    let mut filler = std::fs::File::create(disk.0.join("filler")).unwrap();
    while std::io::Write::write_all(&mut filler, &[0u8; 4096]).is_ok() {}
    drop(filler);
    let out = disk.0.join("out");
    let mut spec = quick_spec(&out, &["flat=linear:pool=flatten"], 5);
    spec.checkpoint_every = 0;
    spec.bootstrap = 0;
    let e = format!("{:#}", pipeline::run(&spec).unwrap_err());
    assert!(
        e.contains("results.json") && e.contains("No space left on device"),
        "{e}"
    );
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "checkpoints")
        .collect();
    assert!(left.is_empty(), "nothing half-written is left: {left:?}");
}

#[test]
fn full_cache_disk_warns_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = FullDisk::mount(dir.path(), 64 << 10) else {
        return;
    };
    let data = damaged_copy(dir.path());
    let out = dir.path().join("out");
    let mut spec = quick_spec(&out, &["flat=linear:pool=flatten"], 5);
    spec.data = Some(data);
    spec.cache_dir = Some(disk.0.join("cache"));
    spec.bootstrap = 0;
    let r = pipeline::run(&spec).unwrap();
    let task = &r.tasks[0];
    assert!(task.error.is_none(), "{:?}", task.error);
    assert!(task.heads[0].error.is_none());
    assert_eq!(
        task.features["computed"], 88,
        "every clip computed, none lost"
    );
    assert!(out.join("results.json").exists());
}

/// `--skip-bad N`: up to N unreadable clips are left out, each named in the
/// results with why; one more and the task fails as without it.
#[test]
fn skip_bad_leaves_out_counted_unreadable_clips() {
    let dir = tempfile::tempdir().unwrap();
    let data = damaged_copy(dir.path());
    let truncate = |rel: &str| {
        let p = data.join(rel);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    };
    truncate("train/clip_00003.npy");
    truncate("test/clip_00001.npy");
    let spec_with = |skip: usize, out: &str| {
        let mut spec = quick_spec(&dir.path().join(out), &["flat=linear:pool=flatten"], 5);
        spec.data = Some(data.clone());
        spec.skip_bad = skip;
        spec.bootstrap = 0;
        spec
    };
    let r = pipeline::run(&spec_with(2, "two")).unwrap();
    let t = &r.tasks[0];
    assert!(t.error.is_none(), "{:?}", t.error);
    let skipped: Vec<(&str, &str)> = t
        .skipped
        .iter()
        .map(|s| (s.split.as_str(), s.clip.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        t.skipped
            .iter()
            .all(|s| s.error.contains("truncated or corrupt"))
    );
    assert_eq!(
        t.features["computed"].as_u64().unwrap() + t.features["cached"].as_u64().unwrap(),
        86,
        "88 clips, 2 skipped"
    );
    let md = std::fs::read_to_string(dir.path().join("two/results.md")).unwrap();
    assert!(md.contains("Skipped 2 unreadable clip(s)"), "{md}");

    let r = pipeline::run(&spec_with(1, "one")).unwrap();
    let e = r.tasks[0].error.as_deref().unwrap();
    assert!(
        e.contains("test/clip_00001.npy") && e.contains("--skip-bad"),
        "the second bad clip is over the budget of one: {e}"
    );
}
