//! `line-inspection`: is a part on the conveyor good, or which defect does
//! it have (scratch, misaligned, missing component)? Four classes; scored by
//! accuracy, mAP over the three defects, and the AUROC of an anomaly score
//! (1 - p(good)): how well the model ranks defective parts above good ones,
//! whatever the defect, which is what a line needs to decide on inspection.
//! The control predicts the training frequencies (AUROC 0.5).
//!
//! Data: `line-data --out DIR` writes `DIR/inspection/SPLIT/labels.csv`
//! (`id,file,label,group`) and one uint8 `.npy` video per clip.

use scivid_sdk::data::Csv;
use scivid_sdk::metrics::{ScoreBuffer, argmax_rows, mean_average_precision, roc_auc};
use scivid_sdk::{
    ClipSpec, DATA_DIR, FrameSource, Grant, InputSpec, Metric, Metrics, Protocol, Result, Task,
    TaskInfo, TaskKind, Tensor, bail,
};

const CLASSES: [&str; 4] = ["ok", "scratch", "misaligned", "missing"];
const FRAMES: u32 = 16;
const SIZE: u32 = 48;

struct Inspection;

impl Task for Inspection {
    type Metrics = Scores;

    fn info() -> TaskInfo {
        TaskInfo {
            name: "line-inspection".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Conveyor parts: good, scratch, misaligned or missing component".into(),
            kind: TaskKind::Classification,
            input: InputSpec {
                frames: FRAMES,
                height: SIZE,
                width: SIZE,
                channels: 3,
            },
            target_shape: vec![CLASSES.len() as u32],
            metrics: vec!["auroc".into(), "accuracy".into(), "mAP_defects".into()],
            primary_metric: "auroc".into(),
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
        let mut clips = Vec::with_capacity(csv.len());
        for row in csv.rows() {
            let label = row.get("label")?;
            let Some(class) = CLASSES.iter().position(|c| *c == label) else {
                return Err(row.error(format_args!(
                    "unknown label `{label}` (known: {})",
                    CLASSES.join(", ")
                )));
            };
            let mut target = vec![0.0; CLASSES.len()];
            target[class] = 1.0;
            clips.push(ClipSpec {
                id: row.get("id")?.into(),
                source: FrameSource::NpyVideo(format!("{split}/{}", row.get("file")?)),
                frame_indices: (0..FRAMES).collect(),
                target,
                group: row.get("group")?.into(),
                extras: vec![],
            });
        }
        if clips.is_empty() {
            bail!("{}: no clips", csv.path());
        }
        Ok(clips)
    }

    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        predictions.softmax_cross_entropy(targets)
    }

    /// Training label frequencies, as log-probabilities, for every part.
    fn control(train_targets: &Tensor, clips: &[ClipSpec]) -> Result<Tensor> {
        train_targets
            .mean(&[0], true)?
            .add_scalar(1e-6)
            .log()
            .expand(&[clips.len() as u32, CLASSES.len() as u32])
    }
}

/// Logits and labels of every part, scored at the end.
struct Scores(ScoreBuffer);

impl Metrics for Scores {
    fn new(_split: &str) -> Self {
        Scores(ScoreBuffer::default())
    }

    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
        self.0.update(predictions, targets)
    }

    fn finish(&mut self) -> Result<Vec<Metric>> {
        let (scores, labels, k) = (&self.0.scores, &self.0.labels, CLASSES.len());
        if scores.is_empty() {
            bail!("no predictions to score");
        }
        let predicted = argmax_rows(scores, k);
        let truth = argmax_rows(
            &labels.iter().map(|&l| l as u8 as f32).collect::<Vec<_>>(),
            k,
        );
        let accuracy = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count() as f64
            / truth.len() as f64;
        // Anomaly score: 1 - softmax probability of `ok`.
        let anomaly: Vec<f32> = scores
            .chunks(k)
            .map(|row| {
                let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let z: f32 = row.iter().map(|v| (v - m).exp()).sum();
                1.0 - (row[0] - m).exp() / z
            })
            .collect();
        let defective: Vec<bool> = truth.iter().map(|&t| t != 0).collect();
        Ok(vec![
            Metric {
                name: "auroc".into(),
                value: roc_auc(&anomaly, &defective),
            },
            Metric {
                name: "accuracy".into(),
                value: accuracy,
            },
            Metric {
                name: "mAP_defects".into(),
                value: mean_average_precision(scores, labels, k, &[1, 2, 3]),
            },
        ])
    }
}

scivid_sdk::export_task!(Inspection);
