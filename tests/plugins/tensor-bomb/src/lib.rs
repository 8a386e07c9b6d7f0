//! Asks the host for a 10^6 x 10^6 tensor (4 TB).
hostile_common::hostile_readout!(Bomb, "tensor-bomb", |this, features| {
    scivid_sdk::Tensor::full(&[1_000_000, 1_000_000], 0.0)
});
