//! DINOv2 (Oquab et al. 2023; Hugging Face `Dinov2Model` and
//! `Dinov2WithRegistersModel`, checkpoints `facebook/dinov2-*`), applied to
//! each frame: 14 x 14 patches, a class token, optional register tokens,
//! learned position embeddings (resized bicubically when the patch grid
//! differs from the table's, as Hugging Face does: with antialiasing in the
//! registers model, without in the plain one), layer
//! scale, LayerNorm eps 1e-6, and a SwiGLU MLP for the giant size. Features
//! are the patch tokens of each frame (class and registers dropped).

use super::videomae::{IMAGENET_MEAN, IMAGENET_STD};
use super::vit::{self, Block, BlockNames, Dense};
use super::weights::Weights;
use super::{Backbone, FeatureShape};
use anyhow::{Result, bail};
use burn::tensor::{Tensor, TensorData};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Dinov2Config {
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp: usize,
    pub patch: usize,
    pub registers: usize,
    pub swiglu: bool,
    pub eps: f64,
}

impl Dinov2Config {
    pub fn sized(dim: usize, depth: usize, heads: usize, registers: usize) -> Self {
        let swiglu = dim == 1536;
        Dinov2Config {
            dim,
            depth,
            heads,
            // SwiGLU hidden width as DINOv2 rounds it (2/3 of 4d, to a multiple of 8).
            mlp: if swiglu {
                (8 * dim / 3).div_ceil(8) * 8
            } else {
                4 * dim
            },
            patch: 14,
            registers,
            swiglu,
            eps: 1e-6,
        }
    }
}

pub struct Dinov2 {
    name: String,
    cfg: Dinov2Config,
    embed: Dense,
    cls: Tensor<3>,
    registers: Option<Tensor<3>>,
    /// [1 + side*side, D] as stored.
    pos: Tensor<2>,
    pos_side: usize,
    /// The table resized for the last patch grid (the same every batch).
    resized: std::sync::Mutex<Option<((usize, usize), Tensor<2>)>>,
    blocks: Vec<Block>,
    layer: usize,
    weights: serde_json::Value,
}

impl Dinov2 {
    pub fn load(name: &str, cfg: Dinov2Config, mut w: Weights, layer: usize) -> Result<Self> {
        if layer > cfg.depth {
            bail!("{name}: layer {layer} of {} blocks", cfg.depth);
        }
        w.use_prefix_if_present("embeddings.cls_token", &["dinov2.", ""]);
        // transformers 5 names the projections q/k/v/o_proj.
        w.rename(|n| {
            [
                (".attention.q_proj.", ".attention.attention.query."),
                (".attention.k_proj.", ".attention.attention.key."),
                (".attention.v_proj.", ".attention.attention.value."),
                (".attention.o_proj.", ".attention.output.dense."),
            ]
            .iter()
            .find(|(new, _)| n.contains(new))
            .map(|(new, hub)| n.replace(new, hub))
        });
        let (d, p) = (cfg.dim, cfg.patch);
        let conv: Tensor<4> = w.take(
            "embeddings.patch_embeddings.projection.weight",
            [d, 3, p, p],
        )?;
        let bias: Tensor<1> = w.take("embeddings.patch_embeddings.projection.bias", [d])?;
        let embed = Dense::from_parts(conv.reshape([d, 3 * p * p]), Some(bias)).with_kernel();
        let cls = w.take("embeddings.cls_token", [1, 1, d])?;
        let registers = if cfg.registers > 0 {
            Some(w.take("embeddings.register_tokens", [1, cfg.registers, d])?)
        } else {
            None
        };
        // The table's size comes from the checkpoint (37 x 37 for 518^2 training).
        // Random demo weights get a table for 224^2 frames (16 x 16 patches).
        let positions = w
            .shapes()
            .find(|(n, _)| n.ends_with("embeddings.position_embeddings"))
            .map(|(_, s)| s.get(1).copied().unwrap_or(0))
            .unwrap_or(if w.is_random() { 1 + 16 * 16 } else { 0 });
        let side = ((positions.saturating_sub(1)) as f64).sqrt().round() as usize;
        if side * side + 1 != positions {
            bail!(
                "{}: embeddings.position_embeddings has {positions} positions, not 1 + a square",
                w.source()
            );
        }
        let pos: Tensor<3> = w.take("embeddings.position_embeddings", [1, positions, d])?;
        let mut blocks = vec![];
        for i in 0..cfg.depth {
            let l = format!("encoder.layer.{i}");
            let names = BlockNames {
                norm1: format!("{l}.norm1"),
                query: format!("{l}.attention.attention.query"),
                key: format!("{l}.attention.attention.key"),
                value: format!("{l}.attention.attention.value"),
                proj: format!("{l}.attention.output.dense"),
                norm2: format!("{l}.norm2"),
                fc1: format!("{l}.mlp.fc1"),
                fc2: format!("{l}.mlp.fc2"),
                qv_bias: None,
                layer_scale: Some((
                    format!("{l}.layer_scale1.lambda1"),
                    format!("{l}.layer_scale2.lambda1"),
                )),
                swiglu: cfg.swiglu.then(|| {
                    (
                        format!("{l}.mlp.weights_in"),
                        format!("{l}.mlp.weights_out"),
                    )
                }),
            };
            let block = Block::load(&mut w, &names, d, cfg.mlp, cfg.heads, cfg.eps)?;
            if i < layer {
                blocks.push(block);
            }
        }
        let source = w.provenance();
        w.finish(&[
            "layernorm.",
            "embeddings.mask_token",
            "pooler",
            "classifier",
        ])?;
        Ok(Dinov2 {
            name: name.to_string(),
            cfg,
            embed,
            cls,
            registers,
            pos: pos.reshape([positions, d]),
            pos_side: side,
            resized: Default::default(),
            blocks,
            layer,
            weights: source,
        })
    }

