//! Shared helpers: building Wasm test plugins once, running the CLI, small
//! quick run specs, and screenshots of a page in headless Chromium.

use scivid::pipeline::{HeadSpec, PluginRef, RunSpec};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Serialises nested cargo builds (they would block on each other anyway).
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Build a wasm32-wasip2 workspace and return its release output folder.
pub fn build_wasm(manifest: &Path, target_sub: &str) -> PathBuf {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let target = target_dir().join(target_sub);
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building {} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("wasm32-wasip2").join("release")
}

/// The hostile and broken plugins of `tests/plugins`, built once.
pub fn test_plugin(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        build_wasm(
            &repo_root().join("tests/plugins/Cargo.toml"),
            "test-plugins",
        )
    });
    let path = dir.join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// The motion dataset, generated once per test process (small splits).
pub fn motion_data() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let spec = scivid::data::synth::SynthSpec {
            train: 256,
            val: 64,
            test: 64,
            seed: 7,
        };
        let version = scivid::data::synth::GENERATOR_VERSION;
        let dir = target_dir()
            .join("test-data")
            .join(format!("motion-v{version}-seed7"));
        if !scivid::data::synth::is_complete(&dir, "motion", &spec) {
            scivid::data::synth::write("motion", &dir, &spec).expect("write motion data");
        }
        dir
    })
    .clone()
}

/// A quick run of the motion task with `heads`.
pub fn quick_spec(out: &Path, heads: &[&str], steps: u32) -> RunSpec {
    let mut spec = RunSpec::default_run(out.to_path_buf());
    spec.tasks = vec![PluginRef::Builtin("motion".into())];
    spec.heads = heads.iter().map(|h| HeadSpec::parse(h).unwrap()).collect();
    spec.data = Some(motion_data());
    spec.backbone = "pixel8".into();
    spec.protocol.steps = Some(steps);
    spec.progress = false;
    spec.cache_dir = Some(target_dir().join("test-cache"));
    spec
}

/// Run the `scivid` binary; returns (exit code, stdout, stderr).
pub fn scivid(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scivid"))
        .args(args)
        .current_dir(cwd)
        .env("SCIVID_CACHE_DIR", target_dir().join("test-cache"))
        .output()
        .expect("run scivid");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A private small motion dataset in `dir/data` (for tests that damage or bait it).
pub fn small_motion(dir: &Path, train: usize, test: usize, seed: u64) -> PathBuf {
    let data = dir.join("data");
    let spec = scivid::data::synth::SynthSpec {
        train,
        val: 8,
        test,
        seed,
    };
    scivid::data::synth::write("motion", &data, &spec).expect("write motion data");
    data
}

/// `DIR/results.json`, parsed.
pub fn results_json(dir: &Path) -> serde_json::Value {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// The pixels of a page as Debian's headless Chromium draws it.
pub struct Screenshot {
    /// RGB(A) samples per pixel.
    pixels: Vec<Vec<u8>>,
}

impl Screenshot {
    /// Render `page` in a window `width` x `height`; fails the test if
    /// Chromium is missing, draws nothing, or logs a console message.
    pub fn of(page: &Path, width: u32, height: u32) -> Screenshot {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: install Debian's `chromium` package (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let shot = dir.path().join("shot.png");
        let o = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&o.stderr);
        assert!(shot.exists(), "no screenshot; chromium said:\n{log}");
        assert!(!log.contains("CONSOLE"), "console messages:\n{log}");
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        let pixels = buf[..info.buffer_size()]
            .chunks(channels)
            .map(|p| p.to_vec())
            .collect();
        Screenshot { pixels }
    }

    /// Pixels of exactly this colour.
    pub fn count(&self, rgb: [u8; 3]) -> usize {
        self.count_where(|p| p == rgb)
    }

    /// Pixels whose RGB satisfies `pred`.
    pub fn count_where(&self, pred: impl Fn([u8; 3]) -> bool) -> usize {
        self.pixels
            .iter()
            .filter(|p| pred([p[0], p[1], p[2]]))
            .count()
    }

    pub fn total(&self) -> usize {
        self.pixels.len()
    }
}
