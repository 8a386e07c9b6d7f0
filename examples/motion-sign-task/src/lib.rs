//! `motion-sign`: a new task over existing data. It reads the motion
//! dataset (`scivid data synth motion --out DIR`) and asks a different
//! question: does the shape move away from the top-left corner (right or
//! down, 1) or toward it (left or up, 0)? Binary, scored by balanced
//! accuracy; the control predicts the training base rate.
//!
//! Run it with the unchanged host:
//!   scivid run --task target/wasm32-wasip2/release/motion_sign.wasm --data DIR

use scivid_sdk::{
    ClipSpec, DATA_DIR, FrameSource, Grant, InputSpec, Metric, Metrics, Protocol, Result, Task,
    TaskInfo, TaskKind, Tensor, bail,
};

struct MotionSign;

impl Task for MotionSign {
    type Metrics = Balanced;

    fn info() -> TaskInfo {
        TaskInfo {
            name: "motion-sign".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Does the shape move right or down (1) rather than left or up (0)?".into(),
            kind: TaskKind::Classification,
            input: InputSpec {
                frames: 16,
                height: 32,
                width: 32,
                channels: 3,
            },
            target_shape: vec![1],
            metrics: vec!["balanced_accuracy".into()],
            primary_metric: "balanced_accuracy".into(),
            higher_is_better: true,
            protocol: Protocol {
                steps: 200,
                batch_size: 32,
                learning_rate: 3e-3,
                warmup_steps: 20,
                final_learning_rate: 1e-7,
                weight_decay: 1e-4,
                clip_norm: None,
            },
            grants: vec![Grant::DatasetRead],
        }
    }

    fn splits() -> Vec<String> {
        vec!["train".into(), "test".into()]
    }

    fn index(split: &str) -> Result<Vec<ClipSpec>> {
        let path = format!("{DATA_DIR}/{split}/labels.csv");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        text.lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                let [id, file, label, video] = f[..] else {
                    bail!("{path}: bad line `{line}`")
                };
                let away = match label {
                    "left" | "up" => 0.0,
                    "right" | "down" => 1.0,
                    other => bail!("{path}: unknown label `{other}`"),
                };
                Ok(ClipSpec {
                    id: id.into(),
                    source: FrameSource::NpyVideo(format!("{split}/{file}")),
                    frame_indices: (0..16).collect(),
                    target: vec![away],
                    group: video.into(),
                    extras: vec![],
                })
            })
            .collect()
    }

    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        predictions.sigmoid_bce(targets)
    }

    fn control(train_targets: &Tensor, clips: &[ClipSpec]) -> Result<Tensor> {
        // logit of the base rate, for every clip.
        let p = train_targets.mean(&[0], true)?.add_scalar(1e-6);
        let logit = p.log().sub(&p.neg().add_scalar(1.0).log())?;
        logit.expand(&[clips.len() as u32, 1])
    }
}

/// Balanced accuracy: mean of the recall of each class.
struct Balanced {
    hits: [u64; 2],
    totals: [u64; 2],
}

impl Metrics for Balanced {
    fn new(_: &str) -> Self {
        Balanced {
            hits: [0; 2],
            totals: [0; 2],
        }
    }
    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
        for (p, t) in predictions.read()?.into_iter().zip(targets.read()?) {
            let class = (t > 0.5) as usize;
            self.totals[class] += 1;
            if (p > 0.0) as usize == class {
                self.hits[class] += 1;
            }
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<Metric>> {
        let recall = |c: usize| {
            if self.totals[c] == 0 {
                0.0
            } else {
                self.hits[c] as f64 / self.totals[c] as f64
            }
        };
        Ok(vec![Metric {
            name: "balanced_accuracy".into(),
            value: (recall(0) + recall(1)) / 2.0,
        }])
    }
}

scivid_sdk::export_task!(MotionSign);
