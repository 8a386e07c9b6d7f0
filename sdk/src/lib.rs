//! # scivid-sdk
//!
//! Write scivid task and readout plugins in ordinary Rust. A plugin is a
//! WebAssembly component (`cargo build --target wasm32-wasip2`) that the
//! `scivid` host loads in a sandbox; it works on host-owned tensors through
//! [`Tensor`] handles, so heavy data never enters the plugin's memory.
//!
//! - A **task** implements [`Task`] (what a clip is, the loss, the control
//!   baseline) and [`Metrics`] (chunk-then-reduce scores), then calls
//!   [`export_task!`].
//! - A **readout** implements [`Readout`] (declare parameters, forward) and
//!   calls [`export_readout!`].
//!
//! The contract is the WIT package `scivid:plugin@0.2.4` in `sdk/wit`; the
//! SDK version a plugin was built with is embedded in a custom section that
//! the host checks before it compiles the plugin.
//!
//! ## A task
//!
//! A whole task plugin: its data is `SPLIT/labels.csv` (`id,file,label,video`)
//! next to one uint8 `.npy` video per clip; two classes; accuracy. (The
//! examples here compile and run as tests of this crate; calls into the host
//! only happen inside the host.)
//!
//! ```
//! use scivid_sdk::data::Csv;
//! use scivid_sdk::metrics::argmax_rows;
//! use scivid_sdk::{
//!     ClipSpec, DATA_DIR, FrameSource, Grant, InputSpec, Metric, Metrics, Result, Task,
//!     TaskInfo, TaskKind, Tensor, bail, scivid_protocol,
//! };
//!
//! const CLASSES: [&str; 2] = ["still", "moving"];
//!
//! struct Moving;
//!
//! impl Task for Moving {
//!     type Metrics = Accuracy;
//!
//!     fn info() -> TaskInfo {
//!         TaskInfo {
//!             name: "moving".into(),
//!             version: "0.1.0".into(),
//!             description: "Does anything move?".into(),
//!             kind: TaskKind::Classification,
//!             input: InputSpec { frames: 16, height: 224, width: 224, channels: 3 },
//!             target_shape: vec![2],
//!             metrics: vec!["accuracy".into()],
//!             primary_metric: "accuracy".into(),
//!             higher_is_better: true,
//!             protocol: scivid_protocol(), // SciVid's AdamW schedule
//!             grants: vec![Grant::DatasetRead], // DATA_DIR, read-only
//!         }
//!     }
//!
//!     fn splits() -> Vec<String> {
//!         vec!["train".into(), "test".into()] // the first one trains
//!     }
//!
//!     fn index(split: &str) -> Result<Vec<ClipSpec>> {
//!         let csv = Csv::read(&format!("{DATA_DIR}/{split}/labels.csv"))?;
//!         let mut clips = vec![];
//!         for row in csv.rows() {
//!             let label = row.get("label")?;
//!             let Some(class) = CLASSES.iter().position(|c| *c == label) else {
//!                 return Err(row.error(format_args!("unknown label `{label}`")));
//!             };
//!             let mut target = vec![0.0; 2];
//!             target[class] = 1.0;
//!             clips.push(ClipSpec {
//!                 id: row.get("id")?.into(),
//!                 // The host reads and decodes the frames, never the plugin.
//!                 source: FrameSource::NpyVideo(format!("{split}/{}", row.get("file")?)),
//!                 frame_indices: (0..16).collect(),
//!                 target,
//!                 group: row.get("video")?.into(), // for clustered intervals
//!                 extras: vec![],
//!             });
//!         }
//!         Ok(clips)
//!     }
//!
//!     fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
//!         predictions.softmax_cross_entropy(targets) // host ops: differentiable
//!     }
//!
//!     fn control(train_targets: &Tensor, clips: &[ClipSpec]) -> Result<Tensor> {
//!         // No video: the training label frequencies, as log-probabilities.
//!         train_targets.mean(&[0], true)?.add_scalar(1e-6).log().expand(&[clips.len() as u32, 2])
//!     }
//! }
//!
//! /// Chunk by chunk, then reduced.
//! struct Accuracy { hits: usize, total: usize }
//!
//! impl Metrics for Accuracy {
//!     fn new(_split: &str) -> Self { Accuracy { hits: 0, total: 0 } }
//!     fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
//!         let (p, t) = (argmax_rows(&predictions.read()?, 2), argmax_rows(&targets.read()?, 2));
//!         self.hits += p.iter().zip(&t).filter(|(a, b)| a == b).count();
//!         self.total += t.len();
//!         Ok(())
//!     }
//!     fn finish(&mut self) -> Result<Vec<Metric>> {
//!         if self.total == 0 {
//!             bail!("no predictions");
//!         }
//!         Ok(vec![Metric { name: "accuracy".into(), value: self.hits as f64 / self.total as f64 }])
//!     }
//! }
//!
//! scivid_sdk::export_task!(Moving);
//! ```
//!
//! ## A readout
//!
//! Parameters are host tensors declared in `init`; `forward` composes host
//! ops, so the host's autodiff reaches every parameter.
//!
//! ```
//! use scivid_sdk::{Config, FeatureSpec, Init, Readout, ReadoutInfo, Result, Tensor};
//!
//! struct MeanProbe { weight: Tensor, bias: Tensor, outputs: Vec<i64> }
//!
//! impl Readout for MeanProbe {
//!     fn info() -> ReadoutInfo {
//!         ReadoutInfo {
//!             name: "mean-probe".into(),
//!             version: "0.1.0".into(),
//!             description: "Mean over time and tokens, one dense layer".into(),
//!             options: vec![],
//!         }
//!     }
//!
//!     fn init(config: &Config, f: FeatureSpec, output_shape: &[u32]) -> Result<Self> {
//!         config.check_known(&[])?; // unknown keys are errors
//!         let n: u32 = output_shape.iter().product();
//!         Ok(MeanProbe {
//!             weight: Tensor::param("dense.weight", &[f.dim, n], Init::LecunNormal)?,
//!             bias: Tensor::param("dense.bias", &[n], Init::Zeros)?,
//!             outputs: output_shape.iter().map(|&d| d as i64).collect(),
//!         })
//!     }
//!
//!     fn forward(&self, features: &Tensor, _train: bool) -> Result<Tensor> {
//!         // features: [B, T, N, D] -> predictions [B, ..output_shape]
//!         let batch = features.shape()[0] as i64;
//!         let out = features.mean(&[1, 2], false)?.matmul(&self.weight)?.add(&self.bias)?;
//!         out.reshape(&[&[batch][..], &self.outputs].concat())
//!     }
//! }
//!
//! scivid_sdk::export_readout!(MeanProbe);
//! ```

