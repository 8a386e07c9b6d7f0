//! One host op far costlier than its inputs: a 2048^3 matmul (17 GFLOP) of
//! two 16 MiB tensors. Fuel cannot interrupt a host op once it runs; the
//! host must refuse it up front.
hostile_common::hostile_readout!(FlopBomb, "flop-bomb", |this, features| {
    let x = scivid_sdk::Tensor::full(&[2048, 2048], 1.0)?;
    std::hint::black_box(x.matmul(&x)?);
    hostile_common::pooled_dense(&this.0, features)
});
