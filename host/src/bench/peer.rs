//! The peer benchmarks (shared/reference-bench), run from `scivid bench
//! all`: [`run_peer`] runs a script once and reads its JSON record;
//! [`PeerStepper`] keeps a peer's forward pass loaded in a Python process
//! and times one repetition at a time, so that scivid's repetitions and the
//! peer's can alternate.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Run one peer script with `--json` and read `field` from its record.
pub fn run_peer(
    python: &Path,
    dir: &Path,
    script: &str,
    args: &[&str],
    field: &str,
) -> Result<f64> {
    eprintln!("bench: peer {script} {}", args.join(" "));
    let record = scratch_file("peer", "jsonl");
    let out = python_in(python, dir)
        .arg(script)
        .args(args)
        .arg("--json")
        .arg(&record)
        .output()
        .with_context(|| format!("cannot run {} {script}", python.display()))?;
    if !out.status.success() {
        bail!(
            "peer {script} failed: {}",
            last_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    let text = std::fs::read_to_string(&record)
        .with_context(|| format!("peer {script} wrote no record"))?;
    let _ = std::fs::remove_file(&record);
    let line = text
        .lines()
        .last()
        .with_context(|| format!("peer {script} wrote no record"))?;
    let v: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("peer {script}'s record"))?;
    v[field]
        .as_f64()
        .with_context(|| format!("peer {script}'s record has no number `{field}`"))
}

/// A peer's ViT forward pass (onnxruntime or JAX, built by the reference
/// scripts' own functions), loaded once and timed a repetition at a time.
pub struct PeerStepper {
    name: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The child's stderr, read back when it fails.
    log: PathBuf,
}

impl PeerStepper {
    /// Build and warm up `runtime` (`onnxruntime` or `jax`) on ViT-`model`
    /// (`B` or `S`) at `batch`; returns once the peer is ready to time.
    pub fn start(
        python: &Path,
        dir: &Path,
        runtime: &str,
        model: &str,
        batch: usize,
    ) -> Result<Self> {
        let name = format!("{runtime} ViT-{model} batch {batch}");
        eprintln!("bench: starting peer {name}");
        let log = scratch_file("peer-stderr", "log");
        let mut child = python_in(python, dir)
            .arg("-c")
            .arg(include_str!("peer_stepper.py"))
            .args([runtime, model, &batch.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).context("the peer's log file")?)
            .spawn()
            .with_context(|| format!("cannot run {}", python.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("peer {name}: no pipes to the Python process");
        };
        let mut peer = PeerStepper {
            name,
            child,
            stdin,
            stdout: BufReader::new(stdout),
            log,
        };
        let line = peer.read_line()?;
        if line != "ready" {
            bail!("peer {}: expected `ready`, read {line:?}", peer.name);
        }
        Ok(peer)
    }

    /// Seconds one forward pass took.
    pub fn rep(&mut self) -> Result<f64> {
        writeln!(self.stdin, "rep")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| self.failed(&format!("cannot ask for a repetition ({e})")))?;
        let line = self.read_line()?;
        line.parse()
            .with_context(|| format!("peer {}: {line:?} is not a time in seconds", self.name))
    }

    /// The next line the peer prints; its stderr's last line if it ended.
    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err(self.failed("ended")),
            Ok(_) => Ok(line.trim().to_string()),
            Err(e) => Err(self.failed(&format!("unreadable output ({e})"))),
        }
    }

    fn failed(&mut self, what: &str) -> anyhow::Error {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        anyhow::anyhow!("peer {} {what}: {}", self.name, last_line(&log))
    }
}

impl Drop for PeerStepper {
    fn drop(&mut self) {
        // End of input ends the loop; kill in case it is mid-repetition.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `python` run in the peers' folder (their scripts import each other).
fn python_in(python: &Path, dir: &Path) -> Command {
    let mut command = Command::new(python);
    command
        .current_dir(dir)
        // These machines halve OpenBLAS's speed with this setting.
        .env_remove("OPENBLAS_CORETYPE");
    command
}

/// A fresh path in the temporary directory.
fn scratch_file(what: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "scivid-{what}-{}-{:016x}.{ext}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or("(no message)")
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for Python: a shell script that ignores its arguments.
    fn fake_python(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("python");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn scratch() -> PathBuf {
        let dir = scratch_file("peer-test", "d");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_peer_times_one_repetition_per_request() {
        let dir = scratch();
        // Answers each `rep` with how many it has been asked for.
        let python = fake_python(
            &dir,
            r#"echo ready; n=0; while read line; do [ "$line" = rep ] || exit 0; n=$((n + 1)); echo "$n.5"; done"#,
        );
        let mut peer = PeerStepper::start(&python, &dir, "onnxruntime", "B", 1).unwrap();
        assert_eq!(peer.rep().unwrap(), 1.5);
        assert_eq!(peer.rep().unwrap(), 2.5);
        drop(peer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_peer_that_fails_is_named_with_its_last_error() {
        let dir = scratch();
        let python = fake_python(
            &dir,
            "echo 'Traceback ...' >&2; echo \"ModuleNotFoundError: No module named 'onnxruntime'\" >&2; exit 1",
        );
        let err = PeerStepper::start(&python, &dir, "onnxruntime", "S", 1)
            .err()
            .expect("a peer that exits is an error")
            .to_string();
        assert!(err.contains("onnxruntime ViT-S batch 1"), "{err}");
        assert!(err.contains("No module named 'onnxruntime'"), "{err}");

        // Ready, then an answer that is not a time.
        let python = fake_python(&dir, "echo ready; read line; echo oops");
        let mut peer = PeerStepper::start(&python, &dir, "jax", "B", 1).unwrap();
        let err = peer.rep().unwrap_err().to_string();
        assert!(
            err.contains("jax ViT-B") && err.contains("\"oops\""),
            "{err}"
        );
        // Gone after that: the next request names what happened.
        let err = peer.rep().unwrap_err().to_string();
        assert!(err.contains("jax ViT-B"), "{err}");
        drop(peer);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
