//! The parts every ViT backbone shares: dense layers, LayerNorm, multi-head
//! self-attention and pre-norm transformer blocks (optionally with layer
//! scale or a SwiGLU MLP), loaded from a checkpoint under Hugging Face's
//! names, plus patch embedding and the SciVid layer/time conventions.

use super::kernel_block::{self, KernelBlock, Linear, Norm};
use super::weights::Weights;
use anyhow::{Result, bail};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor, TensorData, activation, module};
use scivid_kernels::{Activation, PackedB};

/// y = x W^T + b, with W stored [out, in] as PyTorch does.
pub struct Dense {
    w: Tensor<3>,
    b: Option<Tensor<3>>,
    /// Packed for the CPU kernels (patch embeddings: see `with_kernel`).
    kernel: Option<Linear>,
}

impl Dense {
    pub fn load(w: &mut Weights, name: &str, din: usize, dout: usize, bias: bool) -> Result<Self> {
        let weight: Tensor<2> = w.take(&format!("{name}.weight"), [dout, din])?;
        let b = if bias {
            Some(
                w.take::<1>(&format!("{name}.bias"), [dout])?
                    .reshape([1, 1, dout]),
            )
        } else {
            None
        };
        Ok(Dense {
            w: weight.transpose().unsqueeze(),
            b,
            kernel: None,
        })
    }

    /// A dense layer from parts (e.g. a bias stored apart from its weight).
    pub fn from_parts(weight_out_in: Tensor<2>, bias: Option<Tensor<1>>) -> Self {
        let dout = weight_out_in.dims()[0];
        Dense {
            w: weight_out_in.transpose().unsqueeze(),
            b: bias.map(|b| b.reshape([1, 1, dout])),
            kernel: None,
        }
    }

    /// Run on the CPU kernels where blocks do (for a layer outside the
    /// blocks: a patch embedding, 1% of a ViT-B's FLOPs).
    pub fn with_kernel(mut self) -> Self {
        if kernel_block::enabled() && on_cpu(&self.w.device()) {
            self.kernel = Some(self.to_linear());
        }
        self
    }

    fn to_linear(&self) -> Linear {
        let [_, din, dout] = self.w.dims();
        let (w, bias) = self.parts();
        Linear {
            weight: PackedB::from_k_by_n(&w, din, dout),
            bias,
        }
    }

    /// The weight [in, out] row-major and the bias (zeros if none).
    fn parts(&self) -> (Vec<f32>, Vec<f32>) {
        let [_, _, dout] = self.w.dims();
        let bias = match &self.b {
            Some(b) => values(b),
            None => vec![0.0; dout],
        };
        (values(&self.w), bias)
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        if let Some(kernel) = &self.kernel
            && on_cpu(&x.device())
        {
            let [b, n, _] = x.dims();
            let device = x.device();
            let y = kernel.forward(&values(&x), b * n);
            return Tensor::from_data(TensorData::new(y, [b, n, kernel.weight.n()]), &device);
        }
        let y = x.matmul(self.w.clone());
        match &self.b {
            Some(b) => y + b.clone(),
            None => y,
        }
    }
}

pub struct LayerNorm {
    g: Tensor<3>,
    b: Tensor<3>,
    eps: f64,
}

impl LayerNorm {
    pub fn load(w: &mut Weights, name: &str, d: usize, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            g: w.take::<1>(&format!("{name}.weight"), [d])?
                .reshape([1, 1, d]),
            b: w.take::<1>(&format!("{name}.bias"), [d])?
                .reshape([1, 1, d]),
            eps,
        })
    }

    fn to_norm(&self) -> Norm {
        Norm {
            gain: values(&self.g),
            shift: values(&self.b),
            eps: self.eps as f32,
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mean = x.clone().mean_dim(2);
        let c = x - mean;
        let var = c.clone().square().mean_dim(2);
        c / (var + self.eps).sqrt() * self.g.clone() + self.b.clone()
    }
}

/// How a family names the parts of block `i` in its checkpoints.
pub struct BlockNames {
    pub norm1: String,
    pub query: String,
    pub key: String,
    pub value: String,
    pub proj: String,
    pub norm2: String,
    pub fc1: String,
    pub fc2: String,
    /// VideoMAE: q and v biases stored apart (`q_bias`, `v_bias`), none on k.
    pub qv_bias: Option<(String, String)>,
    /// DINOv2: per-channel scales after attention and after the MLP.
    pub layer_scale: Option<(String, String)>,
    /// DINOv2-g: a SwiGLU MLP (`weights_in` [2h, d], `weights_out` [d, h]).
    pub swiglu: Option<(String, String)>,
}

