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
    ArrayMember, Augmentation, Clip, ClipSource, ClipSpec, ClipTarget, Extra, FeatureSpec,
    FloatFrames, FrameEncoding, FrameSampling, FrameSource, FrameWindow, GaussianBlur, Grant,
    InputSpec, MediaSource, Metric, Protocol, RandomWindow, SampledClip, SequenceFrames,
    TargetFrames, TaskKind, UpscaleCrop, ValueMap, ZarrChannel, ZarrFrames,
};

/// A task-clips (SDK 0.2.3) clip as a [`SampledClip`]: its own indices.
impl From<Clip> for SampledClip {
    fn from(c: Clip) -> Self {
        SampledClip {
            id: c.id,
            source: match c.source {
                ClipSource::NpyVideo(p) => MediaSource::NpyVideo(p),
                ClipSource::NpyArray(a) => MediaSource::NpyArray(a),
                ClipSource::ImageFiles(f) => MediaSource::ImageFiles(f),
                ClipSource::Zarr(z) => MediaSource::Zarr(z),
                ClipSource::SequenceExample(s) => MediaSource::SequenceExample(s),
            },
            sampling: FrameSampling::Indices(c.frame_indices),
            target: c.target,
            group: c.group,
            extras: c.extras,
        }
    }
}

/// A task-api (SDK 0.2.0) clip as a [`SampledClip`].
impl From<ClipSpec> for SampledClip {
    fn from(c: ClipSpec) -> Self {
        SampledClip::from(Clip::from(c))
    }
}

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
