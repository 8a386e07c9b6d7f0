//! The hostile-plugin suite: each plugin in `tests/plugins` attacks one
//! thing. For each, the test checks the error names the plugin and the rule,
//! that the host survives, and that the rest of the run finishes with its
//! results on disk. The table in `docs/SECURITY.md` is generated from this
//! run: the test fails if it is out of date (regenerate with
//! `SCIVID_BLESS=1 cargo test --workspace security`).

use crate::common::{quick_spec, repo_root, test_plugin};
use scivid::pipeline::{self, HeadSpec, PluginRef};
use scivid::runtime::{Budgets, Runtime};
use std::path::{Path, PathBuf};

struct Row {
    attack: &'static str,
    plugin: String,
    rule: &'static str,
    outcome: String,
    rest_finished: bool,
}

/// A motion dataset with bait outside it and symlinks that point out.
fn bait_dataset(root: &Path) -> PathBuf {
    let data = crate::common::small_motion(root, 96, 32, 3);
    std::fs::write(root.join("secret.txt"), "top secret").unwrap();
    std::fs::copy(data.join("test/clip_00000.npy"), root.join("secret.npy")).unwrap();
    std::os::unix::fs::symlink(root.join("secret.txt"), data.join("link-to-secret.txt")).unwrap();
    std::os::unix::fs::symlink(root.join("secret.npy"), data.join("link-to-secret.npy")).unwrap();
    std::os::unix::fs::symlink(root, data.join("escape-link")).unwrap();
    data
}

fn normalise(s: &str, tmp: &Path) -> String {
    let plugins = test_plugin("probe").parent().unwrap().to_path_buf();
    // Byte offsets depend on the exact binary; the rest is deterministic.
    let s = match s.find(" (at offset 0x") {
        Some(i) => format!(
            "{}{}",
            &s[..i],
            &s[i..].split_once(')').map(|x| x.1).unwrap_or("")
        ),
        None => s.to_string(),
    };
    s.replace(&plugins.display().to_string(), "<plugins>")
        .replace(&tmp.display().to_string(), "<tmp>")
        .replace('|', "/")
        .replace('\n', " ")
}

/// Run motion with a good head and `plugin` as a second head.
fn readout_attack(
    attack: &'static str,
    plugin: &str,
    rule: &'static str,
    expect: &[&str],
    tweak: impl FnOnce(&mut Budgets),
) -> Row {
    let tmp = tempfile::tempdir().unwrap();
    let bad = format!("bad={}", test_plugin(plugin).display());
    let mut spec = quick_spec(tmp.path(), &["good=linear:pool=flatten", &bad], 20);
    tweak(&mut spec.budgets);
    let results = pipeline::run(&spec).unwrap_or_else(|e| panic!("{attack}: the run died: {e:#}"));
    let task = &results.tasks[0];
    assert!(
        task.error.is_none(),
        "{attack}: task failed: {:?}",
        task.error
    );
    let (good, badh) = (&task.heads[0], &task.heads[1]);
    let outcome = badh
        .error
        .clone()
        .unwrap_or_else(|| panic!("{attack}: the hostile head was not stopped"));
    for e in expect {
        assert!(outcome.contains(e), "{attack}: `{outcome}` lacks `{e}`");
    }
    let on_disk = crate::common::results_json(tmp.path());
    let rest_finished = good.error.is_none()
        && good.steps == 20
        && on_disk["tasks"][0]["heads"][0]["scores"]["test"]["accuracy"]
            .as_f64()
            .is_some();
    assert!(
        rest_finished,
        "{attack}: the good head did not finish: {:?}",
        good.error
    );
    Row {
        attack,
        plugin: plugin.into(),
        rule,
        outcome: normalise(&outcome, tmp.path()),
        rest_finished,
    }
}

/// Run `plugin` as a task next to the built-in motion task.
fn task_attack(attack: &'static str, plugin: &str, rule: &'static str, expect: &[&str]) -> Row {
    let tmp = tempfile::tempdir().unwrap();
    let data = bait_dataset(tmp.path());
    let out = tmp.path().join("out");
    let mut spec = quick_spec(&out, &["good=linear:pool=flatten"], 20);
    spec.tasks = vec![
        PluginRef::File(test_plugin(plugin)),
        PluginRef::Builtin("motion".into()),
    ];
    spec.data = Some(data);
    let results = pipeline::run(&spec).unwrap_or_else(|e| panic!("{attack}: the run died: {e:#}"));
    let outcome = results.tasks[0]
        .error
        .clone()
        .unwrap_or_else(|| panic!("{attack}: the hostile task was not stopped"));
    for e in expect {
        assert!(outcome.contains(e), "{attack}: `{outcome}` lacks `{e}`");
    }
    let motion = &results.tasks[1];
    let on_disk = crate::common::results_json(&out);
    let rest_finished = motion.error.is_none()
        && motion.heads[0].error.is_none()
        && on_disk["tasks"][1]["heads"][0]["scores"]["test"]["accuracy"]
            .as_f64()
            .is_some();
    assert!(
        rest_finished,
        "{attack}: motion did not finish: {:?}",
        motion.error
    );
    assert!(
        !outcome.contains("READ"),
        "{attack}: a read outside the grant succeeded: {outcome}"
    );
    Row {
        attack,
        plugin: plugin.into(),
        rule,
        outcome: normalise(&outcome, tmp.path()),
        rest_finished,
    }
}

