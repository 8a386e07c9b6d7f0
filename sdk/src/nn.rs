//! Layers that readouts share, built from host tensor ops: [`Dense`]
//! (`x @ W + b`), [`LayerNorm`], [`Mlp`] (dense, GELU, dense),
//! [`CrossAttention`] (SciVid's attention probe, for learned or supplied
//! queries) and [`fourier_features`] (NeRF-style sin/cos features of
//! coordinates).
//! Parameters are declared with [`Tensor::param`] under `NAME.weight`,
//! `NAME.bias`, `NAME.scale`, so fixtures and checkpoints can name them.
//!
//! ```no_run
//! use scivid_sdk::nn::{Dense, Mlp};
//! use scivid_sdk::{Init, Tensor};
//! # fn demo(x: &Tensor) -> scivid_sdk::Result<Tensor> {
//! let mlp = Mlp::new("mlp", 64, 256, 64)?; // mlp_in.weight, mlp_out.bias, ...
//! let head = Dense::new("head", 64, 3, Init::LecunNormal)?;
//! head.apply(&mlp.apply(x)?)
//! # }
//! ```

use crate::{Init, Padding, Result, Tensor};

/// A dense layer: `x @ weight + bias` (weight [inputs, outputs]).
pub struct Dense {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Dense {
    /// Weight initialised with `init`, bias with zeros.
    pub fn new(name: &str, inputs: u32, outputs: u32, init: Init) -> Result<Self> {
        Ok(Dense {
            weight: Tensor::param(&format!("{name}.weight"), &[inputs, outputs], init)?,
            bias: Tensor::param(&format!("{name}.bias"), &[outputs], Init::Zeros)?,
        })
    }

    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight)?.add(&self.bias)
    }
}

/// A 2-D convolution (or transposed convolution) with bias on images
/// [B, H, W, C], as flax's `Conv`/`ConvTranspose`: kernel
/// `NAME.weight` [kh, kw, in, out] (LeCun normal over the window, or the
/// given init), bias `NAME.bias` [out] (zeros).
pub struct Conv {
    pub weight: Tensor,
    pub bias: Tensor,
    pub stride: (u32, u32),
    pub padding: Padding,
    pub transposed: bool,
}

impl Conv {
    /// A `size` x `size` convolution, `stride` in both axes, `same` padding.
    pub fn new(name: &str, inputs: u32, outputs: u32, size: u32, stride: u32) -> Result<Self> {
        Self::with_init(name, inputs, outputs, size, stride, Init::LecunNormal)
    }

    /// [`Conv::new`] with the kernel and bias initialised by `init` (e.g.
    /// `Init::Zeros` for a last layer that starts at zero).
    pub fn with_init(
        name: &str,
        inputs: u32,
        outputs: u32,
        size: u32,
        stride: u32,
        init: Init,
    ) -> Result<Self> {
        let bias_init = match init {
            Init::LecunNormal => Init::Zeros,
            other => other,
        };
        Ok(Conv {
            weight: Tensor::param(
                &format!("{name}.weight"),
                &[size, size, inputs, outputs],
                init,
            )?,
            bias: Tensor::param(&format!("{name}.bias"), &[outputs], bias_init)?,
            stride: (stride, stride),
            padding: Padding::Same,
            transposed: false,
        })
    }

    /// A transposed convolution (upsampling by `stride`).
    pub fn transposed(
        name: &str,
        inputs: u32,
        outputs: u32,
        size: u32,
        stride: u32,
    ) -> Result<Self> {
        Ok(Conv {
            transposed: true,
            ..Self::new(name, inputs, outputs, size, stride)?
        })
    }

    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let y = if self.transposed {
            x.conv_transpose2d(&self.weight, self.stride, self.padding)?
        } else {
            x.conv2d(&self.weight, self.stride, self.padding)?
        };
        y.add(&self.bias)
    }
}

/// LayerNorm over the last axis with a learned scale (ones) and bias (zeros).
pub struct LayerNorm {
    pub scale: Tensor,
    pub bias: Tensor,
    pub eps: f32,
}

