//! Run specs in TOML: file values, flag overrides, the resolved print-out,
//! and clear errors for bad keys.

use crate::common::{motion_data, scivid};

fn write_spec(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let data = motion_data();
    let text = format!(
        r#"
seed = 3
out = "res"
data = "{}"
quick = true

[[tasks]]
plugin = "motion"

[[readouts]]
label = "flat"
plugin = "linear"
config = {{ pool = "flatten" }}

[[readouts]]
label = "probe"
plugin = "attention"
config = {{ width = 32, heads = 4 }}

[protocol]
steps = 200
learning_rate = 0.002

[budgets]
fuel = 5000000000

[budgets.for.probe]
ops = 5000
{extra}
"#,
        data.display()
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn print_config_resolves_file_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "");
    let (code, out, err) = scivid(
        &["run", "--config", spec.to_str().unwrap(), "--print-config"],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let resolved: toml::Value = toml::from_str(&out).unwrap();
    assert_eq!(resolved["seed"].as_integer(), Some(3));
    assert_eq!(
        resolved["out"].as_str().unwrap(),
        dir.path().join("res").to_str().unwrap(),
        "relative to the file"
    );
    assert_eq!(resolved["readouts"][1]["label"].as_str(), Some("probe"));
    assert_eq!(
        resolved["readouts"][1]["config"]["width"].as_str(),
        Some("32")
    );
    assert_eq!(
        resolved["budgets"]["fuel"].as_integer(),
        Some(5_000_000_000)
    );
    assert_eq!(
        resolved["budgets"]["for"]["probe"]["ops"].as_integer(),
        Some(5000)
    );
    assert_eq!(
        resolved["budgets"]["for"]["probe"]["fuel"].as_integer(),
        Some(5_000_000_000)
    );
    // --quick divides the file's 200 steps by 10; warmup 30 -> 3.
    assert!(out.contains("# task `motion` runs with: steps = 20, batch_size = 32, learning_rate = 0.002, warmup_steps = 3"), "{out}");

    // Flags override the file.
    let (code, out, _) = scivid(
        &[
            "run",
            "--config",
            spec.to_str().unwrap(),
            "--steps",
            "70",
            "--seed",
            "9",
            "--print-config",
        ],
        dir.path(),
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("steps = 7,") && out.contains("seed = 9"),
        "{out}"
    );

    // The printed spec is itself a spec that loads to the same print-out.
    let (_, first, _) = scivid(
        &["run", "--config", spec.to_str().unwrap(), "--print-config"],
        dir.path(),
    );
    let again = dir.path().join("again.toml");
    std::fs::write(&again, &first).unwrap();
    let (code, second, err) = scivid(
        &["run", "--config", again.to_str().unwrap(), "--print-config"],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(first, second);
}

#[test]
fn a_spec_file_runs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "");
    let (code, out, err) = scivid(
        &["run", "--config", spec.to_str().unwrap(), "--quiet"],
        dir.path(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("| test | flat |") && out.contains("| test | probe |"),
        "{out}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("res/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["seed"], 3);
    assert_eq!(json["tasks"][0]["protocol"]["steps"], 20);
}

#[test]
fn bad_spec_files_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "\n[surprise]\nx = 1\n");
    let (code, _, err) = scivid(&["run", "--config", spec.to_str().unwrap()], dir.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("run.toml") && err.contains("unknown field `surprise`"),
        "{err}"
    );
    std::fs::write(&spec, "mode = \"live\"\n").unwrap();
    let (code, _, err) = scivid(&["run", "--config", spec.to_str().unwrap()], dir.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("mode `live`") && err.contains("`cached`") && err.contains("`online`"),
        "{err}"
    );
    let (code, _, err) = scivid(&["run", "--config", "missing.toml"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("cannot read run spec missing.toml"), "{err}");
}

#[test]
fn the_example_spec_in_the_repo_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let example = crate::common::repo_root().join("examples/run-spec.toml");
    let (code, out, err) = scivid(
        &[
            "run",
            "--config",
            example.to_str().unwrap(),
            "--print-config",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("label = \"attention\"")
            && out.contains("wall_ms = 60000")
            && out.contains("cache_dtype = \"f32\""),
        "{out}"
    );
}