// The generated bindings name the SDK by its crate name, also from inside it.
extern crate self as scivid_sdk;

#[doc(hidden)]
pub mod bindings;
pub mod data;
pub mod metrics;
pub mod nn;
mod tensor;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::readout::exports::scivid::plugin::readout_api::ReadoutInfo;
pub use bindings::shared::scivid::plugin::types::{
    ArrayMember, Augmentation, Clip, ClipSource, ClipSpec, ClipTarget, Extra, FeatureSpec,
    FloatFrames, FrameEncoding, FrameSampling, FrameSource, FrameWindow, GaussianBlur, Grant,
    InputSpec, MediaSource, Metric, Protocol, RandomWindow, SampledClip, SequenceFrames,
    TargetFrames, TaskKind, UpscaleCrop, ValueMap, ZarrChannel, ZarrFrames,
};
pub use bindings::task::exports::scivid::plugin::task_api::TaskInfo;
/// Reading SciVid's released data in a task: ArrayRecord files of
/// `tf.train.SequenceExample` (labels in context features; point clips at
/// the frames with [`ClipSource::SequenceExample`], the host decodes them).
pub use scivid_records as records;
pub use tensor::{Init, Padding, Tensor};

/// The SDK (and WIT package) version this crate implements.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Name of the custom section holding [`SDK_VERSION`] in every plugin.
pub const SDK_VERSION_SECTION: &str = "scivid:sdk-version";

