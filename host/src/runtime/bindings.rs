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
    Clip, ClipSource, ClipSpec, ClipTarget, Extra, FeatureSpec, FloatFrames, FrameEncoding,
    FrameSource, Grant, InputSpec, Metric, Protocol, SequenceFrames, TargetFrames, TaskKind,
    ValueMap, ZarrChannel, ZarrFrames,
};

/// A task-api (SDK 0.2.0) clip as a [`Clip`].
impl From<ClipSpec> for Clip {
    fn from(c: ClipSpec) -> Self {
        Clip {
            id: c.id,
            source: match c.source {
                FrameSource::NpyVideo(p) => ClipSource::NpyVideo(p),
                FrameSource::NpyArray(a) => ClipSource::NpyArray(a),
                FrameSource::ImageFiles(f) => ClipSource::ImageFiles(f),
            },
            frame_indices: c.frame_indices,
            target: ClipTarget::Values(c.target),
            group: c.group,
            extras: c.extras,
        }
    }
}
