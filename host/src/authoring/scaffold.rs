//! `scivid new task|readout NAME`: a plugin crate that builds on its own,
//! outside any workspace: `Cargo.toml`, `src/lib.rs` (a working plugin with
//! a native unit test), `README.md`, `scivid.toml` (the run `scivid run`
//! does in that folder: the plugin, and a task's sample data), and the SDK this scivid speaks,
//! vendored under `vendor/scivid-sdk` (so the crate builds offline from the
//! registry cache and against exactly the host's contract). A task also gets
//! a small sample dataset in `sample-data/`.

use crate::data::synth;
use crate::runtime::builtin;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// What to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Task,
    Readout,
}

/// The SDK's sources, as this binary was built with them.
const SDK_FILES: [(&str, &str); 7] = [
    ("src/lib.rs", include_str!("../../../sdk/src/lib.rs")),
    (
        "src/bindings.rs",
        include_str!("../../../sdk/src/bindings.rs"),
    ),
    ("src/data.rs", include_str!("../../../sdk/src/data.rs")),
    (
        "src/metrics.rs",
        include_str!("../../../sdk/src/metrics.rs"),
    ),
    ("src/nn.rs", include_str!("../../../sdk/src/nn.rs")),
    ("src/tensor.rs", include_str!("../../../sdk/src/tensor.rs")),
    (
        "wit/tensor.wit",
        include_str!("../../../sdk/wit/tensor.wit"),
    ),
];

/// The SDK's ArrayRecord reader (a dependency of the SDK), vendored beside it.
const RECORDS_FILES: [(&str, &str); 5] = [
    (
        "src/lib.rs",
        include_str!("../../../sdk/records/src/lib.rs"),
    ),
    (
        "src/array_record.rs",
        include_str!("../../../sdk/records/src/array_record.rs"),
    ),
    (
        "src/example.rs",
        include_str!("../../../sdk/records/src/example.rs"),
    ),
    (
        "src/riegeli.rs",
        include_str!("../../../sdk/records/src/riegeli.rs"),
    ),
    (
        "src/tensor.rs",
        include_str!("../../../sdk/records/src/tensor.rs"),
    ),
];

const TASK_TEMPLATE: &str = include_str!("templates/task.rs.tmpl");
const READOUT_TEMPLATE: &str = include_str!("templates/readout.rs.tmpl");

/// The reader's dependencies, as the workspace pins them.
const RECORDS_DEPS: &str =
    "brotli-decompressor = \"5\"\nhighway = \"1\"\nruzstd = \"0.9\"\nsnap = \"1\"\n";

/// The SDK version the vendored copy carries (the host's).
fn sdk_version() -> &'static str {
    crate::runtime::sdk_version::HOST_SDK_VERSION
}

/// Create the crate for plugin `name` in `dir` (default `./NAME`); returns
/// the folder.
pub fn create(kind: Kind, name: &str, dir: Option<&Path>) -> Result<PathBuf> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "plugin name `{name}`: use 1-64 characters of a-z, 0-9 and `-`, starting with a letter"
        );
    }
    if builtin::names().any(|b| b == name) {
        bail!(
            "`{name}` is the name of a built-in plugin; a plugin of your own needs a name of its own"
        );
    }
    let root = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(name));
    if root.exists() && std::fs::read_dir(&root)?.next().is_some() {
        bail!(
            "{} already exists and is not empty; choose another name or --dir",
            root.display()
        );
    }
    let krate = name.replace('-', "_");
    let type_name: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{crate}}", &krate)
            .replace("{{Type}}", &type_name)
    };
    let write = |rel: &str, text: &str| -> Result<()> {
        let path = root.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    let (source, what) = match kind {
        Kind::Task => (TASK_TEMPLATE, "task"),
        Kind::Readout => (READOUT_TEMPLATE, "readout"),
    };
    write("Cargo.toml", &cargo_toml(name, what))?;
    write("src/lib.rs", &fill(source))?;
    write("README.md", &readme(kind, name, &krate))?;
    write(".gitignore", "/target\n/scivid-out\n")?;
    write(crate::cli::FOLDER_SPEC, &folder_spec(kind, &krate))?;
    for (rel, text) in SDK_FILES {
        write(&format!("vendor/scivid-sdk/{rel}"), text)?;
    }
    write(
        "vendor/scivid-sdk/Cargo.toml",
        &format!(
            "# The scivid plugin SDK {v}, vendored by `scivid new` from the scivid that made\n\
             # this crate: its WIT contract is exactly that host's.\n\
             [package]\nname = \"scivid-sdk\"\nversion = \"{v}\"\nedition = \"2024\"\n\
             license = \"Apache-2.0\"\npublish = false\n\n[dependencies]\n\
             scivid-records = {{ path = \"../scivid-records\" }}\n\
             wit-bindgen = {{ version = \"0.63\", default-features = false, features = [\"macros\", \"realloc\"] }}\n",
            v = sdk_version()
        ),
    )?;
    for (rel, text) in RECORDS_FILES {
        write(&format!("vendor/scivid-records/{rel}"), text)?;
    }
    write(
        "vendor/scivid-records/Cargo.toml",
        &format!(
            "# scivid's ArrayRecord reader {v}, vendored with the SDK.\n\
             [package]\nname = \"scivid-records\"\nversion = \"{v}\"\nedition = \"2024\"\n\
             license = \"Apache-2.0\"\npublish = false\n\n[dependencies]\n{deps}",
            v = sdk_version(),
            deps = RECORDS_DEPS
        ),
    )?;
    if kind == Kind::Task {
        let spec = synth::SynthSpec {
            train: 48,
            val: 16,
            test: 16,
            seed: 0,
        };
        synth::write("motion", &root.join("sample-data"), &spec)
            .context("writing the sample dataset")?;
    }
    Ok(root)
}