enum Mlp {
    Gelu(Dense, Dense),
    /// flax's default `nn.gelu` (the tanh approximation).
    GeluTanh(Dense, Dense),
    SwiGlu(Dense, Dense),
}

pub struct Block {
    norm1: LayerNorm,
    q: Dense,
    k: Dense,
    v: Dense,
    proj: Dense,
    norm2: LayerNorm,
    mlp: Mlp,
    scale: Option<(Tensor<3>, Tensor<3>)>,
    heads: usize,
    /// The same block on the CPU kernels, when it runs there.
    kernel: Option<KernelBlock>,
}

impl Block {
    pub fn load(
        w: &mut Weights,
        n: &BlockNames,
        d: usize,
        mlp: usize,
        heads: usize,
        eps: f64,
    ) -> Result<Self> {
        if heads == 0 || !d.is_multiple_of(heads) {
            bail!("width {d} is not a multiple of {heads} heads");
        }
        let (q, k, v) = match &n.qv_bias {
            Some((qb, vb)) => {
                let q = Dense::from_parts(
                    w.take(&format!("{}.weight", n.query), [d, d])?,
                    Some(w.take(qb, [d])?),
                );
                let k = Dense::load(w, &n.key, d, d, false)?;
                let v = Dense::from_parts(
                    w.take(&format!("{}.weight", n.value), [d, d])?,
                    Some(w.take(vb, [d])?),
                );
                (q, k, v)
            }
            None => (
                Dense::load(w, &n.query, d, d, true)?,
                Dense::load(w, &n.key, d, d, true)?,
                Dense::load(w, &n.value, d, d, true)?,
            ),
        };
        let mlp = match &n.swiglu {
            Some((win, wout)) => Mlp::SwiGlu(
                Dense::load(w, win, d, 2 * mlp, true)?,
                Dense::load(w, wout, mlp, d, true)?,
            ),
            None => Mlp::Gelu(
                Dense::load(w, &n.fc1, d, mlp, true)?,
                Dense::load(w, &n.fc2, mlp, d, true)?,
            ),
        };
        let scale = match &n.layer_scale {
            Some((a, b)) => Some((
                w.take::<1>(a, [d])?.reshape([1, 1, d]),
                w.take::<1>(b, [d])?.reshape([1, 1, d]),
            )),
            None => None,
        };
        let mut block = Block {
            norm1: LayerNorm::load(w, &n.norm1, d, eps)?,
            q,
            k,
            v,
            proj: Dense::load(w, &n.proj, d, d, true)?,
            norm2: LayerNorm::load(w, &n.norm2, d, eps)?,
            mlp,
            scale,
            heads,
            kernel: None,
        };
        if kernel_block::enabled() && on_cpu(&block.proj.w.device()) {
            block.kernel = block.to_kernel();
        }
        Ok(block)
    }

    /// This block's weights packed for the CPU kernels (none for SwiGLU).
    fn to_kernel(&self) -> Option<KernelBlock> {
        let (fc1, fc2, activation) = match &self.mlp {
            Mlp::Gelu(a, b) => (a, b, Activation::GeluErf),
            Mlp::GeluTanh(a, b) => (a, b, Activation::GeluTanh),
            Mlp::SwiGlu(..) => return None,
        };
        let linear = Dense::to_linear;
        // q, k and v as one [d, 3d] matrix: each input row's three outputs.
        let d = self.proj.w.dims()[1];
        let parts = [self.q.parts(), self.k.parts(), self.v.parts()];
        let mut w = Vec::with_capacity(3 * d * d);
        for row in 0..d {
            for (p, _) in &parts {
                w.extend_from_slice(&p[row * d..(row + 1) * d]);
            }
        }
        Some(KernelBlock {
            norm1: self.norm1.to_norm(),
            qkv: Linear {
                weight: PackedB::from_k_by_n(&w, d, 3 * d),
                bias: parts.iter().flat_map(|(_, b)| b.iter().copied()).collect(),
            },
            proj: linear(&self.proj),
            norm2: self.norm2.to_norm(),
            fc1: linear(fc1),
            fc2: linear(fc2),
            activation,
            scale: self.scale.as_ref().map(|(a, b)| (values(a), values(b))),
            heads: self.heads,
        })
    }

    /// Use GELU's tanh approximation in the MLP (flax's `nn.gelu`).
    pub fn with_tanh_gelu(mut self) -> Self {
        if let Mlp::Gelu(a, b) = self.mlp {
            self.mlp = Mlp::GeluTanh(a, b);
        }
        if let Some(k) = &mut self.kernel {
            k.activation = Activation::GeluTanh;
        }
        self
    }