/// Where a task's dataset directory appears inside the sandbox.
pub const DATA_DIR: &str = "/data";

/// SciVid's shared training protocol: AdamW at peak lr 3e-4, 1000 warmup
/// steps, cosine decay to 1e-7, weight decay 1e-4, 40,000 steps of batch 32
/// (1.28M samples), no clipping. Tasks change what differs
/// (`Protocol { weight_decay: 0.0, ..scivid_protocol() }`).
pub fn scivid_protocol() -> Protocol {
    Protocol {
        steps: 40_000,
        batch_size: 32,
        learning_rate: 3e-4,
        warmup_steps: 1000,
        final_learning_rate: 1e-7,
        weight_decay: 1e-4,
        clip_norm: None,
    }
}

/// An error a plugin returns to the host; the message should name the thing.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Error {}
impl From<String> for Error {
    fn from(s: String) -> Self {
        Error(s)
    }
}
impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error(s.to_string())
    }
}
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Build an [`Error`] with `format!` syntax and return it.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::Error(format!($($arg)*))) };
}

/// A scientific task: data, loss, control baseline and metrics.
pub trait Task {
    /// The metric accumulator for one evaluation pass.
    type Metrics: Metrics;
    fn info() -> TaskInfo;
    fn splits() -> Vec<String>;
    /// Clips of `split`, read from [`DATA_DIR`]. Implement this or
    /// [`Task::clips`] (for sources and targets a [`ClipSpec`] cannot carry).
    fn index(split: &str) -> Result<Vec<ClipSpec>> {
        let _ = split;
        bail!("this task implements neither Task::index nor Task::clips")
    }
    /// Clips of `split` with every source (e.g. Zarr) and targets the host
    /// reads ([`ClipTarget::Frames`]). Since SDK 0.2.3; by default the clips
    /// of [`Task::index`].
    fn clips(split: &str) -> Result<Vec<Clip>> {
        Ok(Self::index(split)?.into_iter().map(Clip::from).collect())
    }
    /// Clips of `split` with every source, video files among them, and frame
    /// sampling the host does (a random window, the middle, a linspace over
    /// a whole video). Since SDK 0.2.4; by default the clips of
    /// [`Task::clips`], each taking its own frame indices.
    fn sampled_clips(split: &str) -> Result<Vec<SampledClip>> {
        Ok(Self::clips(split)?
            .into_iter()
            .map(SampledClip::from)
            .collect())
    }
    /// Training loss (a scalar tensor built from host ops so gradients flow).
    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor>;
    /// Predictions of the no-video baseline for `clips`. Implement this or
    /// [`Task::control_clips`].
    fn control(train_targets: &Tensor, clips: &[ClipSpec]) -> Result<Tensor> {
        let _ = (train_targets, clips);
        bail!("this task implements neither Task::control nor Task::control_clips")
    }
    /// The control for clips of [`Task::clips`]. Since SDK 0.2.3; by
    /// default [`Task::control`], for clips a [`ClipSpec`] can carry.
    fn control_clips(train_targets: &Tensor, clips: &[Clip]) -> Result<Tensor> {
        let specs = clips
            .iter()
            .cloned()
            .map(ClipSpec::try_from)
            .collect::<Result<Vec<_>>>()?;
        Self::control(train_targets, &specs)
    }
    /// The control for clips of [`Task::sampled_clips`]. Since SDK 0.2.4; by
    /// default [`Task::control_clips`], for clips a [`Clip`] can carry.
    fn control_sampled(train_targets: &Tensor, clips: &[SampledClip]) -> Result<Tensor> {
        let clips = clips
            .iter()
            .cloned()
            .map(Clip::try_from)
            .collect::<Result<Vec<_>>>()?;
        Self::control_clips(train_targets, &clips)
    }
    /// The training split's augmentation in `online` runs (features
    /// recomputed every step), applied in order to each clip's frames at
    /// the task's size; `cached` runs use none. Since SDK 0.2.4; by default
    /// none. SciVid's CalMS21, for example:
    /// `[UpscaleCrop { 1.0, 2.0, p 1 }, GaussianBlur { 0.1, 2.0, 36 taps, p 0.5 }, FlipLeftRight(0.5)]`.
    fn augmentations() -> Vec<Augmentation> {
        vec![]
    }
}

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

