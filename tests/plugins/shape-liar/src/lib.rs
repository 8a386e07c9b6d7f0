//! Returns predictions with a different shape than the task's output spec.
hostile_common::hostile_readout!(Liar, "shape-liar", |this, features| {
    let batch = features.shape()[0];
    scivid_sdk::Tensor::full(&[batch, 7], 0.0)
});
