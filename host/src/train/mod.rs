//! Training on the host: the learning-rate schedule and AdamW over the
//! parameters readouts declare. Plugins never see gradients or optimiser state.

pub mod adamw;
pub mod schedule;

pub use adamw::AdamW;
pub use schedule::WarmupCosine;