impl LayerNorm {
    pub fn new(name: &str, dim: u32, eps: f32) -> Result<Self> {
        Ok(LayerNorm {
            scale: Tensor::param(&format!("{name}.scale"), &[dim], Init::Ones)?,
            bias: Tensor::param(&format!("{name}.bias"), &[dim], Init::Zeros)?,
            eps,
        })
    }

    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        x.layer_norm(Some(&self.scale), Some(&self.bias), self.eps)
    }
}

/// One hidden layer with GELU: `NAME_in` then `NAME_out` (Lecun-normal).
pub struct Mlp {
    pub hidden: Dense,
    pub out: Dense,
}

impl Mlp {
    pub fn new(name: &str, inputs: u32, hidden: u32, outputs: u32) -> Result<Self> {
        Ok(Mlp {
            hidden: Dense::new(&format!("{name}_in"), inputs, hidden, Init::LecunNormal)?,
            out: Dense::new(&format!("{name}_out"), hidden, outputs, Init::LecunNormal)?,
        })
    }

    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        self.out.apply(&self.hidden.apply(x)?.gelu())
    }
}

/// Fourier features of coordinates `x` [..., d]: with `u = pi * x`, the
/// values `2^i * u_j` for i in 0..bases (ordered i-major, then j), then
/// their sines followed by their cosines: [..., 2 * d * bases]. This is
/// SciVid's `SampleFourierEmbedding` (NeRF-style positional encoding).
pub fn fourier_features(x: &Tensor, bases: u32) -> Result<Tensor> {
    let scaled: Vec<Tensor> = (0..bases)
        .map(|i| x.mul_scalar(std::f32::consts::PI * (1u32 << i) as f32))
        .collect();
    let rank = x.shape().len() as u32;
    let last = rank.checked_sub(1).ok_or_else(|| {
        crate::Error("fourier_features needs coordinates with a last axis".into())
    })?;
    let u = Tensor::concat(&scaled.iter().collect::<Vec<_>>(), last)?;
    Tensor::concat(&[&u.sin(), &u.cos()], last)
}

/// Where a [`CrossAttention`]'s queries come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Queries {
    /// This many learned queries (parameter `query`).
    Learned(u32),
    /// Given to every [`CrossAttention::apply`] call.
    Supplied,
}

/// SciVid's cross-attention probe (V-JEPA style) after its queries: the
/// features [B, T, N, D] are layer-normalised, get a learned temporal
/// position embedding (`pos_time` [T, 1, D]) and are flattened to T*N
/// tokens; keys and values are dense projections to `width`; the queries
/// (learned, `query` [Q, width] with std 0.02, or supplied by the caller as
/// [B, Q, width]) attend with `heads` heads in one softmax attention;
/// then dropout, a dense layer plus the query as residual, LayerNorm ->
/// MLP(4 x width, GELU) plus residual, and a dense layer to `outputs`.
/// Parameters: `norm_in`, `pos_time`, (`query`), `key`, `value`, `proj`,
/// `norm_mlp`, `mlp_in`, `mlp_out`, `head`.
pub struct CrossAttention {
    pub width: u32,
    pub heads: u32,
    pub dropout: f32,
    pub time: u32,
    norm_in: LayerNorm,
    pos_time: Tensor,
    query: Option<Tensor>,
    key: Dense,
    value: Dense,
    proj: Dense,
    norm_mlp: LayerNorm,
    mlp: Mlp,
    head: Dense,
}