/// Loading alone must refuse the file.
fn load_attack(
    attack: &'static str,
    file: &Path,
    rule: &'static str,
    expect: &str,
    tmp: &Path,
) -> Row {
    let rt = Runtime::new(None).unwrap();
    let e = format!(
        "{:#}",
        rt.load_file(file)
            .err()
            .unwrap_or_else(|| panic!("{attack}: loaded"))
    );
    assert!(e.contains(expect), "{attack}: `{e}` lacks `{expect}`");
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    Row {
        attack,
        plugin: name,
        rule,
        outcome: normalise(&e, tmp),
        rest_finished: true,
    }
}

fn probe(seed: u64) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let bad = format!("probe={}", test_plugin("probe").display());
    let mut spec = quick_spec(tmp.path(), &[&bad], 5);
    spec.seed = seed;
    let r = pipeline::run(&spec).unwrap();
    r.tasks[0].heads[0].error.clone().unwrap()
}

#[test]
fn hostile_plugin_suite() {
    let mut rows = vec![
        readout_attack(
            "infinite loop",
            "hostile-loop",
            "fuel per call",
            &["hostile-loop", "fuel budget", "--budget-fuel"],
            |b| b.fuel_per_call = 200_000_000,
        ),
        readout_attack(
            "infinite loop, unlimited fuel",
            "hostile-loop",
            "wall clock per call (epoch deadline)",
            &["wall-time budget", "--budget-wall-ms"],
            |b| {
                b.fuel_per_call = u64::MAX;
                b.wall_ms_per_call = 300;
            },
        ),
        readout_attack(
            "unbounded memory growth",
            "hostile-alloc",
            "linear memory (StoreLimits, trap on grow failure)",
            &["memory budget", "--budget-memory"],
            |b| b.memory_bytes = 64 << 20,
        ),
        readout_attack(
            "host-tensor bomb (10^6 x 10^6)",
            "tensor-bomb",
            "host tensor bytes, checked before allocation",
            &["tensor-bytes budget", "--budget-tensor-bytes"],
            |_| {},
        ),
        readout_attack(
            "many large host tensors kept alive",
            "tensor-hoard",
            "host tensor bytes held",
            &["tensor-bytes budget"],
            |b| b.tensor_bytes = 512 << 20,
        ),
        readout_attack(
            "op flood (50M tiny ops)",
            "op-flood",
            "host ops per call",
            &["host-op budget", "--budget-ops"],
            |_| {},
        ),
        readout_attack(
            "one huge host op (a 17 GFLOP matmul; budget lowered to 1 GFLOP)",
            "flop-bomb",
            "host-op FLOPs per call, estimated and charged before the op runs",
            &["flop-bomb", "host-flop budget", "--budget-flops"],
            |b| b.flops_per_call = 1_000_000_000,
        ),
        readout_attack(
            "deep recursion",
            "deep-recursion",
            "stack bounds: the shadow stack in linear memory, or the 1 MiB Wasm stack",
            &["deep-recursion", "trapped"],
            |_| {},
        ),
        readout_attack(
            "lying about output shape",
            "shape-liar",
            "returned shapes checked against the spec",
            &["returned shape", "expected [32, 4]"],
            |_| {},
        ),
        readout_attack(
            "NaN and Inf outputs",
            "nan-output",
            "finite training loss",
            &["training loss is NaN"],
            |_| {},
        ),
        readout_attack(
            "cutting the autodiff graph",
            "cut-graph",
            "every parameter gets a gradient",
            &["received no gradient"],
            |_| {},
        ),
        readout_attack(
            "claiming a built-in's name",
            "name-claim",
            "file plugins cannot take built-in names",
            &["claims the name `linear`"],
            |_| {},
        ),
        task_attack(
            "reading outside the grant (.., absolute, symlinks)",
            "escape",
            "read-only preopen of the dataset directory only",
            &[
                "ESCAPE",
                "/data/../secret.txt: denied",
                "/etc/passwd: denied",
                "/data/link-to-secret.txt: denied",
            ],
        ),
        task_attack(
            "panic during metric accumulation",
            "metrics-panic",
            "trap isolates the job",
            &["panicked", "deliberate panic"],
        ),
        task_attack(
            "huge metrics list and names",
            "huge-metrics",
            "at most 256 metrics of 128 bytes",
            &["100000 metrics"],
        ),
    ];

    // Clip paths that climb out are refused by the host's decoder too.
    let tmp = tempfile::tempdir().unwrap();
    let data = bait_dataset(tmp.path());
    for (path, expect) in [
        ("../secret.npy", "without `..`"),
        ("/etc/passwd", "without `..`"),
        ("link-to-secret.npy", "leads outside the dataset directory"),
    ] {
        let e = format!(
            "{:#}",
            scivid::data::clips::resolve_inside(&data, path).unwrap_err()
        );
        assert!(e.contains(expect), "{path}: {e}");
    }
    rows.push(Row {
        attack: "clip spec paths out of the dataset (.., absolute, symlink)",
        plugin: "(host decoder)".into(),
        rule: "paths resolved inside the canonical dataset directory",
        outcome: "refused: `../secret.npy` and `/etc/passwd` (must be relative, without `..`); `link-to-secret.npy` (leads outside the dataset directory)".into(),
        rest_finished: true,
    });

    // Environment, clocks, randomness and network, as seen from inside.
    let seen = probe(0);
    for want in [
        "env=[]",
        "args=[]",
        "passwd=denied",
        "tcp=denied",
        "udp=denied",
        "wall=0 ",
    ] {
        assert!(seen.contains(want), "probe: `{seen}` lacks `{want}`");
    }
    assert_eq!(
        seen,
        probe(0),
        "what a plugin sees must be deterministic for a seed"
    );
    rows.push(Row {
        attack: "probing environment, args, files, network, clocks, randomness",
        plugin: "probe".into(),
        rule: "nothing granted; frozen clocks; randomness seeded by the run",
        outcome: normalise(&seen, tmp.path()),
        rest_finished: true,
    });

    // Files that are not valid plugins.
    let malformed = tmp.path().join("malformed.wasm");
    let bytes = std::fs::read(test_plugin("hostile-loop")).unwrap();
    std::fs::write(&malformed, &bytes[..bytes.len() / 2]).unwrap();
    rows.push(load_attack(
        "malformed component (truncated)",
        &malformed,
        "validated before compiling",
        "malformed",
        tmp.path(),
    ));
    rows.push(load_attack(
        "component exporting no scivid world",
        &test_plugin("no-exports"),
        "world checked from the component type",
        "exports neither",
        tmp.path(),
    ));
    rows.push(load_attack(
        "built against an incompatible SDK (9.0.0)",
        &test_plugin("future-sdk"),
        "semver check before compiling",
        "9.0.0",
        tmp.path(),
    ));

    let wrong = tempfile::tempdir().unwrap();
    let mut spec = quick_spec(wrong.path(), &["good=linear"], 5);
    spec.heads.push(HeadSpec {
        label: "t".into(),
        plugin: PluginRef::Builtin("motion".into()),
        config: vec![],
        tasks: vec![],
    });
    let e = format!("{:#}", pipeline::run(&spec).unwrap_err());
    assert!(e.contains("is a task plugin, not a readout"), "{e}");
    rows.push(Row {
        attack: "a task passed where a readout is expected",
        plugin: "motion".into(),
        rule: "kind checked before the run starts",
        outcome: e,
        rest_finished: true,
    });

    write_or_check_table(&rows);
}

