//! SigLIP's image encoder (Zhai et al. 2023; Hugging Face
//! `SiglipVisionModel`, checkpoints `google/siglip-*`), applied to each
//! frame: a patch convolution, a learned position table without a class
//! token (resized bicubically when the patch grid differs from the
//! table's, as Hugging Face's `interpolate_pos_encoding` does), pre-norm
//! blocks with biased q/k/v/out projections and a tanh-approximated GELU,
//! LayerNorm eps 1e-6. Pixels are mapped to [-1, 1] (mean and std 0.5).
//! Features are each frame's patch tokens (the attention-pooling head and
//! the text tower of a full SigLIP checkpoint are not used).

use super::dinov2::resize_bicubic;
use super::vit::{self, Block, BlockNames, Dense};
use super::weights::Weights;
use super::{Backbone, FeatureShape};
use anyhow::{Result, bail};
use burn::tensor::{Tensor, TensorData};

pub const SIGLIP_MEAN: [f32; 3] = [0.5, 0.5, 0.5];
pub const SIGLIP_STD: [f32; 3] = [0.5, 0.5, 0.5];

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SiglipConfig {
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp: usize,
    pub patch: usize,
    /// Image side of the position table (random weights only; a
    /// checkpoint's table gives its own).
    pub image: usize,
    pub eps: f64,
}

pub struct Siglip {
    name: String,
    cfg: SiglipConfig,
    embed: Dense,
    /// [side*side, D] as stored.
    pos: Tensor<2>,
    pos_side: usize,
    blocks: Vec<Block>,
    layer: usize,
    weights: serde_json::Value,
}

impl Siglip {
    pub fn load(name: &str, cfg: SiglipConfig, mut w: Weights, layer: usize) -> Result<Self> {
        if layer > cfg.depth {
            bail!("{name}: layer {layer} of {} blocks", cfg.depth);
        }
        w.use_prefix_if_present("embeddings.patch_embedding.weight", &["vision_model.", ""]);
        let (d, p) = (cfg.dim, cfg.patch);
        let conv: Tensor<4> = w.take("embeddings.patch_embedding.weight", [d, 3, p, p])?;
        let bias: Tensor<1> = w.take("embeddings.patch_embedding.bias", [d])?;
        let embed = Dense::from_parts(conv.reshape([d, 3 * p * p]), Some(bias)).with_kernel();
        let positions = match w.shape_of("embeddings.position_embedding.weight") {
            Some(s) => s.first().copied().unwrap_or(0),
            None => (cfg.image / p) * (cfg.image / p),
        };
        let side = (positions as f64).sqrt().round() as usize;
        if side * side != positions {
            bail!("{name}: {positions} positions are not a square grid");
        }
        let pos: Tensor<2> = w.take("embeddings.position_embedding.weight", [positions, d])?;
        let mut blocks = vec![];
        for i in 0..cfg.depth {
            let l = format!("encoder.layers.{i}");
            let names = BlockNames {
                norm1: format!("{l}.layer_norm1"),
                query: format!("{l}.self_attn.q_proj"),
                key: format!("{l}.self_attn.k_proj"),
                value: format!("{l}.self_attn.v_proj"),
                proj: format!("{l}.self_attn.out_proj"),
                norm2: format!("{l}.layer_norm2"),
                fc1: format!("{l}.mlp.fc1"),
                fc2: format!("{l}.mlp.fc2"),
                qv_bias: None,
                layer_scale: None,
                swiglu: None,
            };
            let block =
                Block::load(&mut w, &names, d, cfg.mlp, cfg.heads, cfg.eps)?.with_tanh_gelu();
            // Blocks past the chosen layer are checked but never run.
            if i < layer {
                blocks.push(block);
            }
        }
        let source = w.provenance();
        w.finish(&["post_layernorm.", "head.", "text_model.", "logit_"])?;
        Ok(Siglip {
            name: name.to_string(),
            cfg,
            embed,
            pos,
            pos_side: side,
            blocks,
            layer,
            weights: source,
        })
    }

    /// The position table for an h x w patch grid.
    fn positions(&self, h: usize, w: usize) -> Tensor<2> {
        let s = self.pos_side;
        if h == s && w == s {
            return self.pos.clone();
        }
        let d = self.cfg.dim;
        let values = self
            .pos
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .expect("an f32 table");
        let resized = resize_bicubic(&values, s, s, d, h, w, false);
        Tensor::from_data(TensorData::new(resized, [h * w, d]), &self.pos.device())
    }

    /// Hidden states of frames [F, H, W, 3] (pixels in [0, 1]) up to the
    /// chosen layer, each [F, h*w, D].
    pub fn hidden_states(&self, frames: Tensor<4>) -> Result<Vec<Tensor<3>>> {
        self.states(frames, true)
    }

    /// The hidden states when `all`, else only the last (see [`vit::run_blocks`]).
    fn states(&self, frames: Tensor<4>, all: bool) -> Result<Vec<Tensor<3>>> {
        let [f, hh, ww, c] = frames.dims();
        let tokens = vit::normalised_patches(
            frames.reshape([f, 1, hh, ww, c]),
            (SIGLIP_MEAN, SIGLIP_STD),
            1,
            self.cfg.patch,
        )?;
        let (h, w) = (hh / self.cfg.patch, ww / self.cfg.patch);
        let x = self.embed.forward(tokens) + self.positions(h, w).unsqueeze();
        Ok(vit::run_blocks(&self.blocks, x, all))
    }
}

impl Backbone for Siglip {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "backbone": self.name, "family": "siglip", "config": self.cfg, "layer": self.layer,
            "weights": self.weights, "position_table": self.pos_side,
            "preprocessing": {"mean": SIGLIP_MEAN, "std": SIGLIP_STD, "time": "each frame on its own"},
        })
    }

    fn feature_shape(&self, frames: usize, height: usize, width: usize) -> Result<FeatureShape> {
        let c = &self.cfg;
        vit::feature_shape(&self.name, (1, c.patch, c.dim), (frames, height, width))
    }

    fn flops(&self, frames: usize, height: usize, width: usize) -> f64 {
        let p = self.cfg.patch;
        let n = (height / p) * (width / p);
        vit::flops(frames, n, self.cfg.dim, self.cfg.mlp, self.layer, 3 * p * p)
    }

    fn forward(&self, video: Tensor<5>) -> Result<Tensor<4>> {
        let [b, t, h, w, c] = video.dims();
        let x = self
            .states(video.reshape([b * t, h, w, c]), false)?
            .pop()
            .expect("embedded tokens at least");
        let [_, n, d] = x.dims();
        Ok(x.reshape([b, t, n, d]))
    }
}