impl CrossAttention {
    /// Checks that `width` splits into `heads` and `dropout` is in [0, 1).
    pub fn new(
        features: crate::FeatureSpec,
        width: u32,
        heads: u32,
        dropout: f32,
        outputs: u32,
        eps: f32,
        queries: Queries,
    ) -> Result<Self> {
        if heads == 0 || !width.is_multiple_of(heads) {
            crate::bail!("width {width} must be a positive multiple of heads {heads}");
        }
        if !(0.0..1.0).contains(&dropout) {
            crate::bail!("dropout {dropout} must be in [0, 1)");
        }
        if queries == Queries::Learned(0) {
            crate::bail!("queries must be >= 1");
        }
        let d = features.dim;
        Ok(CrossAttention {
            width,
            heads,
            dropout,
            time: features.time,
            norm_in: LayerNorm::new("norm_in", d, eps)?,
            pos_time: Tensor::param("pos_time", &[features.time, 1, d], Init::Normal(0.02))?,
            query: match queries {
                Queries::Learned(q) => {
                    Some(Tensor::param("query", &[q, width], Init::Normal(0.02))?)
                }
                Queries::Supplied => None,
            },
            key: Dense::new("key", d, width, Init::LecunNormal)?,
            value: Dense::new("value", d, width, Init::LecunNormal)?,
            proj: Dense::new("proj", width, width, Init::LecunNormal)?,
            norm_mlp: LayerNorm::new("norm_mlp", width, eps)?,
            mlp: Mlp::new("mlp", width, 4 * width, width)?,
            head: Dense::new("head", width, outputs, Init::LecunNormal)?,
        })
    }

    /// features [B, T, N, D] and, for [`Queries::Supplied`], queries
    /// [B, Q, width] -> [B, Q, outputs].
    pub fn apply(
        &self,
        features: &Tensor,
        supplied: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let learned;
        let queries = match (&self.query, supplied) {
            (Some(q), None) => {
                learned = q.reshape(&[1, q.shape()[0] as i64, self.width as i64])?;
                &learned
            }
            (None, Some(q)) => q,
            (Some(_), Some(_)) => crate::bail!("this probe has learned queries; pass none"),
            (None, None) => crate::bail!("this probe needs queries supplied"),
        };
        let shape = features.shape();
        if shape.len() != 4 || shape[1] != self.time {
            crate::bail!(
                "features have shape {shape:?}; the readout was built for [B, {}, N, D]",
                self.time
            );
        }
        let qs = queries.shape();
        if qs.len() != 3 || qs[2] != self.width {
            crate::bail!("queries have shape {qs:?}; expected [B, Q, {}]", self.width);
        }
        let (b, q) = (shape[0] as i64, qs[1] as i64);
        let (h, w) = (self.heads as i64, self.width as i64);
        let hd = w / h;
        // The inputs of the keys and values: (x̂ * scale + bias + pos) @ W
        // + b is x̂ @ (scale * W) + ((bias + pos) @ W + b), so the big
        // normalised features x̂ [B, T, N, D] stay a constant (no gradient
        // flows into them) and the position only shifts each time step.
        let plain = features.layer_norm(None, None, self.norm_in.eps)?;
        let shift = self.norm_in.bias.add(&self.pos_time)?; // [T, 1, D]
        let scale = self.norm_in.scale.reshape(&[-1, 1])?; // [D, 1]
        // Queries as [Bq, H, Q, hd], with the 1/sqrt(hd) of the scores.
        let qh = queries
            .reshape(&[qs[0] as i64, q, h, hd])?
            .permute(&[0, 2, 1, 3])?
            .mul_scalar(1.0 / (hd as f32).sqrt());
        let inputs = AttentionInputs {
            plain: &plain,
            shift: &shift,
            scale: &scale,
            heads: h,
            head_dim: hd,
        };
        // Few queries (heads x queries below the width): never form the
        // keys and values; else the usual projections. Same numbers.
        let att = if h * q < w {
            inputs.attend_through_features(&qh, &self.key, &self.value)?
        } else {
            inputs.attend_through_keys(&qh, &self.key, &self.value)?
        }; // [B, H, Q, hd]
        let mut o = att.permute(&[0, 2, 1, 3])?.reshape(&[b, q, w])?;
        if train && self.dropout > 0.0 {
            o = o.dropout(self.dropout)?;
        }
        let o = self.proj.apply(&o)?.add(queries)?;
        let o = o.add(&self.mlp.apply(&self.norm_mlp.apply(&o)?)?)?;
        self.head.apply(&o)
    }
}

