//! `operator-steps`: which assembly step is the operator at (pick, place,
//! fasten, inspect) at the middle of the clip? Tracking an operation over a
//! shift means reading this off every clip; four classes, scored by accuracy
//! and mAP. The control predicts the training frequencies.
//!
//! Data: `line-data --out DIR` writes `DIR/operator/SPLIT/labels.csv`
//! (`id,file,label,group`, the group being the operator) and one uint8
//! `.npy` video per clip.

use scivid_sdk::data::Csv;
use scivid_sdk::metrics::{ScoreBuffer, argmax_rows, mean_average_precision};
use scivid_sdk::{
    ClipSpec, DATA_DIR, FrameSource, Grant, InputSpec, Metric, Metrics, Protocol, Result, Task,
    TaskInfo, TaskKind, Tensor, bail,
};

const STEPS: [&str; 4] = ["pick", "place", "fasten", "inspect"];

struct OperatorSteps;

impl Task for OperatorSteps {
    type Metrics = Steps;

    fn info() -> TaskInfo {
        TaskInfo {
            name: "operator-steps".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Workbench from above: the operator's assembly step at mid-clip".into(),
            kind: TaskKind::Classification,
            input: InputSpec {
                frames: 16,
                height: 48,
                width: 48,
                channels: 3,
            },
            target_shape: vec![STEPS.len() as u32],
            metrics: vec!["accuracy".into(), "mAP".into()],
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
        vec!["train".into(), "val".into(), "test".into()]
    }

    fn index(split: &str) -> Result<Vec<ClipSpec>> {
        let csv = Csv::read(&format!("{DATA_DIR}/{split}/labels.csv"))?;
        csv.rows()
            .map(|row| {
                let step = row.get("label")?;
                let class = STEPS.iter().position(|s| *s == step).ok_or_else(|| {
                    row.error(format_args!(
                        "unknown step `{step}` (known: {})",
                        STEPS.join(", ")
                    ))
                })?;
                let mut target = vec![0.0; STEPS.len()];
                target[class] = 1.0;
                Ok(ClipSpec {
                    id: row.get("id")?.into(),
                    source: FrameSource::NpyVideo(format!("{split}/{}", row.get("file")?)),
                    frame_indices: (0..16).collect(),
                    target,
                    group: row.get("group")?.into(),
                    extras: vec![],
                })
            })
            .collect()
    }

    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        predictions.softmax_cross_entropy(targets)
    }

    fn control(train_targets: &Tensor, clips: &[ClipSpec]) -> Result<Tensor> {
        train_targets
            .mean(&[0], true)?
            .add_scalar(1e-6)
            .log()
            .expand(&[clips.len() as u32, STEPS.len() as u32])
    }
}

struct Steps(ScoreBuffer);

impl Metrics for Steps {
    fn new(_split: &str) -> Self {
        Steps(ScoreBuffer::default())
    }

    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
        self.0.update(predictions, targets)
    }

    fn finish(&mut self) -> Result<Vec<Metric>> {
        let (scores, labels, k) = (&self.0.scores, &self.0.labels, STEPS.len());
        if scores.is_empty() {
            bail!("no predictions to score");
        }
        let predicted = argmax_rows(scores, k);
        let correct = predicted
            .iter()
            .enumerate()
            .filter(|(i, p)| labels[i * k + **p])
            .count();
        Ok(vec![
            Metric {
                name: "accuracy".into(),
                value: correct as f64 / predicted.len() as f64,
            },
            Metric {
                name: "mAP".into(),
                value: mean_average_precision(scores, labels, k, &[0, 1, 2, 3]),
            },
        ])
    }
}

scivid_sdk::export_task!(OperatorSteps);