/// A [`SampledClip`] as the SDK 0.2.3 [`Clip`], if its source and frames fit.
impl TryFrom<SampledClip> for Clip {
    type Error = Error;
    fn try_from(c: SampledClip) -> Result<Self> {
        let needs = |what: &str| {
            Error(format!(
                "clip `{}` has {what}, which only Task::sampled_clips and Task::control_sampled carry",
                c.id
            ))
        };
        let source = match c.source {
            MediaSource::NpyVideo(p) => ClipSource::NpyVideo(p),
            MediaSource::NpyArray(a) => ClipSource::NpyArray(a),
            MediaSource::ImageFiles(f) => ClipSource::ImageFiles(f),
            MediaSource::Zarr(z) => ClipSource::Zarr(z),
            MediaSource::SequenceExample(s) => ClipSource::SequenceExample(s),
            MediaSource::Video(_) => return Err(needs("a video file source")),
            MediaSource::Npz(_) | MediaSource::Safetensors(_) => {
                return Err(needs("an .npz or safetensors source"));
            }
        };
        let FrameSampling::Indices(frame_indices) = c.sampling else {
            return Err(needs("frames the host samples"));
        };
        Ok(Clip {
            id: c.id,
            source,
            frame_indices,
            target: c.target,
            group: c.group,
            extras: c.extras,
        })
    }
}

impl From<FrameSource> for ClipSource {
    fn from(s: FrameSource) -> Self {
        match s {
            FrameSource::NpyVideo(p) => ClipSource::NpyVideo(p),
            FrameSource::NpyArray(a) => ClipSource::NpyArray(a),
            FrameSource::ImageFiles(f) => ClipSource::ImageFiles(f),
        }
    }
}

impl From<ClipSpec> for Clip {
    fn from(c: ClipSpec) -> Self {
        Clip {
            id: c.id,
            source: c.source.into(),
            frame_indices: c.frame_indices,
            target: ClipTarget::Values(c.target),
            group: c.group,
            extras: c.extras,
        }
    }
}

/// A [`Clip`] as the SDK 0.2.0 [`ClipSpec`], if its source and target fit.
impl TryFrom<Clip> for ClipSpec {
    type Error = Error;
    fn try_from(c: Clip) -> Result<Self> {
        let needs = |what: &str| {
            Error(format!(
                "clip `{}` has {what}, which only Task::clips and Task::control_clips carry",
                c.id
            ))
        };
        let source = match c.source {
            ClipSource::NpyVideo(p) => FrameSource::NpyVideo(p),
            ClipSource::NpyArray(a) => FrameSource::NpyArray(a),
            ClipSource::ImageFiles(f) => FrameSource::ImageFiles(f),
            ClipSource::Zarr(_) => return Err(needs("a Zarr source")),
            ClipSource::SequenceExample(_) => return Err(needs("an ArrayRecord source")),
        };
        let target = match c.target {
            ClipTarget::Values(v) => v,
            ClipTarget::Frames(_) => return Err(needs("a target read by the host")),
        };
        Ok(ClipSpec {
            id: c.id,
            source,
            frame_indices: c.frame_indices,
            target,
            group: c.group,
            extras: c.extras,
        })
    }
}

/// Chunk-then-reduce metrics: `update` once per batch, then `finish`.
pub trait Metrics {
    fn new(split: &str) -> Self;
    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()>;
    fn finish(&mut self) -> Result<Vec<Metric>>;
}

/// A readout head: parameters declared in `init`, used in `forward`.
pub trait Readout: 'static {
    fn info() -> ReadoutInfo;
    /// Declare parameters with [`Tensor::param`] and keep them.
    fn init(config: &Config, features: FeatureSpec, output_shape: &[u32]) -> Result<Self>
    where
        Self: Sized;
    /// features [B, T, N, D] -> predictions [B, ..output_shape].
    fn forward(&self, features: &Tensor, train: bool) -> Result<Tensor>;
    /// Like [`Readout::forward`], also given the clips' extras (e.g. query
    /// points, [B, ..shape] each). Override it to use them; by default the
    /// extras are ignored.
    fn forward_with(&self, features: &Tensor, extras: &Extras, train: bool) -> Result<Tensor> {
        let _ = extras;
        self.forward(features, train)
    }
}

