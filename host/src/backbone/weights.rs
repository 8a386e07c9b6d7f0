//! Checkpoint tensors by name. [`Weights::load`] reads a safetensors file
//! (Hugging Face names), a PyTorch zip checkpoint (`.bin`, `.pt`, `.pth`,
//! `.pth.tar`) or a NumPy `.npz` (JAX checkpoints), converting f16, bf16 and
//! f64 to f32. A model takes
//! each tensor it needs with [`Weights::take`], which checks the shape and
//! names the tensor, the expected and the found shape on a mismatch;
//! [`Weights::finish`] refuses tensors nobody took (a checkpoint of another
//! model or size).

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::BTreeMap;
use std::path::Path;

/// One tensor of a checkpoint: shape and f32 values.
#[derive(Debug, Clone)]
pub struct Stored {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

pub struct Weights {
    source: String,
    /// sha256 of the checkpoint file (None for random weights).
    sha256: Option<String>,
    tensors: BTreeMap<String, Stored>,
    /// Random weights (tiny demo models): every `take` draws a fresh tensor.
    random: Option<rand::rngs::StdRng>,
    /// A prefix (e.g. `videomae.`) every name carries in this file.
    prefix: String,
    device: Device,
}

impl Weights {
    /// Read every tensor of a checkpoint, by its extension.
    pub fn load(path: &Path) -> Result<Weights> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read weights {}", path.display()))?;
        Weights::from_bytes(&bytes, &path.display().to_string())
    }

