//! What a readout sees for a set of clips: the frozen features [N, T, N_tok, D]
//! and the clips' extras (e.g. STIR's query points), stacked per name into
//! [N, ..shape]. Rows stay aligned, so batches slice both the same way.

use crate::runtime::bindings::SampledClip;
use crate::tensor::DynTensor;
use anyhow::{Result, bail};

#[derive(Clone)]
pub struct Inputs {
    pub features: DynTensor,
    pub extras: Vec<(String, DynTensor)>,
}

impl Inputs {
    /// Stack the extras of `clips`; every clip must give the same names and
    /// shapes (an error names the first clip that differs).
    pub fn new(features: DynTensor, clips: &[SampledClip]) -> Result<Self> {
        let mut extras = vec![];
        if let Some(first) = clips.first() {
            for (k, e) in first.extras.iter().enumerate() {
                let mut data = Vec::with_capacity(clips.len() * e.data.len());
                for c in clips {
                    let Some(x) = c.extras.get(k).filter(|x| x.name == e.name) else {
                        bail!(
                            "clip `{}` lacks extra `{}` that clip `{}` gives (every clip must give the same extras, in the same order)",
                            c.id,
                            e.name,
                            first.id
                        );
                    };
                    let numel: usize = x.shape.iter().map(|&d| d as usize).product();
                    if x.shape != e.shape || x.data.len() != numel {
                        bail!(
                            "clip `{}`: extra `{}` has shape {:?} and {} values (clip `{}` gives shape {:?})",
                            c.id,
                            x.name,
                            x.shape,
                            x.data.len(),
                            first.id,
                            e.shape
                        );
                    }
                    data.extend_from_slice(&x.data);
                }
                let mut shape = vec![clips.len()];
                shape.extend(e.shape.iter().map(|&d| d as usize));
                let t = DynTensor::from_vec(data, &shape, &crate::tensor::default_device())?;
                extras.push((e.name.clone(), t));
            }
        }
        Ok(Inputs { features, extras })
    }

    pub fn rows(&self) -> usize {
        self.features.shape()[0]
    }

    pub fn select_rows(&self, rows: &[usize]) -> Inputs {
        Inputs {
            features: self.features.select_rows(rows),
            extras: self.select_extras(rows),
        }
    }

    /// The extras of `rows` alone (online training brings its own features).
    pub fn select_extras(&self, rows: &[usize]) -> Vec<(String, DynTensor)> {
        self.extras
            .iter()
            .map(|(n, t)| (n.clone(), t.select_rows(rows)))
            .collect()
    }

    /// Consecutive chunks of `size` rows.
    pub fn chunks(&self, size: usize) -> Vec<Inputs> {
        let n = self.rows();
        (0..n)
            .step_by(size.max(1))
            .map(|s| self.select_rows(&(s..(s + size).min(n)).collect::<Vec<_>>()))
            .collect()
    }
}