/// The per-clip extras of a batch, by name.
pub struct Extras(Vec<(String, Tensor)>);

impl Extras {
    /// The extra called `name`, or an error listing the ones present.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| {
                let have: Vec<&str> = self.0.iter().map(|(n, _)| n.as_str()).collect();
                Error(format!(
                    "this task gives no extra input `{name}` (it gives: {})",
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                ))
            })
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }
}

/// Readout configuration: string key-value pairs from the run spec.
#[derive(Debug, Clone, Default)]
pub struct Config(pub Vec<(String, String)>);

impl Config {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// Parse `key` or return `default`; a value that does not parse is an error naming the key.
    pub fn parse_or<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Error(format!("config key `{key}`: cannot parse `{v}`"))),
        }
    }
    /// Refuse keys the readout does not know, so typos do not pass silently.
    pub fn check_known(&self, known: &[&str]) -> Result<()> {
        for (k, _) in &self.0 {
            if !known.contains(&k.as_str()) {
                bail!("unknown config key `{k}` (known: {})", known.join(", "));
            }
        }
        Ok(())
    }
}

#[doc(hidden)]
pub mod __adapters {
    //! Glue between the generated bindings and the SDK traits. The export
    //! macros name these types; plugin authors never do.
    use super::*;
    use crate::bindings::readout::exports::scivid::plugin::readout_api as rapi;
    use crate::bindings::shared::scivid::plugin::tensor::Tensor as RawTensor;
    use crate::bindings::task::exports::scivid::plugin::task_api as tapi;
    use crate::bindings::task::exports::scivid::plugin::task_sampled_clips as tsampled;
    use std::cell::RefCell;
    use std::marker::PhantomData;

    pub struct TaskAdapter<T>(PhantomData<T>);
    pub struct AccumulatorAdapter<M>(RefCell<M>);

