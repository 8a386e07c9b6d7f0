//! Millions of tiny host ops in one call (each cheap, together unbounded).
hostile_common::hostile_readout!(Flood, "op-flood", |this, features| {
    let x = scivid_sdk::Tensor::scalar(0.0)?;
    for _ in 0..50_000_000u64 {
        std::hint::black_box(x.add_scalar(1.0));
    }
    hostile_common::pooled_dense(&this.0, features)
});
