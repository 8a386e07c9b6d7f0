//! V-JEPA (Bardes et al. 2024; facebookresearch/jepa `VisionTransformer`,
//! checkpoints `vitl16.pth.tar`, `vith16.pth.tar`): tubelet embedding of
//! 2 frames x 16 x 16 pixels, a fixed 3-D sin-cos position table (half the
//! channels for time, a quarter each for rows and columns), pre-norm blocks
//! with a fused qkv projection (biases on all three), LayerNorm eps 1e-6,
//! and the encoder's final LayerNorm on the layer read out, as the official
//! encoder returns its `out_layers`. Pixels are normalised with ImageNet's
//! mean and std; the T/2 time steps are resampled back to T linearly.
//!
//! Checkpoints: the official training files hold `encoder`,
//! `target_encoder` (used, as the official evaluations do) and `predictor`
//! state dicts with DDP's `module.` and `backbone.` prefixes, and the
//! position table (`pos_embed`, made for 16 frames). At another clip size
//! the table is interpolated trilinearly, as the official code does.

use super::videomae::{IMAGENET_MEAN, IMAGENET_STD};
use super::vit::{self, Block, BlockNames, Dense, LayerNorm};
use super::weights::Weights;
use super::{Backbone, FeatureShape};
use anyhow::{Result, bail};
use burn::tensor::{Tensor, TensorData};

/// Sizes of one V-JEPA variant.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct VJepaConfig {
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp: usize,
    pub patch: usize,
    pub tubelet: usize,
    pub eps: f64,
    /// Frames and image side the position table was made for.
    pub frames: usize,
    pub image: usize,
}

impl VJepaConfig {
    pub fn sized(dim: usize, depth: usize, heads: usize) -> Self {
        VJepaConfig {
            dim,
            depth,
            heads,
            mlp: 4 * dim,
            patch: 16,
            tubelet: 2,
            eps: 1e-6,
            frames: 16,
            image: 224,
        }
    }
}

pub struct VJepa {
    name: String,
    cfg: VJepaConfig,
    embed: Dense,
    /// The position table [t, h, w, D] the model was made for.
    table: Tensor<4>,
    blocks: Vec<Block>,
    norm: LayerNorm,
    layer: usize,
    weights: serde_json::Value,
}

/// Where the encoder sits inside an official training checkpoint.
const PREFIXES: [&str; 10] = [
    "target_encoder.module.backbone.",
    "target_encoder.module.",
    "target_encoder.",
    "encoder.module.backbone.",
    "encoder.module.",
    "encoder.",
    "module.backbone.",
    "module.",
    "backbone.",
    "",
];

impl VJepa {
    pub fn load(name: &str, cfg: VJepaConfig, mut w: Weights, layer: usize) -> Result<Self> {
        if layer > cfg.depth {
            bail!("{name}: layer {layer} of {} blocks", cfg.depth);
        }
        w.use_prefix_if_present("patch_embed.proj.weight", &PREFIXES);
        let (d, p, t) = (cfg.dim, cfg.patch, cfg.tubelet);
        let conv: Tensor<5> = w.take("patch_embed.proj.weight", [d, 3, t, p, p])?;
        let bias: Tensor<1> = w.take("patch_embed.proj.bias", [d])?;
        let embed = Dense::from_parts(conv.reshape([d, 3 * t * p * p]), Some(bias)).with_kernel();
        let steps = cfg.frames / t;
        let table = match w.shape_of("pos_embed") {
            Some(shape) => {
                let n = shape.iter().product::<usize>() / d.max(1);
                let side = ((n / steps.max(1)) as f64).sqrt().round() as usize;
                if steps * side * side != n || shape.last() != Some(&d) {
                    bail!(
                        "{name}: position table `pos_embed` of shape {shape:?} is not {steps} x h x h positions of width {d} ({} frames)",
                        cfg.frames
                    );
                }
                w.take::<3>("pos_embed", [1, n, d])?
                    .reshape([steps, side, side, d])
            }
            None => {
                let side = cfg.image / p;
                sincos_3d(d, steps, side, w.device())
            }
        };
        let mut blocks = vec![];
        for i in 0..cfg.depth {
            let l = format!("blocks.{i}");
            w.split_rows(
                &format!("{l}.attn.qkv.weight"),
                &[
                    &format!("{l}.attn.q.weight"),
                    &format!("{l}.attn.k.weight"),
                    &format!("{l}.attn.v.weight"),
                ],
            )?;
            w.split_rows(
                &format!("{l}.attn.qkv.bias"),
                &[
                    &format!("{l}.attn.q.bias"),
                    &format!("{l}.attn.k.bias"),
                    &format!("{l}.attn.v.bias"),
                ],
            )?;
            let names = BlockNames {
                norm1: format!("{l}.norm1"),
                query: format!("{l}.attn.q"),
                key: format!("{l}.attn.k"),
                value: format!("{l}.attn.v"),
                proj: format!("{l}.attn.proj"),
                norm2: format!("{l}.norm2"),
                fc1: format!("{l}.mlp.fc1"),
                fc2: format!("{l}.mlp.fc2"),
                qv_bias: None,
                layer_scale: None,
                swiglu: None,
            };
            let block = Block::load(&mut w, &names, d, cfg.mlp, cfg.heads, cfg.eps)?;
            // Blocks past the chosen layer are checked but never run.
            if i < layer {
                blocks.push(block);
            }
        }
        let norm = LayerNorm::load(&mut w, "norm", d, cfg.eps)?;
        let source = w.provenance();
        // The rest of a training checkpoint: the online encoder (when the
        // target encoder was used), the predictor.
        w.finish(&["encoder.", "target_encoder.", "predictor.", "module."])?;
        Ok(VJepa {
            name: name.to_string(),
            cfg,
            embed,
            table,
            blocks,
            norm,
            layer,
            weights: source,
        })
    }