    /// Run on burn's ops even where the kernels would run (to compare).
    pub fn without_kernels(mut self) -> Self {
        self.kernel = None;
        self
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        if let Some(kernel) = &self.kernel
            && on_cpu(&x.device())
        {
            let [b, n, d] = x.dims();
            let device = x.device();
            let mut v = values(&x);
            kernel.forward(&mut v, b, n);
            return Tensor::from_data(TensorData::new(v, [b, n, d]), &device);
        }
        let h = self.norm1.forward(x.clone());
        let mut a = self.proj.forward(self.attention(h));
        if let Some((s1, _)) = &self.scale {
            a = a * s1.clone();
        }
        let x = x + a;
        let h = self.norm2.forward(x.clone());
        let mut m = match &self.mlp {
            Mlp::Gelu(fc1, fc2) => fc2.forward(activation::gelu(fc1.forward(h))),
            Mlp::GeluTanh(fc1, fc2) => fc2.forward(gelu_tanh(fc1.forward(h))),
            Mlp::SwiGlu(win, wout) => {
                let both = win.forward(h);
                let half = both.dims()[2] / 2;
                let x1 = both.clone().narrow(2, 0, half);
                let x2 = both.narrow(2, half, half);
                wout.forward(activation::silu(x1) * x2)
            }
        };
        if let Some((_, s2)) = &self.scale {
            m = m * s2.clone();
        }
        x + m
    }

    /// Multi-head softmax attention over all tokens.
    fn attention(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, n, d] = x.dims();
        let (h, dh) = (self.heads, d / self.heads);
        let split = |t: Tensor<3>| t.reshape([b, n, h, dh]).swap_dims(1, 2);
        let q = split(self.q.forward(x.clone()));
        let k = split(self.k.forward(x.clone()));
        let v = split(self.v.forward(x));
        // burn's fused attention: on the CPU backend, long sequences never
        // form the N x N score matrix (tiles with an online softmax).
        let out = module::attention(q, k, v, None, None, AttentionModuleOptions::default());
        out.swap_dims(1, 2).reshape([b, n, d])
    }
}

/// `blocks` run over `x`: every hidden state `[x, block 1, ...]` when
/// `all`, else only the last. Where every block runs on the CPU kernels and
/// only the last is wanted, the tokens stay in one buffer from block to
/// block: a tensor per block costs a copy out, a copy in and a fresh
/// allocation's page faults (about 5 MB each at ViT-B's 1568 tokens).
pub fn run_blocks(blocks: &[Block], x: Tensor<3>, all: bool) -> Vec<Tensor<3>> {
    let kernels: Option<Vec<&KernelBlock>> = blocks.iter().map(|b| b.kernel.as_ref()).collect();
    if let Some(kernels) = kernels
        && !all
        && on_cpu(&x.device())
    {
        let [b, n, d] = x.dims();
        let device = x.device();
        let mut v = values(&x);
        super::kernel_block::forward_clips(&kernels, &mut v, n);
        return vec![Tensor::from_data(TensorData::new(v, [b, n, d]), &device)];
    }
    let mut out = Vec::new();
    let mut x = x;
    for block in blocks {
        if all {
            out.push(x.clone());
        }
        x = block.forward(x);
    }
    out.push(x);
    out
}

/// The CPU device without autodiff: where the kernels run.
fn on_cpu(device: &Device) -> bool {
    *device == Device::flex() && !device.is_autodiff()
}

/// A tensor's values, row-major (backbone tensors are f32).
fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

/// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
fn gelu_tanh(x: Tensor<3>) -> Tensor<3> {
    let inner =
        (x.clone() + x.clone().powi_scalar(3) * 0.044715) * (2.0 / std::f64::consts::PI).sqrt();
    x * (inner.tanh() + 1.0) * 0.5
}

/// FLOPs of `blocks` pre-norm blocks over `seqs` sequences of `n` tokens of
/// width `d` with an MLP of width `mlp` (matmuls only: q/k/v/out
/// projections, scores, weighted values, MLP), plus a patch embedding of
/// `patch_in` values per token.
pub fn flops(seqs: usize, n: usize, d: usize, mlp: usize, blocks: usize, patch_in: usize) -> f64 {
    let (n, d, mlp, s) = (n as f64, d as f64, mlp as f64, seqs as f64);
    let block = 2.0 * n * d * 4.0 * d + 2.0 * 2.0 * n * n * d + 2.0 * 2.0 * n * d * mlp;
    s * (blocks as f64 * block + 2.0 * n * patch_in as f64 * d)
}