    /// Read every tensor of a checkpoint's bytes; `source` (a path) names
    /// it in errors and its extension says the format.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Weights> {
        let source = source.to_string();
        let name = source.rsplit('/').next().unwrap_or("");
        let ext = name.rsplit('.').next().unwrap_or("");
        let tensors = match ext {
            "safetensors" => read_safetensors(bytes, &source)?,
            "bin" | "pt" | "pth" | "tar" | "ckpt" => super::pytorch::load(bytes, &source)?,
            "npz" => read_npz(bytes, &source)?,
            _ => bail!(
                "{source}: unknown checkpoint format (expected .safetensors, a PyTorch .bin/.pt/.pth, or .npz)"
            ),
        };
        let mut w = Weights::from_map(source, tensors);
        w.sha256 = Some(crate::files::sha256_hex(bytes));
        Ok(w)
    }

    pub fn from_map(source: String, tensors: BTreeMap<String, Stored>) -> Weights {
        Weights {
            source,
            sha256: None,
            tensors,
            random: None,
            prefix: String::new(),
            device: Device::flex(),
        }
    }

    /// Seeded random weights, for the `tiny` demo and test models: norms
    /// start at 1, biases at 0, layer scales at 0.1, the rest N(0, 0.02).
    pub fn random(seed: u64) -> Weights {
        use rand::SeedableRng;
        let mut w = Weights::from_map(format!("random (seed {seed})"), BTreeMap::new());
        w.random = Some(rand::rngs::StdRng::seed_from_u64(seed));
        w
    }

    pub fn is_random(&self) -> bool {
        self.random.is_some()
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Where the weights came from, for results and cache keys: the file's
    /// sha256 (not its path), or the random seed.
    pub fn provenance(&self) -> serde_json::Value {
        match &self.sha256 {
            Some(h) => serde_json::json!({"file": self.source, "sha256": h}),
            None => serde_json::json!({"random": self.source}),
        }
    }

    /// Names and shapes, for `backbones inspect`.
    pub fn shapes(&self) -> impl Iterator<Item = (&str, &[usize])> {
        self.tensors
            .iter()
            .map(|(n, s)| (n.as_str(), s.shape.as_slice()))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(&format!("{}{name}", self.prefix))
    }

    /// Rename tensors (`f` returns the new name, or None to keep it): e.g.
    /// transformers 5's names back to the Hub checkpoints' names.
    pub fn rename(&mut self, f: impl Fn(&str) -> Option<String>) {
        let old = std::mem::take(&mut self.tensors);
        self.tensors = old
            .into_iter()
            .map(|(k, v)| (f(&k).unwrap_or(k), v))
            .collect();
    }

    /// Names in this file start with `prefix` when a model's weights are
    /// stored inside a larger one (`videomae.` in a pre-training checkpoint).
    pub fn use_prefix_if_present(&mut self, marker: &str, prefixes: &[&str]) {
        for p in prefixes {
            if self.tensors.contains_key(&format!("{p}{marker}")) {
                self.prefix = p.to_string();
                return;
            }
        }
    }

    /// The shape of tensor `name`, if the file has it (never for random weights).
    pub fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors
            .get(&format!("{}{name}", self.prefix))
            .map(|t| t.shape.clone())
    }

    /// Take tensors onto `device` (a GPU) instead of the CPU.
    pub fn on(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The device tensors are taken onto.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Split a fused tensor (e.g. a `qkv` projection) into equal parts
    /// along its first axis, named `parts`; nothing happens when the file
    /// does not have it (random weights, or a checkpoint that stores the
    /// parts already: `take` then names what is missing).
    pub fn split_rows(&mut self, name: &str, parts: &[&str]) -> Result<()> {
        let full = format!("{}{name}", self.prefix);
        let Some(t) = self.tensors.remove(&full) else {
            return Ok(());
        };
        let rows = t.shape.first().copied().unwrap_or(0);
        if parts.is_empty() || rows % parts.len() != 0 {
            bail!(
                "{}: tensor `{full}` of shape {:?} does not split into {} equal parts",
                self.source,
                t.shape,
                parts.len()
            );
        }
        let chunk = t.values.len() / parts.len();
        let mut shape = t.shape.clone();
        shape[0] = rows / parts.len();
        for (i, part) in parts.iter().enumerate() {
            self.tensors.insert(
                format!("{}{part}", self.prefix),
                Stored {
                    shape: shape.clone(),
                    values: t.values[i * chunk..(i + 1) * chunk].to_vec(),
                },
            );
        }
        Ok(())
    }

    /// Move tensor `from` to `to` as a flat vector (e.g. a flax
    /// `DenseGeneral` bias [heads, head_dim] to a PyTorch-style bias);
    /// nothing when the file lacks it.
    pub fn rename_flat(&mut self, from: &str, to: &str) {
        if let Some(mut t) = self.tensors.remove(&format!("{}{from}", self.prefix)) {
            t.shape = vec![t.values.len()];
            self.tensors.insert(format!("{}{to}", self.prefix), t);
        }
    }

    /// Move a flax kernel `from` ([..inputs, ..outputs], e.g. a
    /// `DenseGeneral` [D, heads, head_dim]) to `to` as a PyTorch-style
    /// weight [outputs, inputs]; nothing when the file lacks it.
    pub fn rename_kernel(&mut self, from: &str, to: &str, inputs: usize) -> Result<()> {
        let full = format!("{}{from}", self.prefix);
        let Some(t) = self.tensors.remove(&full) else {
            return Ok(());
        };
        let n = t.values.len();
        // The inputs are the leading dims (a `DenseGeneral` out-projection
        // [heads, head_dim, D] has two).
        let leads_with_inputs =
            (1..=t.shape.len()).any(|k| t.shape[..k].iter().product::<usize>() == inputs);
        if inputs == 0 || !leads_with_inputs {
            bail!(
                "{}: kernel `{full}` of shape {:?} does not start with {inputs} inputs",
                self.source,
                t.shape
            );
        }
        let outputs = n / inputs;
        let mut values = vec![0f32; n];
        for i in 0..inputs {
            for o in 0..outputs {
                values[o * inputs + i] = t.values[i * outputs + o];
            }
        }
        self.tensors.insert(
            format!("{}{to}", self.prefix),
            Stored {
                shape: vec![outputs, inputs],
                values,
            },
        );
        Ok(())
    }

    /// Take tensor `name` of shape `shape` as a rank-D burn tensor.
    pub fn take<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let full = format!("{}{name}", self.prefix);
        if let Some(rng) = self.random.as_mut() {
            use rand::RngExt;
            let n: usize = shape.iter().product();
            let fill = if D == 1 && name.ends_with("weight") {
                Some(1.0)
            } else if D == 1 && name.ends_with("bias") {
                Some(0.0)
            } else if name.ends_with("lambda1") {
                Some(0.1)
            } else {
                None
            };
            let values: Vec<f32> = match fill {
                Some(v) => vec![v; n],
                // Sum of uniforms: roughly normal, std 0.02.
                None => (0..n)
                    .map(|_| {
                        (0..3)
                            .map(|_| rng.random_range(-0.02f32..0.02))
                            .sum::<f32>()
                    })
                    .collect(),
            };
            return Ok(Tensor::from_data(
                TensorData::new(values, shape),
                &self.device,
            ));
        }
        let Some(t) = self.tensors.remove(&full) else {
            bail!(
                "{}: missing tensor `{full}` (expected shape {shape:?})",
                self.source
            );
        };
        if t.shape != shape {
            bail!(
                "{}: tensor `{full}` has shape {:?}, expected {shape:?}",
                self.source,
                t.shape
            );
        }
        Ok(Tensor::from_data(
            TensorData::new(t.values, shape),
            &self.device,
        ))
    }

    /// Fail if tensors are left that the model did not take, except those
    /// whose names start with one of `ignored` (heads, decoders, masks).
    pub fn finish(self, ignored: &[&str]) -> Result<()> {
        let left: Vec<&String> = self
            .tensors
            .keys()
            .filter(|k| {
                let k = k.strip_prefix(&self.prefix).unwrap_or(k);
                !ignored.iter().any(|i| k.starts_with(i))
            })
            .collect();
        if !left.is_empty() {
            let shown: Vec<&str> = left.iter().take(8).map(|s| s.as_str()).collect();
            bail!(
                "{}: {} tensors this model does not use (wrong model or size?): {}{}",
                self.source,
                left.len(),
                shown.join(", "),
                if left.len() > 8 { ", ..." } else { "" }
            );
        }
        Ok(())
    }
}

fn read_safetensors(bytes: &[u8], source: &str) -> Result<BTreeMap<String, Stored>> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .with_context(|| format!("{source}: not a safetensors file (or truncated)"))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let values =
            crate::data::arrays::safetensors_values(&view, &format!("{source}: tensor `{name}`"))?;
        tensors.insert(
            name.to_string(),
            Stored {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok(tensors)
}

/// A `.npz`: one `.npy` per tensor (names as stored, `.npy` dropped).
fn read_npz(bytes: &[u8], source: &str) -> Result<BTreeMap<String, Stored>> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .with_context(|| format!("{source}: not an .npz (zip) file, or truncated"))?;
    let mut tensors = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        let name = f.name().trim_end_matches(".npy").to_string();
        let mut buf = vec![];
        f.read_to_end(&mut buf)
            .with_context(|| format!("{source}: entry `{name}`"))?;
        let a = crate::data::npy::parse(&buf, &format!("{source}: entry `{name}`"))?;
        tensors.insert(
            name,
            Stored {
                shape: a.shape.clone(),
                values: a.as_f32(),
            },
        );
    }
    Ok(tensors)
}
