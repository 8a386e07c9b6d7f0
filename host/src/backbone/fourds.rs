//! 4DS (Carreira et al. 2024, "Scaling 4D Representations";
//! google-deepmind/representations4d, checkpoint `scaling4d_dist_b.npz`,
//! SciVid's `Scaling4DModel`): a flax ViT. A 2 x 16 x 16 patch convolution,
//! a learned position table per (time, row, column), kauldron pre-norm
//! blocks (LayerNorm eps 1e-6, biased q/k/v/out projections, an MLP with
//! flax's tanh-approximated GELU) and no final norm. Pixels go in as they
//! are ([0, 1]); the T/2 time steps are resized back to T with jax's cubic
//! kernel, as SciVid's `EncoderToReadout` does.
//!
//! Checkpoints are `.npz` files of the flax parameters flattened with `/`
//! (`params/encoder/...`, `params/processor/layers_N/...`).

use super::vit::{self, Block, BlockNames, Dense};
use super::weights::Weights;
use super::{Backbone, FeatureShape};
use crate::tensor::spatial::{ResizeKernel, resize_weights};
use anyhow::{Result, bail};
use burn::tensor::{Tensor, TensorData};

/// Sizes of one 4DS variant.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FourDsConfig {
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp: usize,
    pub patch: usize,
    pub tubelet: usize,
    pub eps: f64,
    /// Frames and image side of the position table (random weights only;
    /// a checkpoint's table gives its own).
    pub frames: usize,
    pub image: usize,
}

