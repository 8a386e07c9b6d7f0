//! `linear`: SciVid's linear readout. Features [B, T, N, D] are pooled and
//! fed to one dense layer. `pool = "mean"` (SciVid's default) averages over
//! time and tokens; `pool = "flatten"` keeps every time step and token, which
//! lets a linear map see motion in frozen features that carry none per frame
//! (the pixel control).

use scivid_sdk::{Config, FeatureSpec, Init, Readout, ReadoutInfo, Result, Tensor, bail};

struct Linear {
    pool: Pool,
    weight: Tensor,
    bias: Tensor,
    output_shape: Vec<i64>,
}

#[derive(Clone, Copy)]
enum Pool {
    Mean,
    Flatten,
}

impl Readout for Linear {
    fn info() -> ReadoutInfo {
        ReadoutInfo {
            name: "linear".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Pool features (mean over time and tokens, or flatten), then one dense layer".into(),
            options: vec![("pool".into(), "mean".into())],
        }
    }

    fn init(config: &Config, f: FeatureSpec, output_shape: &[u32]) -> Result<Self> {
        config.check_known(&["pool"])?;
        let pool = match config.get("pool").unwrap_or("mean") {
            "mean" => Pool::Mean,
            "flatten" => Pool::Flatten,
            other => bail!("config key `pool`: `{other}` is not `mean` or `flatten`"),
        };
        let inputs = match pool {
            Pool::Mean => f.dim,
            Pool::Flatten => f.time * f.tokens * f.dim,
        };
        let outputs: u32 = output_shape.iter().product();
        Ok(Linear {
            pool,
            weight: Tensor::param("dense.weight", &[inputs, outputs], Init::LecunNormal)?,
            bias: Tensor::param("dense.bias", &[outputs], Init::Zeros)?,
            output_shape: output_shape.iter().map(|&d| d as i64).collect(),
        })
    }

    fn forward(&self, features: &Tensor, _train: bool) -> Result<Tensor> {
        let batch = features.shape()[0] as i64;
        let pooled = match self.pool {
            Pool::Mean => features.mean(&[1, 2], false)?,
            Pool::Flatten => features.reshape(&[batch, -1])?,
        };
        let out = pooled.matmul(&self.weight)?.add(&self.bias)?;
        let mut shape = vec![batch];
        shape.extend(&self.output_shape);
        out.reshape(&shape)
    }
}

scivid_sdk::export_readout!(Linear);