const BEGIN: &str = "<!-- generated by tests/integration/security.rs: begin -->";
const END: &str = "<!-- generated by tests/integration/security.rs: end -->";

fn write_or_check_table(rows: &[Row]) {
    let mut table = String::from(
        "| attack | plugin | what stops it | outcome (the error the run records) | rest of the run finished |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        table.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            r.attack,
            r.plugin,
            r.rule,
            r.outcome.replace('|', "/"),
            if r.rest_finished { "yes" } else { "no" }
        ));
    }
    let path = repo_root().join("docs/SECURITY.md");
    let doc = std::fs::read_to_string(&path).expect("docs/SECURITY.md exists");
    let (head, rest) = doc
        .split_once(BEGIN)
        .expect("begin marker in docs/SECURITY.md");
    let (_, tail) = rest
        .split_once(END)
        .expect("end marker in docs/SECURITY.md");
    let fresh = format!("{head}{BEGIN}\n{table}{END}{tail}");
    if std::env::var_os("SCIVID_BLESS").is_some() {
        std::fs::write(&path, fresh).unwrap();
    } else {
        assert!(
            doc == fresh,
            "docs/SECURITY.md is out of date with the hostile-plugin suite; regenerate it with \
             `SCIVID_BLESS=1 cargo test --workspace hostile_plugin_suite`"
        );
    }
}
