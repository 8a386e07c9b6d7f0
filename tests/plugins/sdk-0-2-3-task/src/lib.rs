//! A task built against the frozen SDK 0.2.3 contract
//! (`sdk/wit-snapshots/0.2.3`) with raw wit-bindgen bindings, as a task
//! published before SDK 0.2.4 added `task-sampled-clips`: its clips come
//! through `task-clips` (its `task-api.index` and `control` refuse, so a
//! host that called them would fail), and the host must keep indexing,
//! training and scoring it.
//! The data is the built-in `motion` task's (`SPLIT/labels.csv` with
//! `id,file,label,video`, one uint8 `.npy` video per clip).

wit_bindgen::generate!({
    path: "../../../sdk/wit-snapshots/0.2.3",
    world: "task-with-clips",
    generate_all,
});

use exports::scivid::plugin::task_api::{Guest, GuestAccumulator, TaskInfo};
use exports::scivid::plugin::task_clips;
use scivid::plugin::tensor::Tensor;
use scivid::plugin::types::{
    Clip, ClipSource, ClipSpec, ClipTarget, Grant, InputSpec, Metric, Protocol, TaskKind,
};
use std::cell::RefCell;

const CLASSES: [&str; 4] = ["right", "left", "down", "up"];

struct Old;

impl Guest for Old {
    type Accumulator = Accuracy;

    fn info() -> TaskInfo {
        TaskInfo {
            name: "sdk-0-2-3-motion".into(),
            version: "0.1.0".into(),
            description: "The motion task built against SDK 0.2.3".into(),
            kind: TaskKind::Classification,
            input: InputSpec {
                frames: 16,
                height: 32,
                width: 32,
                channels: 3,
            },
            target_shape: vec![CLASSES.len() as u32],
            metrics: vec!["accuracy".into()],
            primary_metric: "accuracy".into(),
            higher_is_better: true,
            protocol: Protocol {
                steps: 300,
                batch_size: 32,
                learning_rate: 3e-3,
                warmup_steps: 30,
                final_learning_rate: 1e-7,
                weight_decay: 1e-4,
                clip_norm: None,
            },
            grants: vec![Grant::DatasetRead],
        }
    }

    fn splits() -> Vec<String> {
        vec!["train".into(), "val".into()]
    }

    fn index(_split: String) -> Result<Vec<ClipSpec>, String> {
        Err("this task's clips come through task-clips".into())
    }

    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor, String> {
        predictions.softmax_cross_entropy(targets)
    }

    fn control(_train_targets: &Tensor, _clips: Vec<ClipSpec>) -> Result<Tensor, String> {
        Err("this task's control comes through task-clips".into())
    }
}

impl task_clips::Guest for Old {
    fn clips(split: String) -> Result<Vec<Clip>, String> {
        let path = format!("/data/{split}/labels.csv");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let mut clips = vec![];
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let [id, file, label, video] = f[..] else {
                return Err(format!("{path}: bad line `{line}`"));
            };
            let class = CLASSES
                .iter()
                .position(|c| *c == label)
                .ok_or_else(|| format!("{path}: unknown label `{label}`"))?;
            let mut target = vec![0.0; CLASSES.len()];
            target[class] = 1.0;
            clips.push(Clip {
                id: id.into(),
                source: ClipSource::NpyVideo(format!("{split}/{file}")),
                frame_indices: (0..16).collect(),
                target: ClipTarget::Values(target),
                group: video.into(),
                extras: vec![],
            });
        }
        Ok(clips)
    }

    fn control(_train_targets: &Tensor, clips: Vec<Clip>) -> Result<Tensor, String> {
        Tensor::full(&[clips.len() as u32, CLASSES.len() as u32], 0.0)
    }
}

/// Accuracy of the argmax.
struct Accuracy(RefCell<(usize, usize)>);

impl GuestAccumulator for Accuracy {
    fn new(_split: String) -> Self {
        Accuracy(RefCell::new((0, 0)))
    }

    fn update(&self, predictions: &Tensor, targets: &Tensor) -> Result<(), String> {
        let (p, t) = (predictions.read()?, targets.read()?);
        let argmax = |row: &[f32]| {
            (0..row.len())
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0)
        };
        let mut s = self.0.borrow_mut();
        for (p, t) in p.chunks(CLASSES.len()).zip(t.chunks(CLASSES.len())) {
            s.0 += (argmax(p) == argmax(t)) as usize;
            s.1 += 1;
        }
        Ok(())
    }

    fn finish(&self) -> Result<Vec<Metric>, String> {
        let (right, n) = *self.0.borrow();
        Ok(vec![Metric {
            name: "accuracy".into(),
            value: right as f64 / n.max(1) as f64,
        }])
    }
}

export!(Old);

#[unsafe(link_section = "scivid:sdk-version")]
#[used]
static SDK_VERSION: [u8; 5] = *b"0.2.3";
