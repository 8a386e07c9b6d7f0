//! `change-mlp`: a readout a third party might write. It asks "what
//! changed?": each token's features at the last frame minus the first,
//! flattened over tokens, through an MLP (`hidden` wide, GELU). Mean
//! pooling (SciVid's linear probe) cannot tell a motion's direction; the
//! change of every token can. Built only against `scivid-sdk`:
//!
//!     cargo build --release --target wasm32-wasip2
//!     scivid run --task motion --readout target/wasm32-wasip2/release/change_mlp.wasm:hidden=64
//!
//! Options: hidden (128).

use scivid_sdk::nn::{Dense, Mlp};
use scivid_sdk::{Config, FeatureSpec, Init, Readout, ReadoutInfo, Result, Tensor, bail};

struct ChangeMlp {
    tokens: u32,
    dim: u32,
    outputs: Vec<i64>,
    mlp: Mlp,
    head: Dense,
}

impl Readout for ChangeMlp {
    fn info() -> ReadoutInfo {
        ReadoutInfo {
            name: "change-mlp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "MLP on each token's change from the first to the last frame".into(),
            options: vec![("hidden".into(), "128".into())],
        }
    }

    fn init(config: &Config, f: FeatureSpec, output_shape: &[u32]) -> Result<Self> {
        config.check_known(&["hidden"])?;
        let hidden: u32 = config.parse_or("hidden", 128)?;
        if f.time < 2 || hidden == 0 {
            bail!("needs at least 2 frames and hidden >= 1");
        }
        let inputs = f.tokens * f.dim;
        let outputs: u32 = output_shape.iter().product();
        Ok(ChangeMlp {
            tokens: f.tokens,
            dim: f.dim,
            outputs: output_shape.iter().map(|&d| d as i64).collect(),
            mlp: Mlp::new("mlp", inputs, hidden, hidden)?,
            head: Dense::new("head", hidden, outputs, Init::LecunNormal)?,
        })
    }

    fn forward(&self, features: &Tensor, _train: bool) -> Result<Tensor> {
        let shape = features.shape(); // [B, T, N, D]
        let (b, t) = (shape[0] as i64, shape[1]);
        let change = features
            .slice(1, t - 1, t)?
            .sub(&features.slice(1, 0, 1)?)?
            .reshape(&[b, (self.tokens * self.dim) as i64])?;
        let out = self.head.apply(&self.mlp.apply(&change)?.gelu())?;
        let mut out_shape = vec![b];
        out_shape.extend(&self.outputs);
        out.reshape(&out_shape)
    }
}

scivid_sdk::export_readout!(ChangeMlp);
