//! Training checkpoints, so a long readout run killed mid-way resumes where
//! it stopped and ends with the numbers an uninterrupted run would give.
//! A checkpoint is a folder `step-NNNNNNNN/` holding `state.json` (step,
//! sampler position, per-head status) and one `.npy` per tensor (parameters
//! and AdamW moments); `LATEST` names the newest complete one and is
//! replaced atomically after the folder is fully written.

use crate::data::npy;
use crate::tensor::{DynTensor, default_device};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Steps completed.
    pub step: u32,
    pub sampler_epoch: u64,
    pub sampler_pos: usize,
    pub heads: Vec<HeadState>,
    /// Names of the tensors, in the order of their files `tNNNNN.npy`.
    pub tensors: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadState {
    pub label: String,
    pub error: Option<String>,
    pub final_train_loss: Option<f64>,
    pub loss_curve: Vec<(u32, f64)>,
    #[serde(default)]
    pub eval_curve: Vec<(u32, f64)>,
    pub steps: u32,
    pub adam_steps: u64,
}

pub struct Checkpoints {
    dir: PathBuf,
}

/// Named tensors of a checkpoint.
pub type Tensors = Vec<(String, DynTensor)>;

impl Checkpoints {
    pub fn new(dir: PathBuf) -> Self {
        Checkpoints { dir }
    }

    pub fn save(&self, mut state: State, tensors: Tensors) -> Result<()> {
        let name = format!("step-{:08}", state.step);
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        state.tensors = tensors.iter().map(|(n, _)| n.clone()).collect();
        for (i, (_, t)) in tensors.iter().enumerate() {
            let bytes: Vec<u8> = t.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(
                tmp.join(format!("t{i:05}.npy")),
                npy::to_bytes(npy::Dtype::F32, t.shape(), &bytes),
            )?;
        }
        std::fs::write(tmp.join("state.json"), serde_json::to_vec_pretty(&state)?)?;
        let done = self.dir.join(&name);
        let _ = std::fs::remove_dir_all(&done);
        std::fs::rename(&tmp, &done)
            .with_context(|| format!("cannot rename into {}", done.display()))?;
        crate::files::write_atomic(&self.dir.join("LATEST"), name.as_bytes())?;
        // Older checkpoints are no longer needed.
        for e in std::fs::read_dir(&self.dir)?.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with("step-") && n != name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(())
    }

    /// The newest complete checkpoint, if any.
    pub fn load(&self) -> Result<Option<(State, Tensors)>> {
        let Ok(latest) = std::fs::read_to_string(self.dir.join("LATEST")) else {
            return Ok(None);
        };
        let dir = self.dir.join(latest.trim());
        let state: State = serde_json::from_slice(
            &std::fs::read(dir.join("state.json"))
                .with_context(|| format!("checkpoint {}", dir.display()))?,
        )
        .with_context(|| format!("checkpoint {}: bad state.json", dir.display()))?;
        let mut tensors = vec![];
        for (i, name) in state.tensors.iter().enumerate() {
            let a = npy::read(&dir.join(format!("t{i:05}.npy")))?;
            tensors.push((
                name.clone(),
                DynTensor::from_vec(a.as_f32(), &a.shape, &default_device())?,
            ));
        }
        Ok(Some((state, tensors)))
    }

    pub fn clear(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
