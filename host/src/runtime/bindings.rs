//! Host bindings generated from `sdk/wit` (one module per world; the
//! `readout` world reuses the `task` world's tensor and type interfaces).

pub mod task {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "task",
        imports: { default: trappable },
        with: {
            "scivid:plugin/tensor.tensor": crate::runtime::host_tensor::TensorRes,
        },
    });
}

pub mod readout {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "readout",
        imports: { default: trappable },
        with: {
            "scivid:plugin/tensor": crate::runtime::bindings::task::scivid::plugin::tensor,
            "scivid:plugin/types": crate::runtime::bindings::task::scivid::plugin::types,
        },
    });
}

pub use readout::exports::scivid::plugin::readout_api::ReadoutInfo;
pub use task::exports::scivid::plugin::task_api::TaskInfo;
pub use task::scivid::plugin::types::{
    ClipSpec, Extra, FeatureSpec, FrameSource, Grant, InputSpec, Metric, Protocol, TaskKind,
    ValueMap,
};