/// `scivid.toml`: what `scivid run` does in the crate's folder.
fn folder_spec(kind: Kind, krate: &str) -> String {
    let wasm = format!("target/wasm32-wasip2/release/{krate}.wasm");
    let body = match kind {
        Kind::Task => format!(
            "[[tasks]]\nplugin = \"{wasm}\"\ndata = \"sample-data\"  # granted read-only to this task\n"
        ),
        Kind::Readout => format!(
            "[[tasks]]\nplugin = \"motion\"  # a built-in task, on its synthetic stand-in\n\n\
             [[readouts]]\nplugin = \"{wasm}\"\n\n\
             [[readouts]]\nlabel = \"linear\"  # a baseline head to compare with\nplugin = \"linear\"\n"
        ),
    };
    format!(
        "# `scivid run` in this folder uses this run spec; flags override it\n\
         # (`scivid run --print-config` shows the result).\n\n{body}"
    )
}

fn cargo_toml(name: &str, what: &str) -> String {
    format!(
        "# A scivid {what} plugin: cargo build --release --target wasm32-wasip2\n\
         [package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\n# cdylib: the Wasm component; the unit tests also build natively.\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nscivid-sdk = {{ path = \"vendor/scivid-sdk\" }}\n\n\
         [profile.release]\nopt-level = \"s\"\nlto = true\nstrip = \"debuginfo\"\n\n\
         # A crate of its own, not a member of any enclosing workspace.\n[workspace]\n"
    )
}

fn readme(kind: Kind, name: &str, krate: &str) -> String {
    let wasm = format!("target/wasm32-wasip2/release/{krate}.wasm");
    let (what, run, data) = match kind {
        Kind::Task => (
            "task",
            format!("scivid run --task {wasm}   # data: sample-data, from scivid.toml"),
            "\n`sample-data/` is a small dataset in the layout `src/lib.rs` reads\n\
             (`SPLIT/labels.csv` with `id,file,label,video`, one uint8 `.npy` video per\n\
             clip). `scivid data check {wasm} DIR` validates a dataset directory\n\
             against the task.\n"
                .replace("{wasm}", &wasm),
        ),
        Kind::Readout => (
            "readout",
            "scivid run   # scivid.toml: the motion task, this readout and `linear`".to_string(),
            String::new(),
        ),
    };
    format!(
        "# {name}\n\nA scivid {what} plugin, made with `scivid new {what} {name}`.\n\n\
         ```\nrustup target add wasm32-wasip2          # once\n\
         cargo build --release --target wasm32-wasip2\n\
         cargo test                               # the unit tests, natively\n\
         scivid plugins check {wasm}\n{test}{run}\n```\n{data}\n\
         `src/lib.rs` says what to edit. The SDK ({v}) is vendored in\n\
         `vendor/scivid-sdk`; its guide is `docs/SDK.md` in the scivid repository.\n\
         The host refuses a plugin built against an SDK it does not speak, naming\n\
         both versions.\n",
        test = if kind == Kind::Task {
            format!("scivid plugins test {wasm} --data sample-data\n")
        } else {
            String::new()
        },
        v = sdk_version()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every source file of the SDK and of its reader is vendored: a file
    /// added to either without being listed here would leave `scivid new`
    /// crates that do not build.
    #[test]
    fn every_sdk_and_reader_source_is_vendored() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (dir, listed) in [
            ("sdk/src", SDK_FILES.map(|(rel, _)| rel).to_vec()),
            (
                "sdk/records/src",
                RECORDS_FILES.map(|(rel, _)| rel).to_vec(),
            ),
        ] {
            let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| format!("src/{}", e.unwrap().file_name().to_string_lossy()))
                .collect();
            files.sort();
            let mut listed: Vec<String> = listed
                .into_iter()
                .filter(|r| r.starts_with("src/"))
                .map(String::from)
                .collect();
            listed.sort();
            assert_eq!(files, listed, "{dir}");
        }
    }
}
