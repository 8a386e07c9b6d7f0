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
