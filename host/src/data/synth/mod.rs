//! Synthetic stand-ins: small datasets written in the on-disk layout each
//! built-in task reads, so every task runs offline when the real data is
//! not at hand. Each is built so that the label lives in what the video
//! shows over time (motion, shape, structure), a readout on good features
//! beats the task's control, and a better backbone scores higher.
//!
//! [`write`] generates one (`dataset.json` last, so its presence marks a
//! complete dataset); [`is_complete`] says whether a directory already
//! holds one of a given spec.

mod calms21;
mod flyvsfly;
pub mod motion;
mod raster;
mod stir;
mod typhoon;
mod weatherbench2;

use anyhow::{Result, bail};
use std::path::Path;

/// Bumped whenever any generator's output changes.
pub const GENERATOR_VERSION: u32 = 4;

/// How many examples each split gets (clips, sequences, windows or videos,
/// as the task counts them) and the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSpec {
    pub train: usize,
    pub val: usize,
    pub test: usize,
    pub seed: u64,
}

impl SynthSpec {
    /// `train` examples, a quarter of that (at least 8) for `val` and `test`.
    pub fn with_train(train: usize, seed: u64) -> Self {
        let small = (train / 4).max(8);
        SynthSpec {
            train,
            val: small,
            test: small,
            seed,
        }
    }

    /// The (split, count) pairs; a count of 0 leaves the split out.
    pub fn splits(&self) -> impl Iterator<Item = (&'static str, usize)> {
        [
            ("train", self.train),
            ("val", self.val),
            ("test", self.test),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
    }
}

/// A synthetic stand-in for one task.
pub struct StandIn {
    pub task: &'static str,
    pub about: &'static str,
    /// Training examples by default (the run without arguments uses these).
    pub default_train: usize,
    write: fn(&Path, &SynthSpec) -> Result<()>,
}

pub const STAND_INS: &[StandIn] = &[
    StandIn {
        task: "motion",
        about: "a shape moving right/left/down/up over noise (32^2 .npy clips)",
        default_train: 512,
        write: motion::write,
    },
    StandIn {
        task: "flyvsfly",
        about: "two flies whose motion and wings show 7 behaviours (64^2 PNG frames)",
        default_train: 256,
        write: flyvsfly::write,
    },
    StandIn {
        task: "calms21",
        about: "two mice: attack, investigation, mount, other (96x54 gray PNG frames)",
        default_train: 256,
        write: calms21::write,
    },
    StandIn {
        task: "typhoon",
        about: "infrared vortices deepening or filling (48^2 float32 K .npy sequences)",
        default_train: 48,
        write: typhoon::write,
    },
    StandIn {
        task: "weatherbench2",
        about: "advected, diffusing Z500/T850/Q700 fields on a 10-degree grid (.npy)",
        default_train: 96,
        write: weatherbench2::write,
    },
    StandIn {
        task: "stir",
        about: "textured surfaces under smooth warps with exact point tracks (64^2 PNG)",
        default_train: 128,
        write: stir::write,
    },
];

pub fn find(task: &str) -> Result<&'static StandIn> {
    match STAND_INS.iter().find(|s| s.task == task) {
        Some(s) => Ok(s),
        None => bail!(
            "no synthetic stand-in for `{task}` (available: {})",
            STAND_INS
                .iter()
                .map(|s| s.task)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl StandIn {
    /// The spec a run uses when it generates this stand-in itself.
    pub fn default_spec(&self) -> SynthSpec {
        SynthSpec::with_train(self.default_train, 0)
    }

    /// The short schedule a run uses on this stand-in (SciVid's 40,000
    /// steps would only overfit a few hundred clips); the task's own
    /// defaults for `motion`, which is synthetic by design.
    pub fn demo_protocol(&self) -> crate::pipeline::ProtocolOverrides {
        if self.task == "motion" {
            return Default::default();
        }
        crate::pipeline::ProtocolOverrides {
            steps: Some(200),
            warmup_steps: Some(20),
            learning_rate: Some(1e-3),
            ..Default::default()
        }
    }
}

/// Generate the stand-in for `task` under `out`.
pub fn write(task: &str, out: &Path, spec: &SynthSpec) -> Result<()> {
    let s = find(task)?;
    raster::create_dir(out)?;
    (s.write)(out, spec)?;
    let meta = serde_json::json!({
        "dataset": task,
        "synthetic": true,
        "generator_version": GENERATOR_VERSION,
        "seed": spec.seed,
        "splits": {"train": spec.train, "val": spec.val, "test": spec.test},
    });
    crate::files::write_atomic(
        &out.join("dataset.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )
}

/// Whether `dir` already holds the complete stand-in for `task` of `spec`.
pub fn is_complete(dir: &Path, task: &str, spec: &SynthSpec) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("dataset.json")) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    v["dataset"] == task
        && v["generator_version"] == GENERATOR_VERSION
        && v["seed"] == spec.seed
        && v["splits"]["train"] == spec.train
        && v["splits"]["val"] == spec.val
        && v["splits"]["test"] == spec.test
}