    /// Position embeddings for an h x w patch grid: [1 + h*w, D].
    fn positions(&self, h: usize, w: usize) -> Tensor<2> {
        let s = self.pos_side;
        if h == s && w == s {
            return self.pos.clone();
        }
        let mut cached = self.resized.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((grid, t)) = cached.as_ref()
            && *grid == (h, w)
        {
            return t.clone();
        }
        let t = self.resize_positions(h, w);
        *cached = Some(((h, w), t.clone()));
        t
    }

    fn resize_positions(&self, h: usize, w: usize) -> Tensor<2> {
        let s = self.pos_side;
        let d = self.cfg.dim;
        let cls = self.pos.clone().narrow(0, 0, 1);
        let grid = self.pos.clone().narrow(0, 1, s * s);
        let values = grid.into_data().try_to_vec::<f32>().expect("an f32 table");
        let antialias = self.cfg.registers > 0;
        let resized = resize_bicubic(&values, s, s, d, h, w, antialias);
        let grid = Tensor::<2>::from_data(TensorData::new(resized, [h * w, d]), &self.pos.device());
        Tensor::cat(vec![cls, grid], 0)
    }

    /// Hidden states of frames [F, H, W, 3] (pixels in [0, 1]) up to the
    /// chosen layer, each [F, 1 + registers + h*w, D].
    pub fn hidden_states(&self, frames: Tensor<4>) -> Result<Vec<Tensor<3>>> {
        self.states(frames, true)
    }

    /// The hidden states when `all`, else only the last (see [`vit::run_blocks`]).
    fn states(&self, frames: Tensor<4>, all: bool) -> Result<Vec<Tensor<3>>> {
        let [f, hh, ww, c] = frames.dims();
        let tokens = vit::normalised_patches(
            frames.reshape([f, 1, hh, ww, c]),
            (IMAGENET_MEAN, IMAGENET_STD),
            1,
            self.cfg.patch,
        )?;
        let (h, w) = (hh / self.cfg.patch, ww / self.cfg.patch);
        let x = self.embed.forward(tokens);
        let d = self.cfg.dim;
        let x = Tensor::cat(vec![self.cls.clone().expand([f, 1, d]), x], 1);
        let x = x + self.positions(h, w).unsqueeze();
        let x = match &self.registers {
            Some(r) => {
                let n = x.dims()[1];
                let cls = x.clone().narrow(1, 0, 1);
                let rest = x.narrow(1, 1, n - 1);
                Tensor::cat(
                    vec![cls, r.clone().expand([f, self.cfg.registers, d]), rest],
                    1,
                )
            }
            None => x,
        };
        Ok(vit::run_blocks(&self.blocks, x, all))
    }
}

