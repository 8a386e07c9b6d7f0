//! Keeps asking for 64 MiB host tensors and never lets go of them.
hostile_common::hostile_readout!(Hoard, "tensor-hoard", |this, features| {
    let mut hoard = vec![];
    loop {
        hoard.push(scivid_sdk::Tensor::full(&[16 << 20], 1.0)?);
    }
});
