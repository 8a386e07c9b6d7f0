//! Builds the built-in plugins in `plugins/` for wasm32-wasip2 and embeds
//! them, so a fresh clone needs no extra step and `scivid` finds them
//! without being told where they are; and, with the `video` feature, the
//! C shim over FFmpeg's libraries when pkg-config finds them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (plugin name, crate name) of every built-in plugin.
const BUILTINS: &[(&str, &str)] = &[
    ("motion", "motion"),
    ("flyvsfly", "flyvsfly"),
    ("calms21", "calms21"),
    ("typhoon", "typhoon"),
    ("weatherbench2", "weatherbench2"),
    ("stir", "stir"),
    ("linear", "linear"),
    ("attention", "attention"),
    ("tracking", "tracking"),
    ("dpt", "dpt"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    let plugins = root.join("plugins");
    for p in [
        "plugins/Cargo.toml",
        "plugins/Cargo.lock",
        "plugins/tasks",
        "plugins/readouts",
        "sdk/src",
        "sdk/wit",
        "sdk/Cargo.toml",
        "sdk/records",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    record_git_commit(root);
    build_video_shim(&manifest_dir);
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = out.join("plugins-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(plugins.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir);
    // The outer build's settings are for the host target, not for Wasm.
    for var in [
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("cannot run cargo to build the built-in plugins");
    if !status.success() {
        panic!(
            "building the built-in plugins failed; is the wasm32-wasip2 target installed? \
             (rustup target add wasm32-wasip2)"
        );
    }
    let wasm_dir = target_dir.join("wasm32-wasip2").join("release");
    let mut code = String::from(
        "/// Built-in plugins: (name, component bytes).\npub const BUILTINS: &[(&str, &[u8])] = &[\n",
    );
    for (name, krate) in BUILTINS {
        let file = wasm_dir.join(format!("{krate}.wasm"));
        assert!(
            Path::new(&file).exists(),
            "built-in plugin {} was not produced",
            file.display()
        );
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            file.display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("builtin_plugins.rs"), code).unwrap();
}

/// With the `video` feature, compile `src/data/video/ffmpeg.c` against the
/// FFmpeg libraries pkg-config finds and set `cfg(scivid_ffmpeg)`. Their
/// absence is a warning, not a failure: the README's commands must build
/// on a machine without them (video sources then say what to install).
fn build_video_shim(manifest_dir: &Path) {
    println!("cargo::rustc-check-cfg=cfg(scivid_ffmpeg)");
    let shim = manifest_dir.join("src/data/video/ffmpeg.c");
    println!("cargo:rerun-if-changed={}", shim.display());
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if std::env::var_os("CARGO_FEATURE_VIDEO").is_none() {
        return;
    }
    let mut found = Vec::new();
    for lib in ["libavformat", "libavcodec", "libswscale", "libavutil"] {
        // Linked after the shim (below): a static archive must come before
        // the shared libraries that resolve its symbols.
        match pkg_config::Config::new().cargo_metadata(false).probe(lib) {
            Ok(lib) => found.push(lib),
            Err(e) => {
                println!(
                    "cargo:warning=video files disabled: {lib} not found ({}); \
                     on Debian: apt-get install libavformat-dev libavcodec-dev libswscale-dev",
                    e.to_string().lines().next().unwrap_or("")
                );
                return;
            }
        }
    }
    cc::Build::new()
        .file(&shim)
        .includes(found.iter().flat_map(|l| &l.include_paths))
        .warnings(true)
        .compile("scivid_ffmpeg");
    for lib in &found {
        for dir in &lib.link_paths {
            println!("cargo:rustc-link-search=native={}", dir.display());
        }
        for name in &lib.libs {
            println!("cargo:rustc-link-lib={name}");
        }
    }
    println!("cargo:rustc-cfg=scivid_ffmpeg");
}

/// Record the source commit for provenance, when built from a git checkout.
fn record_git_commit(root: &Path) {
    let head = root.join(".git").join("HEAD");
    if let Ok(text) = std::fs::read_to_string(&head) {
        println!("cargo:rerun-if-changed={}", head.display());
        if let Some(r) = text.trim().strip_prefix("ref: ") {
            println!(
                "cargo:rerun-if-changed={}",
                root.join(".git").join(r).display()
            );
        }
    }
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string());
    if let Some(c) = commit {
        println!("cargo:rustc-env=SCIVID_GIT_COMMIT={c}");
    }
}