/// SciVid's layer choice: `all_features[int(depth * fraction) - 1]`, where
/// `all_features` is [embedded tokens, block 1 output, ...]. Returns the
/// number of blocks to run (0: the embedded tokens).
pub fn layer_for_fraction(depth: usize, fraction: f64) -> Result<usize> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        bail!("readout depth fraction {fraction} must be in (0, 1]");
    }
    let idx = (depth as f64 * fraction).floor() as i64 - 1;
    Ok(idx.clamp(0, depth as i64) as usize)
}

/// The feature shape of a ViT with `tubelet` x `patch` x `patch` patches
/// (tubelet 1: an image model applied per frame): every frame keeps its
/// features (tubelet outputs are resampled back to T).
pub fn feature_shape(
    name: &str,
    (tubelet, patch, dim): (usize, usize, usize),
    (frames, height, width): (usize, usize, usize),
) -> Result<super::FeatureShape> {
    let (p, t) = (patch, tubelet);
    if !height.is_multiple_of(p) || !width.is_multiple_of(p) || !frames.is_multiple_of(t) {
        bail!(
            "{name}: clips of {frames}x{height}x{width} are not a multiple of its {t}x{p}x{p} patches"
        );
    }
    Ok(super::FeatureShape {
        time: frames,
        grid_h: height / p,
        grid_w: width / p,
        dim,
    })
}

/// Tokens [B, (T/tubelet) h w, D] of a tubelet model as features
/// [B, T, h w, D], time brought back to T by `resample`.
pub fn tubelet_features(
    x: Tensor<3>,
    frames: usize,
    tubelet: usize,
    resample: fn(Tensor<4>, usize) -> Tensor<4>,
) -> Tensor<4> {
    let [b, n, d] = x.dims();
    let steps = frames / tubelet;
    resample(x.reshape([b, steps, n / steps, d]), frames)
}

/// Linear resampling along time ([B, T, N, D] -> [B, out, N, D]) with
/// half-pixel centres and clamped edges (jax.image.resize "linear"),
/// SciVid's way of bringing tubelet outputs back to the clip's frames.
pub fn resample_time(x: Tensor<4>, out: usize) -> Tensor<4> {
    let [_, t, _, _] = x.dims();
    if t == out {
        return x;
    }
    let frames: Vec<Tensor<4>> = (0..out)
        .map(|i| {
            let src = ((i as f64 + 0.5) * t as f64 / out as f64 - 0.5).clamp(0.0, (t - 1) as f64);
            let (i0, frac) = (src.floor() as usize, src - src.floor());
            let i1 = (i0 + 1).min(t - 1);
            let a = x.clone().narrow(1, i0, 1);
            if frac == 0.0 || i0 == i1 {
                a
            } else {
                a * (1.0 - frac) + x.clone().narrow(1, i1, 1) * frac
            }
        })
        .collect();
    Tensor::cat(frames, 1)
}

/// Normalise pixels in [0, 1] with per-channel mean and std: [B, T, H, W, 3].
pub fn normalise(video: Tensor<5>, mean: [f32; 3], std: [f32; 3]) -> Tensor<5> {
    let device = video.device();
    let m = Tensor::<1>::from_floats(mean, &device).reshape([1, 1, 1, 1, 3]);
    let s = Tensor::<1>::from_floats(std, &device).reshape([1, 1, 1, 1, 3]);
    (video - m) / s
}

/// `patchify(normalise(video, mean, std), pt, p)`, in one pass on the CPU.
pub fn normalised_patches(
    video: Tensor<5>,
    (mean, std): ([f32; 3], [f32; 3]),
    pt: usize,
    p: usize,
) -> Result<Tensor<3>> {
    if on_cpu(&video.device()) && video.dims()[4] == 3 {
        return patches_on_cpu(video, pt, p, Some((mean, std)));
    }
    patchify(normalise(video, mean, std), pt, p)
}

