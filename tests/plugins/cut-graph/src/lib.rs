//! A readout that reads its result out of the host and builds a fresh
//! constant from it, silently cutting the autodiff graph: the host must
//! notice that its parameters receive no gradient and fail the head.
use scivid_sdk::{Config, FeatureSpec, Init, Readout, ReadoutInfo, Result, Tensor};

struct Cut {
    weight: Tensor,
    outputs: u32,
}

impl Readout for Cut {
    fn info() -> ReadoutInfo {
        ReadoutInfo {
            name: "cut-graph".into(),
            version: "0.1.0".into(),
            description: "rebuilds tensors".into(),
            options: vec![],
        }
    }
    fn init(_: &Config, f: FeatureSpec, out: &[u32]) -> Result<Self> {
        let outputs = out.iter().product();
        Ok(Cut {
            weight: Tensor::param("w", &[f.dim, outputs], Init::LecunNormal)?,
            outputs,
        })
    }
    fn forward(&self, features: &Tensor, _: bool) -> Result<Tensor> {
        let batch = features.shape()[0];
        let y = features.mean(&[1, 2], false)?.matmul(&self.weight)?;
        // Round-trip through guest memory: the values are right, the graph is gone.
        Tensor::from_data(&y.read()?, &[batch, self.outputs])
    }
}

scivid_sdk::export_readout!(Cut);
