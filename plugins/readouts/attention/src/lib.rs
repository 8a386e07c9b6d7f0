//! `attention`: SciVid's attention readout, a V-JEPA-style cross-attention
//! probe. Features [B, T, N, D] are layer-normalised, get a learned temporal
//! position embedding, and are flattened to T*N tokens; keys and values are
//! dense projections (with bias) to `width`; learned queries (std 0.02)
//! attend with `heads` heads in one softmax attention; then dropout, a dense
//! layer plus the query as residual, LayerNorm -> MLP(4 x width, GELU) plus
//! residual, and a dense layer to the outputs, averaged over queries.
//!
//! Options: width (1024), heads (16), dropout (0.0), queries (1), eps (1e-6).

use scivid_sdk::nn::{CrossAttention, Queries};
use scivid_sdk::{Config, FeatureSpec, Readout, ReadoutInfo, Result, Tensor};

struct Attention {
    outputs: Vec<i64>,
    probe: CrossAttention,
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
        let outputs: u32 = output_shape.iter().product();
        let queries = Queries::Learned(queries);
        Ok(Attention {
            outputs: output_shape.iter().map(|&x| x as i64).collect(),
            probe: CrossAttention::new(f, width, heads, dropout, outputs, eps, queries)?,
        })
    }

    fn forward(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        let b = features.shape()[0] as i64;
        // [B, Q, outputs], averaged over queries
        let out = self.probe.apply(features, None, train)?.mean(&[1], false)?;
        let mut out_shape = vec![b];
        out_shape.extend(&self.outputs);
        out.reshape(&out_shape)
    }
}

scivid_sdk::export_readout!(Attention);
