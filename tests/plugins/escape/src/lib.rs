//! A task that tries to read outside its grant, through WASI (`..`,
//! absolute paths, a symlink inside the dataset that points out) and through
//! the host's clip decoder (clip paths that climb out). `index("train")`
//! returns an error listing every guest-side attempt; `index("test")`
//! returns clips with hostile paths.
use scivid_sdk::{ClipSpec, FrameSource, Result, Tensor};

struct Escape;
hostile_common::honest_task!(EscapeBase, "escape", metrics = hostile_common::Accuracy);
struct EscapeBase;

fn attempt(path: &str) -> String {
    match std::fs::read(path) {
        Ok(b) => format!("{path}: READ {} bytes", b.len()),
        Err(e) => format!("{path}: denied ({})", e.kind()),
    }
}

impl scivid_sdk::Task for Escape {
    type Metrics = hostile_common::Accuracy;
    fn info() -> scivid_sdk::TaskInfo {
        hostile_common::info("escape")
    }
    fn splits() -> Vec<String> {
        hostile_common::splits()
    }
    fn index(split: &str) -> Result<Vec<ClipSpec>> {
        if split == "train" {
            let report: Vec<String> = [
                "/data/../secret.txt",
                "/data/../../etc/passwd",
                "/etc/passwd",
                "/data/escape-link/secret.txt",
                "/data/link-to-secret.txt",
            ]
            .iter()
            .map(|p| attempt(p))
            .collect();
            return Err(scivid_sdk::Error(format!("ESCAPE {}", report.join("; "))));
        }
        let mut clips = <EscapeBase as scivid_sdk::Task>::index(split)?;
        clips.truncate(3);
        let paths = ["../secret.npy", "/etc/passwd", "link-to-secret.npy"];
        for (c, p) in clips.iter_mut().zip(paths) {
            c.source = FrameSource::NpyVideo(p.to_string());
        }
        Ok(clips)
    }
    fn loss(p: &Tensor, t: &Tensor) -> Result<Tensor> {
        hostile_common::loss(p, t)
    }
    fn control(t: &Tensor, clips: &[ClipSpec]) -> Result<Tensor> {
        hostile_common::control(t, clips)
    }
}

scivid_sdk::export_task!(Escape);
