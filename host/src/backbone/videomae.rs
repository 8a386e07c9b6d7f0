//! VideoMAE (Tong et al. 2022; Hugging Face `VideoMAEModel`, checkpoints
//! `MCG-NJU/videomae-*`): tubelet embedding of 2 frames x 16 x 16 pixels, a
//! fixed sinusoidal position table, pre-norm blocks with q/v biases and no
//! k bias, LayerNorm eps 1e-12. Pixels are normalised with ImageNet's mean
//! and std. Its T/2 time steps are resampled back to T linearly, as SciVid
//! does for VideoMAE.

use super::vit::{self, Block, BlockNames, Dense};
use super::weights::Weights;
use super::{Backbone, FeatureShape};
use anyhow::{Result, bail};
use burn::tensor::{Tensor, TensorData};

/// Sizes of one VideoMAE variant.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct VideoMaeConfig {
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp: usize,
    pub patch: usize,
    pub tubelet: usize,
    pub eps: f64,
    pub qkv_bias: bool,
}

impl VideoMaeConfig {
    pub fn sized(dim: usize, depth: usize, heads: usize) -> Self {
        VideoMaeConfig {
            dim,
            depth,
            heads,
            mlp: 4 * dim,
            patch: 16,
            tubelet: 2,
            eps: 1e-12,
            qkv_bias: true,
        }
    }
}

pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

pub struct VideoMae {
    name: String,
    cfg: VideoMaeConfig,
    embed: Dense,
    blocks: Vec<Block>,
    /// Blocks to run: SciVid's layer for the run's depth fraction.
    layer: usize,
    /// The position table of the last token count (the same every batch).
    table: std::sync::Mutex<Option<(usize, Tensor<2>)>>,
    weights: serde_json::Value,
}

impl VideoMae {
    pub fn load(name: &str, cfg: VideoMaeConfig, mut w: Weights, layer: usize) -> Result<Self> {
        if layer > cfg.depth {
            bail!("{name}: layer {layer} of {} blocks", cfg.depth);
        }
        w.use_prefix_if_present(
            "embeddings.patch_embeddings.projection.weight",
            &["videomae.", ""],
        );
        // transformers 5 saves the q/v biases as `query.bias`/`value.bias`.
        w.rename(|n| {
            n.strip_suffix(".attention.attention.query.bias")
                .map(|l| format!("{l}.attention.attention.q_bias"))
                .or_else(|| {
                    n.strip_suffix(".attention.attention.value.bias")
                        .map(|l| format!("{l}.attention.attention.v_bias"))
                })
        });
        let (d, p, t) = (cfg.dim, cfg.patch, cfg.tubelet);
        let conv: Tensor<5> = w.take(
            "embeddings.patch_embeddings.projection.weight",
            [d, 3, t, p, p],
        )?;
        let bias: Tensor<1> = w.take("embeddings.patch_embeddings.projection.bias", [d])?;
        let embed = Dense::from_parts(conv.reshape([d, 3 * t * p * p]), Some(bias)).with_kernel();
        let mut blocks = vec![];
        for i in 0..cfg.depth {
            let l = format!("encoder.layer.{i}");
            let names = BlockNames {
                norm1: format!("{l}.layernorm_before"),
                query: format!("{l}.attention.attention.query"),
                key: format!("{l}.attention.attention.key"),
                value: format!("{l}.attention.attention.value"),
                proj: format!("{l}.attention.output.dense"),
                norm2: format!("{l}.layernorm_after"),
                fc1: format!("{l}.intermediate.dense"),
                fc2: format!("{l}.output.dense"),
                qv_bias: cfg.qkv_bias.then(|| {
                    (
                        format!("{l}.attention.attention.q_bias"),
                        format!("{l}.attention.attention.v_bias"),
                    )
                }),
                layer_scale: None,
                swiglu: None,
            };
            let block = Block::load(&mut w, &names, d, cfg.mlp, cfg.heads, cfg.eps)?;
            // Blocks past the chosen layer are checked but never run.
            if i < layer {
                blocks.push(block);
            }
        }
        let source = w.provenance();
        w.finish(&[
            "layernorm.",
            "fc_norm.",
            "classifier.",
            "decoder",
            "encoder_to_decoder",
            "mask_token",
            "position_embeddings",
        ])?;
        Ok(VideoMae {
            name: name.to_string(),
            cfg,
            embed,
            blocks,
            layer,
            table: Default::default(),
            weights: source,
        })
    }

    /// Every hidden state up to the chosen layer: [embedded tokens, block 1, ...].
    pub fn hidden_states(&self, video: Tensor<5>) -> Result<Vec<Tensor<3>>> {
        self.states(video, true)
    }

    /// The hidden states when `all`, else only the last (see [`vit::run_blocks`]).
    fn states(&self, video: Tensor<5>, all: bool) -> Result<Vec<Tensor<3>>> {
        let tokens = vit::normalised_patches(
            video,
            (IMAGENET_MEAN, IMAGENET_STD),
            self.cfg.tubelet,
            self.cfg.patch,
        )?;
        let x = self.embed.forward(tokens);
        let [_, n, d] = x.dims();
        let table = {
            let mut cached = self.table.lock().unwrap_or_else(|e| e.into_inner());
            match cached.as_ref() {
                Some((m, t)) if *m == n => t.clone(),
                _ => {
                    let t = sinusoid_table(n, d, &x.device());
                    *cached = Some((n, t.clone()));
                    t
                }
            }
        };
        let x = x + table.unsqueeze();
        Ok(vit::run_blocks(&self.blocks, x, all))
    }
}

/// The fixed position table: sin at even channels, cos at odd ones, of
/// pos / 10000^(2 floor(j/2) / d) (computed in f64, as Hugging Face does).
pub fn sinusoid_table(n: usize, d: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let mut v = Vec::with_capacity(n * d);
    for pos in 0..n {
        for j in 0..d {
            let angle = pos as f64 / 10000f64.powf(2.0 * (j / 2) as f64 / d as f64);
            v.push(if j % 2 == 0 { angle.sin() } else { angle.cos() } as f32);
        }
    }
    Tensor::from_data(TensorData::new(v, [n, d]), device)
}

impl Backbone for VideoMae {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "backbone": self.name, "family": "videomae", "config": self.cfg, "layer": self.layer,
            "weights": self.weights,
            "preprocessing": {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "time": "tubelet 2, resampled linearly to T"},
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