/// Cut [B, T, H, W, C] into patches of `pt` frames x `p` x `p` pixels, each
/// flattened in PyTorch's Conv3d weight order (channel, time, row, column):
/// [B, T/pt * H/p * W/p, C * pt * p * p], tokens in (time, row, column) order.
pub fn patchify(video: Tensor<5>, pt: usize, p: usize) -> Result<Tensor<3>> {
    if on_cpu(&video.device()) {
        return patches_on_cpu(video, pt, p, None);
    }
    let [b, t, h, w, c] = video.dims();
    let (tt, hh, ww) = patch_grid([t, h, w], pt, p)?;
    // [b, tt, pt, hh, p, ww, p, c] -> [b, tt, hh, ww, c, pt, p, p]
    let x: Tensor<8> = video.reshape([b, tt, pt, hh, p, ww, p, c]);
    let x = x.permute([0, 1, 3, 5, 7, 2, 4, 6]);
    Ok(x.reshape([b, tt * hh * ww, c * pt * p * p]))
}

/// Patches per axis (time, rows, columns).
fn patch_grid([t, h, w]: [usize; 3], pt: usize, p: usize) -> Result<(usize, usize, usize)> {
    if pt == 0 || p == 0 || !t.is_multiple_of(pt) || !h.is_multiple_of(p) || !w.is_multiple_of(p) {
        bail!("video {t}x{h}x{w} is not a multiple of the patch {pt}x{p}x{p}");
    }
    Ok((t / pt, h / p, w / p))
}

/// [`patchify`] (normalising on the way when `norm` is given) as one
/// parallel gather, a token at a time: burn's subtract, divide and 8-d
/// permute took 28 ms of a 1.8 s ViT-B forward pass, on one thread while
/// the other waited. Same arithmetic, `(x - mean) / std` in f32.
fn patches_on_cpu(
    video: Tensor<5>,
    pt: usize,
    p: usize,
    norm: Option<([f32; 3], [f32; 3])>,
) -> Result<Tensor<3>> {
    use rayon::prelude::*;
    let [b, t, h, w, c] = video.dims();
    let (tt, hh, ww) = patch_grid([t, h, w], pt, p)?;
    let device = video.device();
    let pixels = values(&video);
    let (tokens, width) = (tt * hh * ww, c * pt * p * p);
    let mut out = vec![0f32; b * tokens * width];
    out.par_chunks_mut(width.max(1))
        .enumerate()
        .for_each(|(token, out)| {
            let (clip, rest) = (token / tokens, token % tokens);
            let (ti, hi, wi) = (rest / (hh * ww), rest / ww % hh, rest % ww);
            let mut out = out.iter_mut();
            for ch in 0..c {
                // Without a normalisation, (v - 0) / 1 is v exactly.
                let (mean, std) = norm.map_or((0.0, 1.0), |(m, s)| (m[ch], s[ch]));
                for dt in 0..pt {
                    for dy in 0..p {
                        let row = ((clip * t + ti * pt + dt) * h + hi * p + dy) * w + wi * p;
                        let row = &pixels[row * c..(row + p) * c];
                        // `out` second: zip would take one past the row from it.
                        for (&v, o) in row.iter().skip(ch).step_by(c).zip(out.by_ref()) {
                            *o = (v - mean) / std;
                        }
                    }
                }
            }
        });
    Ok(Tensor::from_data(
        TensorData::new(out, [b, tokens, width]),
        &device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// The CPU gather against burn's ops (the path an autodiff or GPU
    /// device takes): the same values bit for bit, video and image shapes.
    #[test]
    fn patches_on_the_cpu_match_burns_ops() {
        let cpu = Device::flex();
        let by_ops = cpu.clone().autodiff();
        let norm = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
        for (dims, pt, p) in [
            ([2, 4, 8, 12, 3], 2, 4),
            ([3, 1, 6, 6, 3], 1, 3),
            ([1, 2, 4, 4, 1], 1, 2),
        ] {
            let video = Tensor::<5>::random(dims, Distribution::Uniform(0.0, 1.0), &cpu);
            let same = Tensor::<5>::from_data(video.to_data(), &by_ops);
            let mut pairs = vec![(
                patchify(video.clone(), pt, p).unwrap(),
                patchify(same.clone(), pt, p).unwrap(),
            )];
            if dims[4] == 3 {
                pairs.push((
                    normalised_patches(video, norm, pt, p).unwrap(),
                    normalised_patches(same, norm, pt, p).unwrap(),
                ));
            }
            for (fast, ops) in pairs {
                assert_eq!(fast.dims(), ops.dims(), "{dims:?} in {pt}x{p}x{p}");
                assert_eq!(values(&fast), values(&ops), "{dims:?} in {pt}x{p}x{p}");
            }
        }
        let odd = Tensor::<5>::zeros([1, 3, 8, 8, 3], &cpu);
        let err = patchify(odd, 2, 4).unwrap_err().to_string();
        assert!(err.contains("3x8x8") && err.contains("2x4x4"), "{err}");
    }
}
