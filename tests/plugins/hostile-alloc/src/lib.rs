//! A readout that allocates linear memory without bound in forward.
use scivid_sdk::{Config, FeatureSpec, Init, Readout, ReadoutInfo, Result, Tensor};

struct Hog(#[allow(dead_code)] Tensor);

impl Readout for Hog {
    fn info() -> ReadoutInfo {
        ReadoutInfo {
            name: "hostile-alloc".into(),
            version: "0.1.0".into(),
            description: "allocates forever".into(),
            options: vec![],
        }
    }
    fn init(_: &Config, _: FeatureSpec, _: &[u32]) -> Result<Self> {
        Ok(Hog(Tensor::param("w", &[1], Init::Zeros)?))
    }
    fn forward(&self, _: &Tensor, _: bool) -> Result<Tensor> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
    }
}

scivid_sdk::export_readout!(Hog);
