//! `attention`: SciVid's attention readout, a V-JEPA-style cross-attention
//! probe. Features [B, T, N, D] are layer-normalised, get a learned temporal
//! position embedding, and are flattened to T*N tokens; keys and values are
//! dense projections (with bias) to `width`; learned queries (std 0.02)
//! attend with `heads` heads in one softmax attention; then dropout, a dense
//! layer plus the query as residual, LayerNorm -> MLP(4 x width, GELU) plus
//! residual, and a dense layer to the outputs, averaged over queries.
//!
//! Options: width (1024), heads (16), dropout (0.0), queries (1), eps (1e-6).

use scivid_sdk::{Config, FeatureSpec, Init, Readout, ReadoutInfo, Result, Tensor, bail};

struct Dense {
    w: Tensor,
    b: Tensor,
}

impl Dense {
    fn new(name: &str, inputs: u32, outputs: u32, init: Init) -> Result<Self> {
        Ok(Dense {
            w: Tensor::param(&format!("{name}.weight"), &[inputs, outputs], init)?,
            b: Tensor::param(&format!("{name}.bias"), &[outputs], Init::Zeros)?,
        })
    }
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.w)?.add(&self.b)
    }
}

struct Norm {
    scale: Tensor,
    bias: Tensor,
    eps: f32,
}

impl Norm {
    fn new(name: &str, dim: u32, eps: f32) -> Result<Self> {
        Ok(Norm {
            scale: Tensor::param(&format!("{name}.scale"), &[dim], Init::Ones)?,
            bias: Tensor::param(&format!("{name}.bias"), &[dim], Init::Zeros)?,
            eps,
        })
    }
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        x.layer_norm(Some(&self.scale), Some(&self.bias), self.eps)
    }
}

struct Attention {
    width: u32,
    heads: u32,
    dropout: f32,
    queries: u32,
    time: u32,
    outputs: Vec<i64>,
    norm_in: Norm,
    pos_time: Tensor,
    query: Tensor,
    key: Dense,
    value: Dense,
    proj: Dense,
    norm_mlp: Norm,
    mlp_in: Dense,
    mlp_out: Dense,
    head: Dense,
}

impl Readout for Attention {
    fn info() -> ReadoutInfo {
        ReadoutInfo {
            name: "attention".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Cross-attention probe: learned queries attend over all T*N tokens (SciVid/V-JEPA)"
                    .into(),
            options: [
                ("width", "1024"),
                ("heads", "16"),
                ("dropout", "0.0"),
                ("queries", "1"),
                ("eps", "1e-6"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }

    fn init(config: &Config, f: FeatureSpec, output_shape: &[u32]) -> Result<Self> {
        config.check_known(&["width", "heads", "dropout", "queries", "eps"])?;
        let width: u32 = config.parse_or("width", 1024)?;
        let heads: u32 = config.parse_or("heads", 16)?;
        let dropout: f32 = config.parse_or("dropout", 0.0)?;
        let queries: u32 = config.parse_or("queries", 1)?;
        let eps: f32 = config.parse_or("eps", 1e-6)?;
        if heads == 0 || !width.is_multiple_of(heads) {
            bail!("width {width} must be a positive multiple of heads {heads}");
        }
        if !(0.0..1.0).contains(&dropout) || queries == 0 {
            bail!("dropout must be in [0, 1) and queries >= 1");
        }
        let outputs: u32 = output_shape.iter().product();
        let d = f.dim;
        Ok(Attention {
            width,
            heads,
            dropout,
            queries,
            time: f.time,
            outputs: output_shape.iter().map(|&x| x as i64).collect(),
            norm_in: Norm::new("norm_in", d, eps)?,
            pos_time: Tensor::param("pos_time", &[f.time, 1, d], Init::Normal(0.02))?,
            query: Tensor::param("query", &[queries, width], Init::Normal(0.02))?,
            key: Dense::new("key", d, width, Init::LecunNormal)?,
            value: Dense::new("value", d, width, Init::LecunNormal)?,
            proj: Dense::new("proj", width, width, Init::LecunNormal)?,
            norm_mlp: Norm::new("norm_mlp", width, eps)?,
            mlp_in: Dense::new("mlp_in", width, 4 * width, Init::LecunNormal)?,
            mlp_out: Dense::new("mlp_out", 4 * width, width, Init::LecunNormal)?,
            head: Dense::new("head", width, outputs, Init::LecunNormal)?,
        })
    }

    fn forward(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        let shape = features.shape();
        let (b, t) = (shape[0] as i64, shape[1]);
        if t != self.time {
            bail!(
                "features have {t} time steps; the readout was built for {}",
                self.time
            );
        }
        let (h, w, q) = (self.heads as i64, self.width as i64, self.queries as i64);
        let hd = w / h;
        // [B, T, N, D] -> normalised, + position in time, -> [B, T*N, D]
        let x = self.norm_in.apply(features)?.add(&self.pos_time)?;
        let x = x.reshape(&[b, -1, shape[3] as i64])?;
        // Keys and values as [B, H, L, hd]; queries as [1, H, Q, hd].
        let split =
            |y: Tensor| -> Result<Tensor> { y.reshape(&[b, -1, h, hd])?.permute(&[0, 2, 1, 3]) };
        let k = split(self.key.apply(&x)?)?;
        let v = split(self.value.apply(&x)?)?;
        let qh = self.query.reshape(&[1, q, h, hd])?.permute(&[0, 2, 1, 3])?;
        let scores = qh
            .matmul(&k.permute(&[0, 1, 3, 2])?)?
            .mul_scalar(1.0 / (hd as f32).sqrt());
        let att = scores.softmax(3)?.matmul(&v)?; // [B, H, Q, hd]
        let mut o = att.permute(&[0, 2, 1, 3])?.reshape(&[b, q, w])?;
        if train && self.dropout > 0.0 {
            o = o.dropout(self.dropout)?;
        }
        let o = self.proj.apply(&o)?.add(&self.query)?;
        let mlp = self
            .mlp_out
            .apply(&self.mlp_in.apply(&self.norm_mlp.apply(&o)?)?.gelu())?;
        let o = o.add(&mlp)?;
        let out = self.head.apply(&o)?.mean(&[1], false)?; // average over queries
        let mut out_shape = vec![b];
        out_shape.extend(&self.outputs);
        out.reshape(&out_shape)
    }
}

scivid_sdk::export_readout!(Attention);