    /// Every hidden state up to the chosen layer: [embedded tokens, block
    /// 1, ...], each block's through the final LayerNorm (as the official
    /// encoder returns `out_layers`).
    pub fn hidden_states(&self, video: Tensor<5>) -> Result<Vec<Tensor<3>>> {
        self.states(video, true)
    }

    /// The hidden states when `all`, else only the last (see [`vit::run_blocks`]).
    fn states(&self, video: Tensor<5>, all: bool) -> Result<Vec<Tensor<3>>> {
        let [_, t, h, w, _] = video.dims();
        let (p, tub) = (self.cfg.patch, self.cfg.tubelet);
        let tokens = vit::normalised_patches(video, (IMAGENET_MEAN, IMAGENET_STD), tub, p)?;
        let x = self.embed.forward(tokens);
        let [_, n, d] = x.dims();
        let table = trilinear(self.table.clone(), [t / tub, h / p, w / p]).reshape([1, n, d]);
        let x = x + table;
        let mut out = vit::run_blocks(&self.blocks, x, all);
        // Block outputs go through the final norm; the embedded tokens (the
        // first of all states, or the only one when there are no blocks) do not.
        let embedded = usize::from(all || self.blocks.is_empty());
        for h in &mut out[embedded..] {
            *h = self.norm.forward(h.clone());
        }
        Ok(out)
    }
}

/// The official 3-D sin-cos table [steps, side, side, dim]: channels are
/// [time (dim/2), rows (dim/4), columns (dim/4)], each half sin, half cos of
/// pos / 10000^(2i/k) (computed in f64, as the official numpy code).
pub fn sincos_3d(
    dim: usize,
    steps: usize,
    side: usize,
    device: &burn::tensor::Device,
) -> Tensor<4> {
    let parts = [dim / 2, dim / 4, dim / 4];
    let encode = |k: usize, pos: usize, out: &mut Vec<f32>| {
        let half = k / 2;
        let angle = |i: usize| pos as f64 / 10000f64.powf(i as f64 / half as f64);
        out.extend((0..half).map(|i| angle(i).sin() as f32));
        out.extend((0..half).map(|i| angle(i).cos() as f32));
    };
    let mut v = Vec::with_capacity(steps * side * side * dim);
    for s in 0..steps {
        for r in 0..side {
            for c in 0..side {
                let start = v.len();
                for (k, pos) in parts.iter().zip([s, r, c]) {
                    encode(*k, pos, &mut v);
                }
                // Widths not divisible by 4 (none of the released models)
                // are cut or padded to `dim`, as the official code cuts.
                v.resize(start + dim, 0.0);
            }
        }
    }
    Tensor::from_data(TensorData::new(v, [steps, side, side, dim]), device)
}

/// Resize a table [t, h, w, D] to `size` by linear interpolation along each
/// axis (torch's trilinear, align_corners=False: half-pixel centres, the
/// source clamped at 0 and at the last index).
fn trilinear(table: Tensor<4>, size: [usize; 3]) -> Tensor<4> {
    let mut x = table;
    for (axis, &out) in size.iter().enumerate() {
        let input = x.dims()[axis];
        if input == out {
            continue;
        }
        let ratio = input as f32 / out as f32;
        let mut m = vec![0f32; out * input];
        for o in 0..out {
            let src = ((o as f32 + 0.5) * ratio - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            let l1 = src - i0 as f32;
            m[o * input + i0] += 1.0 - l1;
            m[o * input + i1] += l1;
        }
        let device = x.device();
        let m = Tensor::<2>::from_data(TensorData::new(m, [out, input]), &device);
        // Move `axis` first, mix along it, move it back.
        let dims = x.dims();
        let mut order = [0, 1, 2, 3];
        order.swap(0, axis);
        let moved = x.permute(order);
        let rest: usize = dims.iter().product::<usize>() / input;
        let mixed = m.matmul(moved.reshape([input, rest]));
        let mut shape = moved_dims(dims, axis);
        shape[0] = out;
        x = mixed.reshape(shape).permute(order);
    }
    x
}

fn moved_dims(dims: [usize; 4], axis: usize) -> [usize; 4] {
    let mut d = dims;
    d.swap(0, axis);
    d
}

impl Backbone for VJepa {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "backbone": self.name, "family": "vjepa", "config": self.cfg, "layer": self.layer,
            "weights": self.weights,
            "preprocessing": {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "time": "tubelet 2, resampled linearly to T", "features": "final LayerNorm applied"},
        })
    }

    fn feature_shape(&self, frames: usize, height: usize, width: usize) -> Result<FeatureShape> {
        let c = &self.cfg;
        vit::feature_shape(
            &self.name,
            (c.tubelet, c.patch, c.dim),
            (frames, height, width),
        )
    }

    fn flops(&self, frames: usize, height: usize, width: usize) -> f64 {
        let (p, t) = (self.cfg.patch, self.cfg.tubelet);
        let n = (frames / t) * (height / p) * (width / p);
        vit::flops(1, n, self.cfg.dim, self.cfg.mlp, self.layer, 3 * t * p * p)
    }

    fn forward(&self, video: Tensor<5>) -> Result<Tensor<4>> {
        let t = video.dims()[1];
        let x = self
            .states(video, false)?
            .pop()
            .expect("embedded tokens at least");
        Ok(vit::tubelet_features(
            x,
            t,
            self.cfg.tubelet,
            vit::resample_time,
        ))
    }
}