impl FourDsConfig {
    pub fn sized(dim: usize, depth: usize, heads: usize) -> Self {
        FourDsConfig {
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

pub struct FourDs {
    name: String,
    cfg: FourDsConfig,
    embed: Dense,
    /// The learned position table [t, h, w, D]; clips must match it.
    table: Tensor<4>,
    blocks: Vec<Block>,
    layer: usize,
    weights: serde_json::Value,
}

impl FourDs {
    pub fn load(name: &str, cfg: FourDsConfig, mut w: Weights, layer: usize) -> Result<Self> {
        if layer > cfg.depth {
            bail!("{name}: layer {layer} of {} blocks", cfg.depth);
        }
        w.use_prefix_if_present("encoder/patch_embedding/Conv_0/kernel", &["params/", ""]);
        let (d, p, t) = (cfg.dim, cfg.patch, cfg.tubelet);
        // flax kernel [t, p, p, 3, D] -> [D, 3, t, p, p], the patch order of `vit::patchify`.
        let conv: Tensor<5> = w.take("encoder/patch_embedding/Conv_0/kernel", [t, p, p, 3, d])?;
        let conv = conv.permute([4, 3, 0, 1, 2]).reshape([d, 3 * t * p * p]);
        let bias: Tensor<1> = w.take("encoder/patch_embedding/Conv_0/bias", [d])?;
        let embed = Dense::from_parts(conv, Some(bias)).with_kernel();
        let grid = match w.shape_of("encoder/posenc/embeddings") {
            Some(s) if s.len() == 4 && s[3] == d => [s[0], s[1], s[2]],
            Some(s) => bail!(
                "{name}: position table `encoder/posenc/embeddings` has shape {s:?}, expected [t, h, w, {d}]"
            ),
            None => [cfg.frames / t, cfg.image / p, cfg.image / p],
        };
        let table: Tensor<4> =
            w.take("encoder/posenc/embeddings", [grid[0], grid[1], grid[2], d])?;
        let mut blocks = vec![];
        for i in 0..cfg.depth {
            let l = format!("processor/layers_{i}");
            // kauldron's names and flax layouts -> the shared block's.
            for part in ["query", "key", "value", "out"] {
                w.rename_kernel(
                    &format!("{l}/attention/{part}/kernel"),
                    &format!("{l}/{part}.weight"),
                    d,
                )?;
                w.rename_flat(
                    &format!("{l}/attention/{part}/bias"),
                    &format!("{l}/{part}.bias"),
                );
            }
            for (from, to, inputs) in [("dense_in", "fc1", d), ("dense_out", "fc2", cfg.mlp)] {
                w.rename_kernel(
                    &format!("{l}/mlp/{from}/kernel"),
                    &format!("{l}/{to}.weight"),
                    inputs,
                )?;
                w.rename_flat(&format!("{l}/mlp/{from}/bias"), &format!("{l}/{to}.bias"));
            }
            for norm in ["attention_norm", "mlp_norm"] {
                w.rename_flat(&format!("{l}/{norm}/scale"), &format!("{l}/{norm}.weight"));
                w.rename_flat(&format!("{l}/{norm}/bias"), &format!("{l}/{norm}.bias"));
            }
            let names = BlockNames {
                norm1: format!("{l}/attention_norm"),
                query: format!("{l}/query"),
                key: format!("{l}/key"),
                value: format!("{l}/value"),
                proj: format!("{l}/out"),
                norm2: format!("{l}/mlp_norm"),
                fc1: format!("{l}/fc1"),
                fc2: format!("{l}/fc2"),
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
        // A checkpoint with a readout (e.g. the depth one) carries more.
        w.finish(&["readout", "params/readout", "decoder"])?;
        Ok(FourDs {
            name: name.to_string(),
            cfg,
            embed,
            table,
            blocks,
            layer,
            weights: source,
        })
    }

    /// The token grid (time steps, rows, columns) the position table fits.
    fn grid(&self) -> [usize; 3] {
        let [t, h, w, _] = self.table.dims();
        [t, h, w]
    }

    /// Every hidden state up to the chosen layer: [embedded tokens, block 1, ...].
    pub fn hidden_states(&self, video: Tensor<5>) -> Result<Vec<Tensor<3>>> {
        self.states(video, true)
    }

    /// The hidden states when `all`, else only the last (see [`vit::run_blocks`]).
    fn states(&self, video: Tensor<5>, all: bool) -> Result<Vec<Tensor<3>>> {
        let [_, t, h, w, _] = video.dims();
        let (p, tub) = (self.cfg.patch, self.cfg.tubelet);
        let want = self.grid();
        if [t / tub, h / p, w / p] != want {
            bail!(
                "{}: clips of {t}x{h}x{w} give a {}x{}x{} token grid; its learned position table is {}x{}x{} ({}x{}x{} clips)",
                self.name,
                t / tub,
                h / p,
                w / p,
                want[0],
                want[1],
                want[2],
                want[0] * tub,
                want[1] * p,
                want[2] * p
            );
        }
        let tokens = vit::patchify(video, tub, p)?;
        let x = self.embed.forward(tokens);
        let [_, n, d] = x.dims();
        let x = x + self.table.clone().reshape([1, n, d]);
        Ok(vit::run_blocks(&self.blocks, x, all))
    }
}

/// Resize the time axis of [B, t, N, D] to `out` steps with jax's cubic
/// kernel (`jax.image.resize(..., "cubic")`, SciVid's 4DS readout input).
pub fn resample_time_cubic(x: Tensor<4>, out: usize) -> Tensor<4> {
    let [b, t, n, d] = x.dims();
    if t == out {
        return x;
    }
    let m = resize_weights(t, out, ResizeKernel::KeysCubic);
    // [t, out] -> [out, t], mixing the time axis of each (b, token, channel).
    let m = Tensor::<2>::from_data(TensorData::new(m, [t, out]), &x.device()).transpose();
    let rows = x.permute([1, 0, 2, 3]).reshape([t, b * n * d]);
    m.matmul(rows).reshape([out, b, n, d]).permute([1, 0, 2, 3])
}

impl Backbone for FourDs {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "backbone": self.name, "family": "4ds", "config": self.cfg, "layer": self.layer,
            "grid": self.grid(), "weights": self.weights,
            "preprocessing": {"pixels": "[0, 1], not normalised", "time": "tubelet 2, resized to T with jax's cubic kernel"},
        })
    }

    fn feature_shape(&self, frames: usize, height: usize, width: usize) -> Result<FeatureShape> {
        let (p, t) = (self.cfg.patch, self.cfg.tubelet);
        let want = self.grid();
        if frames != want[0] * t || height != want[1] * p || width != want[2] * p {
            bail!(
                "{}: its learned position table fits clips of {}x{}x{}, not {frames}x{height}x{width}",
                self.name,
                want[0] * t,
                want[1] * p,
                want[2] * p
            );
        }
        Ok(FeatureShape {
            time: frames,
            grid_h: height / p,
            grid_w: width / p,
            dim: self.cfg.dim,
        })
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
            resample_time_cubic,
        ))
    }
}
