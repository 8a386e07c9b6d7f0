//! A readout whose forward never returns: fuel or the wall clock must stop it.
use scivid_sdk::{Config, FeatureSpec, Init, Readout, ReadoutInfo, Result, Tensor};

struct Spin(#[allow(dead_code)] Tensor);

impl Readout for Spin {
    fn info() -> ReadoutInfo {
        ReadoutInfo {
            name: "hostile-loop".into(),
            version: "0.1.0".into(),
            description: "loops forever".into(),
            options: vec![],
        }
    }
    fn init(_: &Config, _: FeatureSpec, _: &[u32]) -> Result<Self> {
        Ok(Spin(Tensor::param("w", &[1], Init::Zeros)?))
    }
    fn forward(&self, _: &Tensor, _: bool) -> Result<Tensor> {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
}

scivid_sdk::export_readout!(Spin);
