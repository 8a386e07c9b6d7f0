//! A readout built against the frozen SDK 0.2.0 contract
//! (`sdk/wit-snapshots/0.2.0`) with raw wit-bindgen bindings, as a plugin
//! published before SDK 0.2.1 was: the host must keep loading it (0.2.1
//! only adds functions) and train it like any other head.

wit_bindgen::generate!({
    path: "../../../sdk/wit-snapshots/0.2.0",
    world: "readout",
    generate_all,
});

use exports::scivid::plugin::readout_api::{Guest, ReadoutInfo};
use scivid::plugin::tensor::{Init, Tensor};
use scivid::plugin::types::FeatureSpec;
use std::cell::RefCell;

/// Mean-pooled features, one dense layer: weight, bias, output shape.
struct Dense {
    weight: Tensor,
    bias: Tensor,
    output_shape: Vec<i64>,
}

thread_local! {
    static DENSE: RefCell<Option<Dense>> = const { RefCell::new(None) };
}

struct Old;

impl Guest for Old {
    fn info() -> ReadoutInfo {
        ReadoutInfo {
            name: "old-sdk-linear".into(),
            version: "0.1.0".into(),
            description: "A linear probe built against SDK 0.2.0".into(),
            options: vec![],
        }
    }

    fn init(
        _config: Vec<(String, String)>,
        features: FeatureSpec,
        output_shape: Vec<u32>,
    ) -> Result<(), String> {
        let outputs: u32 = output_shape.iter().product();
        let dense = Dense {
            weight: Tensor::param("dense.weight", &[features.dim, outputs], Init::Normal(0.02))?,
            bias: Tensor::param("dense.bias", &[outputs], Init::Zeros)?,
            output_shape: output_shape.iter().map(|&d| d as i64).collect(),
        };
        DENSE.with(|d| *d.borrow_mut() = Some(dense));
        Ok(())
    }

    fn forward(
        features: &Tensor,
        _extra_names: Vec<String>,
        _extras: Vec<Tensor>,
        _train: bool,
    ) -> Result<Tensor, String> {
        DENSE.with(|d| {
            let d = d.borrow();
            let d = d.as_ref().ok_or("forward before init")?;
            let batch = features.shape()[0] as i64;
            let out = features
                .mean(&[1, 2], false)?
                .matmul(&d.weight)?
                .add(&d.bias)?;
            let mut shape = vec![batch];
            shape.extend(&d.output_shape);
            out.reshape(&shape)
        })
    }
}

export!(Old);

#[unsafe(link_section = "scivid:sdk-version")]
#[used]
static SDK_VERSION: [u8; 5] = *b"0.2.0";