    impl<T: Task + 'static> tapi::Guest for TaskAdapter<T> {
        type Accumulator = AccumulatorAdapter<T::Metrics>;
        fn info() -> TaskInfo {
            T::info()
        }
        fn splits() -> Vec<String> {
            T::splits()
        }
        fn index(split: String) -> std::result::Result<Vec<ClipSpec>, String> {
            let clips = T::sampled_clips(&split).map_err(|e| e.0)?;
            let specs: Result<Vec<ClipSpec>> = clips
                .into_iter()
                .map(|c| Clip::try_from(c).and_then(ClipSpec::try_from))
                .collect();
            specs.map_err(|e| e.0)
        }
        fn loss(p: &RawTensor, t: &RawTensor) -> std::result::Result<RawTensor, String> {
            let (p, t) = (Tensor::borrowed(p), Tensor::borrowed(t));
            T::loss(p, t).map(Tensor::into_raw).map_err(|e| e.0)
        }
        fn control(t: &RawTensor, clips: Vec<ClipSpec>) -> std::result::Result<RawTensor, String> {
            let clips: Vec<SampledClip> = clips
                .into_iter()
                .map(|c| SampledClip::from(Clip::from(c)))
                .collect();
            T::control_sampled(Tensor::borrowed(t), &clips)
                .map(Tensor::into_raw)
                .map_err(|e| e.0)
        }
    }

    impl<T: Task + 'static> tsampled::Guest for TaskAdapter<T> {
        fn clips(split: String) -> std::result::Result<Vec<SampledClip>, String> {
            T::sampled_clips(&split).map_err(|e| e.0)
        }
        fn control(
            t: &RawTensor,
            clips: Vec<SampledClip>,
        ) -> std::result::Result<RawTensor, String> {
            T::control_sampled(Tensor::borrowed(t), &clips)
                .map(Tensor::into_raw)
                .map_err(|e| e.0)
        }
        fn augmentations() -> Vec<Augmentation> {
            T::augmentations()
        }
    }

    impl<M: Metrics + 'static> tapi::GuestAccumulator for AccumulatorAdapter<M> {
        fn new(split: String) -> Self {
            AccumulatorAdapter(RefCell::new(M::new(&split)))
        }
        fn update(&self, p: &RawTensor, t: &RawTensor) -> std::result::Result<(), String> {
            let (p, t) = (Tensor::borrowed(p), Tensor::borrowed(t));
            self.0.borrow_mut().update(p, t).map_err(|e| e.0)
        }
        fn finish(&self) -> std::result::Result<Vec<Metric>, String> {
            self.0.borrow_mut().finish().map_err(|e| e.0)
        }
    }

    pub struct ReadoutAdapter<R>(PhantomData<R>);

    thread_local! {
        static READOUT: RefCell<Option<Box<dyn std::any::Any>>> = const { RefCell::new(None) };
    }

    impl<R: Readout> rapi::Guest for ReadoutAdapter<R> {
        fn info() -> ReadoutInfo {
            R::info()
        }
        fn init(
            config: Vec<(String, String)>,
            features: FeatureSpec,
            output_shape: Vec<u32>,
        ) -> std::result::Result<(), String> {
            let r = R::init(&Config(config), features, &output_shape).map_err(|e| e.0)?;
            READOUT.with(|s| *s.borrow_mut() = Some(Box::new(r)));
            Ok(())
        }
        fn forward(
            features: &RawTensor,
            extra_names: Vec<String>,
            extras: Vec<RawTensor>,
            train: bool,
        ) -> std::result::Result<RawTensor, String> {
            READOUT.with(|s| {
                let guard = s.borrow();
                let r = guard
                    .as_ref()
                    .and_then(|b| b.downcast_ref::<R>())
                    .ok_or_else(|| "forward called before init".to_string())?;
                if extra_names.len() != extras.len() {
                    return Err("forward: extra names and tensors differ in number".to_string());
                }
                let extras = Extras(
                    extra_names
                        .into_iter()
                        .zip(extras)
                        .map(|(n, t)| (n, Tensor::from_raw(t)))
                        .collect(),
                );
                r.forward_with(Tensor::borrowed(features), &extras, train)
                    .map(Tensor::into_raw)
                    .map_err(|e| e.0)
            })
        }
    }

    /// `s` as a fixed-size byte array, for the version custom section.
    pub const fn version_bytes<const N: usize>(s: &str) -> [u8; N] {
        let b = s.as_bytes();
        let mut out = [0u8; N];
        let mut i = 0;
        while i < N {
            out[i] = b[i];
            i += 1;
        }
        out
    }
}

/// Export a [`Task`] implementation as this component's `task` world.
#[macro_export]
macro_rules! export_task {
    ($t:ty) => {
        $crate::__export_task_with_version!($t, $crate::SDK_VERSION);
    };
}

/// Export a [`Readout`] implementation as this component's `readout` world.
#[macro_export]
macro_rules! export_readout {
    ($t:ty) => {
        $crate::__export_readout_with_version!($t, $crate::SDK_VERSION);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sdk_version_section {
    ($version:expr) => {
        #[unsafe(link_section = "scivid:sdk-version")]
        #[used]
        static __SCIVID_SDK_VERSION: [u8; $version.len()] =
            $crate::__adapters::version_bytes($version);
    };
}

/// Like [`export_task!`] but declaring another SDK version: for testing the
/// host's version checks only.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_task_with_version {
    ($t:ty, $version:expr) => {
        $crate::__sdk_version_section!($version);
        type __ScividTaskExport = $crate::__adapters::TaskAdapter<$t>;
        $crate::bindings::task::__export_task_world!(__ScividTaskExport with_types_in $crate::bindings::task);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_readout_with_version {
    ($t:ty, $version:expr) => {
        $crate::__sdk_version_section!($version);
        type __ScividReadoutExport = $crate::__adapters::ReadoutAdapter<$t>;
        $crate::bindings::readout::__export_readout_world!(__ScividReadoutExport with_types_in $crate::bindings::readout);
    };
}