/// What both ways of computing [`CrossAttention`]'s attention share: the
/// normalised features x̂ [B, T, N, D], the LayerNorm bias plus the time
/// position `shift` [T, 1, D] and the LayerNorm `scale` [D, 1].
struct AttentionInputs<'a> {
    plain: &'a Tensor,
    shift: &'a Tensor,
    scale: &'a Tensor,
    heads: i64,
    head_dim: i64,
}

impl AttentionInputs<'_> {
    /// The usual way: keys and values [B, H, T*N, hd] from dense
    /// projections, then softmax(q k^T) v.
    fn attend_through_keys(&self, qh: &Tensor, key: &Dense, value: &Dense) -> Result<Tensor> {
        let (h, hd) = (self.heads, self.head_dim);
        let b = self.plain.shape()[0] as i64;
        let project = |dense: &Dense| -> Result<Tensor> {
            let y = self.plain.matmul(&dense.weight.mul(self.scale)?)?; // [B, T, N, W]
            let y = y.add(&self.shift.matmul(&dense.weight)?.add(&dense.bias)?)?;
            y.reshape(&[b, -1, h, hd])?.permute(&[0, 2, 1, 3])
        };
        let (k, v) = (project(key)?, project(value)?);
        let scores = qh.matmul(&k.permute(&[0, 1, 3, 2])?)?;
        scores.softmax(3)?.matmul(&v)
    }

    /// For few queries: with Wk' = scale * Wk and ck[t] = shift[t] @ Wk +
    /// bk, each score q . k = x̂ @ (Wk' q) + ck[t] . q, so the queries are
    /// folded into the key weights ([D, H*Q] instead of [D, width]); and
    /// since each softmax row sums to 1, p @ v = (p @ x̂) @ Wv' + (p summed
    /// per time step) @ cv. The work on the big features drops by width /
    /// (heads x queries).
    fn attend_through_features(&self, qh: &Tensor, key: &Dense, value: &Dense) -> Result<Tensor> {
        let (h, hd) = (self.heads, self.head_dim);
        let s = self.plain.shape();
        let (b, t, n, d) = (s[0] as i64, s[1] as i64, s[2] as i64, s[3] as i64);
        let q = qh.shape()[2] as i64;
        // A weight [D, W] per head: [H, D, hd]; a per-time offset [T, W]
        // per head: [H, T, hd].
        let per_head = |w: &Tensor| w.reshape(&[d, h, hd])?.permute(&[1, 0, 2]);
        let offset = |dense: &Dense| -> Result<Tensor> {
            let c = self.shift.matmul(&dense.weight)?.add(&dense.bias)?; // [T, 1, W]
            c.reshape(&[t, h, hd])?.permute(&[1, 0, 2])
        };
        // Scores [B, H, Q, T*N].
        let folded = per_head(&key.weight.mul(self.scale)?)? // [H, D, hd]
            .matmul(&qh.permute(&[0, 1, 3, 2])?)? // [Bq, H, D, Q]
            .permute(&[0, 2, 1, 3])?;
        let folded = folded.reshape(&[folded.shape()[0] as i64, d, h * q])?;
        let x = self.plain.reshape(&[b, t * n, d])?;
        let scores = x
            .matmul(&folded)? // [B, T*N, H*Q]
            .reshape(&[b, t, n, h, q])?
            .permute(&[0, 3, 4, 1, 2])?; // [B, H, Q, T, N]
        let ck = qh.matmul(&offset(key)?.permute(&[0, 2, 1])?)?; // [Bq, H, Q, T]
        let ck = ck.reshape(&[ck.shape()[0] as i64, h, q, t, 1])?;
        let p = scores.add(&ck)?.reshape(&[b, h, q, t * n])?.softmax(3)?;
        // p @ v, through the features.
        let px = p.reshape(&[b, h * q, t * n])?.matmul(&x)?; // [B, H*Q, D]
        let pv = px
            .reshape(&[b, h, q, d])?
            .matmul(&per_head(&value.weight.mul(self.scale)?)?)?; // [B, H, Q, hd]
        let per_step = p.reshape(&[b, h, q, t, n])?.sum(&[4], false)?; // [B, H, Q, T]
        pv.add(&per_step.matmul(&offset(value)?)?)
    }
}