impl Backbone for Dinov2 {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "backbone": self.name, "family": "dinov2", "config": self.cfg, "layer": self.layer,
            "weights": self.weights, "position_table": self.pos_side,
            "preprocessing": {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "time": "each frame on its own"},
        })
    }

    fn feature_shape(&self, frames: usize, height: usize, width: usize) -> Result<FeatureShape> {
        let c = &self.cfg;
        vit::feature_shape(&self.name, (1, c.patch, c.dim), (frames, height, width))
    }

    fn flops(&self, frames: usize, height: usize, width: usize) -> f64 {
        let p = self.cfg.patch;
        let n = 1 + self.cfg.registers + (height / p) * (width / p);
        let mlp = if self.cfg.swiglu {
            3 * self.cfg.mlp / 2
        } else {
            self.cfg.mlp
        };
        vit::flops(frames, n, self.cfg.dim, mlp, self.layer, 3 * p * p)
    }

    fn forward(&self, video: Tensor<5>) -> Result<Tensor<4>> {
        let [b, t, h, w, c] = video.dims();
        let x = self
            .states(video.reshape([b * t, h, w, c]), false)?
            .pop()
            .expect("embedded tokens at least");
        let [_, n, d] = x.dims();
        let skip = 1 + self.cfg.registers;
        Ok(x.narrow(1, skip, n - skip).reshape([b, t, n - skip, d]))
    }
}

/// Resize a [h, w, d] grid to [oh, ow, d] as PyTorch's
/// `interpolate(mode="bicubic", align_corners=False, antialias=..)`.
pub fn resize_bicubic(
    x: &[f32],
    h: usize,
    w: usize,
    d: usize,
    oh: usize,
    ow: usize,
    antialias: bool,
) -> Vec<f32> {
    let taps = |input, output| {
        if antialias {
            aa_taps(input, output)
        } else {
            cubic_taps(input, output)
        }
    };
    let (rows, cols) = (taps(h, oh), taps(w, ow));
    // Rows first: [oh, w, d], in f64.
    let mut tmp = vec![0f64; oh * w * d];
    for (o, ts) in rows.iter().enumerate() {
        for &(j, wt) in ts {
            let src = &x[j * w * d..(j + 1) * w * d];
            for (t, s) in tmp[o * w * d..(o + 1) * w * d].iter_mut().zip(src) {
                *t += wt * *s as f64;
            }
        }
    }
    let mut out = vec![0f32; oh * ow * d];
    for y in 0..oh {
        for (o, ts) in cols.iter().enumerate() {
            for c in 0..d {
                let acc: f64 = ts
                    .iter()
                    .map(|&(j, wt)| wt * tmp[(y * w + j) * d + c])
                    .sum();
                out[(y * ow + o) * d + c] = acc as f32;
            }
        }
    }
    out
}

/// Keys' cubic convolution kernel with parameter `a`.
fn cubic(x: f64, a: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * a
    } else {
        0.0
    }
}

/// Plain bicubic (a = -0.75, four taps, indices clamped at the borders).
fn cubic_taps(input: usize, output: usize) -> Vec<Vec<(usize, f64)>> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|i| {
            let src = (i as f64 + 0.5) * scale - 0.5;
            let base = src.floor();
            let t = src - base;
            (-1..=2)
                .map(|k| {
                    let j = (base as i64 + k).clamp(0, input as i64 - 1) as usize;
                    (j, cubic(k as f64 - t, -0.75))
                })
                .collect()
        })
        .collect()
}

/// Antialiased bicubic (a = -0.5; the support widens by the scale when
/// shrinking; weights normalised per output index).
fn aa_taps(input: usize, output: usize) -> Vec<Vec<(usize, f64)>> {
    let scale = input as f64 / output as f64;
    let support_scale = scale.max(1.0);
    let support = 2.0 * support_scale;
    (0..output)
        .map(|i| {
            let center = scale * (i as f64 + 0.5);
            let lo = (center - support + 0.5).floor().max(0.0) as usize;
            let hi = ((center + support + 0.5).floor() as usize).min(input);
            let mut ts: Vec<(usize, f64)> = (lo..hi)
                .map(|j| (j, cubic((j as f64 - center + 0.5) / support_scale, -0.5)))
                .collect();
            let total: f64 = ts.iter().map(|t| t.1).sum();
            if total != 0.0 {
                ts.iter_mut().for_each(|t| t.1 /= total);
            }
            ts
        })
        .collect()
}
