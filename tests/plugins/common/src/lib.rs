//! What the hostile task plugins share: an honest reading of the motion
//! dataset, so each plugin differs from a good task in its one attack only.

use scivid_sdk::{
    ClipSpec, DATA_DIR, FrameSource, Grant, InputSpec, Metric, Metrics, Protocol, Result, TaskInfo,
    TaskKind, Tensor, bail,
};

pub const CLASSES: [&str; 4] = ["right", "left", "down", "up"];

pub fn info(name: &str) -> TaskInfo {
    TaskInfo {
        name: name.into(),
        version: "0.1.0".into(),
        description: "hostile test plugin".into(),
        kind: TaskKind::Classification,
        input: InputSpec {
            frames: 16,
            height: 32,
            width: 32,
            channels: 3,
        },
        target_shape: vec![4],
        metrics: vec!["accuracy".into()],
        primary_metric: "accuracy".into(),
        higher_is_better: true,
        protocol: Protocol {
            steps: 20,
            batch_size: 32,
            learning_rate: 3e-3,
            warmup_steps: 2,
            final_learning_rate: 1e-7,
            weight_decay: 0.0,
            clip_norm: None,
        },
        grants: vec![Grant::DatasetRead],
    }
}

pub fn splits() -> Vec<String> {
    vec!["train".into(), "test".into()]
}

pub fn index(split: &str) -> Result<Vec<ClipSpec>> {
    let path = format!("{DATA_DIR}/{split}/labels.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut clips = vec![];
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [id, file, label, video] = f[..] else {
            bail!("bad line {line}")
        };
        let class = CLASSES
            .iter()
            .position(|c| *c == label)
            .ok_or("bad label")?;
        let mut target = vec![0.0; 4];
        target[class] = 1.0;
        clips.push(ClipSpec {
            id: id.into(),
            source: FrameSource::NpyVideo(format!("{split}/{file}")),
            frame_indices: (0..16).collect(),
            target,
            group: video.into(),
            extras: vec![],
        });
    }
    Ok(clips)
}

pub fn loss(p: &Tensor, t: &Tensor) -> Result<Tensor> {
    p.softmax_cross_entropy(t)
}

pub fn control(t: &Tensor, clips: &[ClipSpec]) -> Result<Tensor> {
    t.mean(&[0], true)?
        .add_scalar(1e-6)
        .log()
        .expand(&[clips.len() as u32, 4])
}

/// Accuracy, honestly computed.
pub struct Accuracy {
    pub hits: usize,
    pub total: usize,
}

impl Metrics for Accuracy {
    fn new(_: &str) -> Self {
        Accuracy { hits: 0, total: 0 }
    }
    fn update(&mut self, p: &Tensor, t: &Tensor) -> Result<()> {
        let (p, t) = (p.read()?, t.read()?);
        for (row, target) in p.chunks(4).zip(t.chunks(4)) {
            let best = (0..4).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            self.hits += (target[best] > 0.5) as usize;
            self.total += 1;
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<Metric>> {
        Ok(vec![Metric {
            name: "accuracy".into(),
            value: self.hits as f64 / self.total.max(1) as f64,
        }])
    }
}

/// Implement `Task` by delegating everything to the honest helpers, except
/// the items given.
#[macro_export]
macro_rules! honest_task {
    ($ty:ident, $name:expr, metrics = $m:ty) => {
        impl scivid_sdk::Task for $ty {
            type Metrics = $m;
            fn info() -> scivid_sdk::TaskInfo {
                $crate::info($name)
            }
            fn splits() -> Vec<String> {
                $crate::splits()
            }
            fn index(split: &str) -> scivid_sdk::Result<Vec<scivid_sdk::ClipSpec>> {
                $crate::index(split)
            }
            fn loss(
                p: &scivid_sdk::Tensor,
                t: &scivid_sdk::Tensor,
            ) -> scivid_sdk::Result<scivid_sdk::Tensor> {
                $crate::loss(p, t)
            }
            fn control(
                t: &scivid_sdk::Tensor,
                clips: &[scivid_sdk::ClipSpec],
            ) -> scivid_sdk::Result<scivid_sdk::Tensor> {
                $crate::control(t, clips)
            }
        }
    };
}

/// A readout whose `forward` runs `$body` (with `features` and `this.0`, a
/// declared parameter, in scope); everything else is ordinary.
#[macro_export]
macro_rules! hostile_readout {
    ($ty:ident, $name:expr, |$this:ident, $features:ident| $body:block) => {
        struct $ty(scivid_sdk::Tensor, Vec<u32>);
        impl scivid_sdk::Readout for $ty {
            fn info() -> scivid_sdk::ReadoutInfo {
                scivid_sdk::ReadoutInfo {
                    name: $name.into(),
                    version: "0.1.0".into(),
                    description: "hostile test plugin".into(),
                    options: vec![],
                }
            }
            fn init(
                _: &scivid_sdk::Config,
                f: scivid_sdk::FeatureSpec,
                out: &[u32],
            ) -> scivid_sdk::Result<Self> {
                let outputs: u32 = out.iter().product();
                let w = scivid_sdk::Tensor::param(
                    "w",
                    &[f.dim, outputs],
                    scivid_sdk::Init::LecunNormal,
                )?;
                Ok($ty(w, out.to_vec()))
            }
            #[allow(unreachable_code, unused_variables)]
            fn forward(
                &self,
                $features: &scivid_sdk::Tensor,
                _: bool,
            ) -> scivid_sdk::Result<scivid_sdk::Tensor> {
                let $this = self;
                $body
            }
        }
        scivid_sdk::export_readout!($ty);
    };
}

/// The honest forward: mean-pool, dense.
pub fn pooled_dense(w: &Tensor, features: &Tensor) -> Result<Tensor> {
    features.mean(&[1, 2], false)?.matmul(w)
}
