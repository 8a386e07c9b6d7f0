//! Predicts NaN and Inf (0 * inf and 1/0) through host ops.
hostile_common::hostile_readout!(NanOut, "nan-output", |this, features| {
    let y = hostile_common::pooled_dense(&this.0, features)?;
    let zero = scivid_sdk::Tensor::scalar(0.0)?;
    let inf = scivid_sdk::Tensor::scalar(1.0)?.div(&zero)?;
    y.mul(&inf)?.mul(&zero)
});
