//! `motion`: the built-in synthetic task. Each clip shows one shape of random
//! form, size and colour gliding over a noisy background; the class is the
//! direction of motion (right, left, down, up). Appearance carries no
//! information about the label, so only a model that sees motion can beat
//! the control. Data comes from `scivid data synth motion --out DIR`:
//! `DIR/<split>/labels.csv` with lines `id,file,label,video`.

use scivid_sdk::metrics::{argmax_rows, mean_average_precision};
use scivid_sdk::{
    ClipSpec, DATA_DIR, FrameSource, Grant, InputSpec, Metric, Metrics, Protocol, Result, Task,
    TaskInfo, TaskKind, Tensor, bail,
};

const CLASSES: [&str; 4] = ["right", "left", "down", "up"];
const FRAMES: u32 = 16;
const SIZE: u32 = 32;

struct Motion;

impl Task for Motion {
    type Metrics = Scores;

    fn info() -> TaskInfo {
        TaskInfo {
            name: "motion".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Synthetic: classify the direction a shape moves (right/left/down/up)"
                .into(),
            kind: TaskKind::Classification,
            input: InputSpec {
                frames: FRAMES,
                height: SIZE,
                width: SIZE,
                channels: 3,
            },
            target_shape: vec![CLASSES.len() as u32],
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
        let path = format!("{DATA_DIR}/{split}/labels.csv");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let mut clips = Vec::new();
        for (n, line) in text.lines().enumerate().skip(1) {
            let fields: Vec<&str> = line.trim().split(',').collect();
            let [id, file, label, video] = fields[..] else {
                bail!(
                    "{path} line {}: expected 4 fields `id,file,label,video`",
                    n + 1
                );
            };
            let Some(class) = CLASSES.iter().position(|c| *c == label) else {
                bail!(
                    "{path} line {}: unknown label `{label}` (known: {})",
                    n + 1,
                    CLASSES.join(", ")
                );
            };
            let mut target = vec![0.0; CLASSES.len()];
            target[class] = 1.0;
            clips.push(ClipSpec {
                id: id.to_string(),
                source: FrameSource::NpyVideo(format!("{split}/{file}")),
                frame_indices: (0..FRAMES).collect(),
                target,
                group: video.to_string(),
                extras: vec![],
            });
        }
        if clips.is_empty() {
            bail!("{path}: no clips");
        }
        Ok(clips)
    }

    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        predictions.softmax_cross_entropy(targets)
    }

    /// Label frequencies of the training set, as log-probabilities.
    fn control(train_targets: &Tensor, clips: &[ClipSpec]) -> Result<Tensor> {
        let freq = train_targets.mean(&[0], true)?;
        freq.add_scalar(1e-6)
            .log()
            .expand(&[clips.len() as u32, CLASSES.len() as u32])
    }
}

/// Scores and labels gathered chunk by chunk.
struct Scores {
    scores: Vec<f32>,
    labels: Vec<bool>,
}

impl Metrics for Scores {
    fn new(_split: &str) -> Self {
        Scores {
            scores: vec![],
            labels: vec![],
        }
    }

    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
        self.scores.extend(predictions.read()?);
        self.labels
            .extend(targets.read()?.into_iter().map(|t| t > 0.5));
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<Metric>> {
        let k = CLASSES.len();
        if self.scores.is_empty() {
            bail!("no predictions to score");
        }
        let predicted = argmax_rows(&self.scores, k);
        let correct = predicted
            .iter()
            .enumerate()
            .filter(|(i, p)| self.labels[i * k + **p])
            .count();
        let accuracy = correct as f64 / predicted.len() as f64;
        let classes: Vec<usize> = (0..k).collect();
        let map = mean_average_precision(&self.scores, &self.labels, k, &classes);
        Ok(vec![
            Metric {
                name: "accuracy".into(),
                value: accuracy,
            },
            Metric {
                name: "mAP".into(),
                value: map,
            },
        ])
    }
}

scivid_sdk::export_task!(Motion);
