//! `flyvsfly`: fly social behaviour (SciVid's FlyVsFly). 16 RGB frames from
//! the clip start, stride 1; the target is the multi-hot behaviour label of
//! the middle frame over 7 classes (the last, `not_interacting`, is the
//! background). Metric: mean average precision over the 6 behaviours, and
//! without the two rarest (wing threat, tussling), as SciVid reports.
//!
//! Two dataset layouts:
//! - SciVid's release: ArrayRecord shards of `tf.train.SequenceExample`,
//!   `DIR/full/fly_vs_fly/<split>_fly_split_ids_shuffle.array_record-NNNNN-of-MMMMM`
//!   (or the shards directly in `DIR`), labels in the context feature
//!   `clip/label/index` (class indices in the order below), frames under
//!   `image/encoded`. The plugin reads each record's context; the host
//!   decodes the frames.
//! - The stand-in (`scivid data synth flyvsfly` writes one):
//!   `DIR/<split>/clips.csv` with columns `id,video,start,labels` (labels:
//!   `;`-separated class names) and frames `DIR/<split>/<video>/NNNNN.png`.

use scivid_sdk::data::{Csv, labelled_sequence_clips, numbered_frames, release_shards};
use scivid_sdk::metrics::{ScoreBuffer, mean_average_precision, per_class_average_precision};
use scivid_sdk::{
    Augmentation, Clip, ClipSpec, DATA_DIR, FrameSource, Grant, InputSpec, Metric, Metrics,
    Protocol, Result, Task, TaskInfo, TaskKind, Tensor, UpscaleCrop, bail, scivid_protocol,
};

const CLASSES: [&str; 7] = [
    "lunging",
    "wing_threat",
    "tussling",
    "wing_extension",
    "circling",
    "copulation",
    "not_interacting",
];
const FRAMES: u32 = 16;
struct FlyVsFly;

impl Task for FlyVsFly {
    type Metrics = Scores;

    fn info() -> TaskInfo {
        TaskInfo {
            name: "flyvsfly".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "FlyVsFly: multi-label fly behaviour of the middle frame (7 classes)"
                .into(),
            kind: TaskKind::Multilabel,
            input: InputSpec {
                frames: FRAMES,
                height: 224,
                width: 224,
                channels: 3,
            },
            target_shape: vec![CLASSES.len() as u32],
            metrics: ["mAP".to_string(), "mAP_no_wing_threat_tussling".into()]
                .into_iter()
                .chain(
                    CLASSES[..CLASSES.len() - 1]
                        .iter()
                        .map(|c| format!("AP/{c}")),
                )
                .collect(),
            primary_metric: "mAP".into(),
            higher_is_better: true,
            protocol: Protocol {
                weight_decay: 0.0,
                ..scivid_protocol()
            },
            grants: vec![Grant::DatasetRead],
        }
    }

    fn splits() -> Vec<String> {
        vec!["train".into(), "val".into(), "test".into()]
    }

    /// SciVid's released shards when the dataset has them, else the stand-in.
    fn clips(split: &str) -> Result<Vec<Clip>> {
        let shards = release_shards(
            "full/fly_vs_fly",
            &format!("{split}_fly_split_ids_shuffle.array_record-"),
        );
        if !shards.is_empty() {
            return labelled_sequence_clips(&shards, CLASSES.len(), FRAMES);
        }
        Ok(Self::index(split)?.into_iter().map(Clip::from).collect())
    }

    fn index(split: &str) -> Result<Vec<ClipSpec>> {
        let csv = Csv::read(&format!("{DATA_DIR}/{split}/clips.csv"))?;
        let mut clips = vec![];
        for row in csv.rows() {
            let (id, video) = (row.get("id")?, row.get("video")?);
            let start: u32 = row.parse("start")?;
            let mut target = vec![0.0; CLASSES.len()];
            for name in row.get("labels")?.split(';').filter(|s| !s.is_empty()) {
                let Some(c) = CLASSES.iter().position(|c| *c == name) else {
                    return Err(row.error(format!(
                        "unknown label `{name}` (known: {})",
                        CLASSES.join(", ")
                    )));
                };
                target[c] = 1.0;
            }
            if target.iter().all(|&t| t == 0.0) {
                return Err(row.error("no label (use not_interacting for background)"));
            }
            clips.push(ClipSpec {
                id: id.into(),
                source: FrameSource::ImageFiles(numbered_frames(
                    &format!("{split}/{video}"),
                    start,
                    FRAMES,
                )),
                frame_indices: (0..FRAMES).collect(),
                target,
                group: video.into(),
                extras: vec![],
            });
        }
        if clips.is_empty() {
            bail!("{}: no clips", csv.path());
        }
        Ok(clips)
    }

    /// SciVid's training jitter (`online` runs): upscale by 1.0 to 1.4,
    /// crop back.
    fn augmentations() -> Vec<Augmentation> {
        vec![Augmentation::UpscaleCrop(UpscaleCrop {
            min_scale: 1.0,
            max_scale: 1.4,
            probability: 1.0,
        })]
    }

    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        predictions.sigmoid_bce(targets)
    }

    /// Training label frequencies, as logits.
    fn control_clips(train_targets: &Tensor, clips: &[Clip]) -> Result<Tensor> {
        let p = train_targets.mean(&[0], true)?;
        let eps = 1e-6;
        let logit = p
            .add_scalar(eps)
            .log()
            .sub(&p.neg().add_scalar(1.0 + eps).log())?;
        logit.expand(&[clips.len() as u32, CLASSES.len() as u32])
    }
}

struct Scores(ScoreBuffer);

impl Metrics for Scores {
    fn new(_split: &str) -> Self {
        Scores(ScoreBuffer::default())
    }

    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
        self.0.update(predictions, targets)
    }

    fn finish(&mut self) -> Result<Vec<Metric>> {
        if self.0.is_empty() {
            bail!("no predictions to score");
        }
        let k = CLASSES.len();
        let behaviours: Vec<usize> = (0..k - 1).collect();
        let common: Vec<usize> = behaviours
            .iter()
            .copied()
            .filter(|&c| !matches!(CLASSES[c], "wing_threat" | "tussling"))
            .collect();
        let (s, l) = (&self.0.scores, &self.0.labels);
        let mut metrics = vec![
            Metric {
                name: "mAP".into(),
                value: mean_average_precision(s, l, k, &behaviours),
            },
            Metric {
                name: "mAP_no_wing_threat_tussling".into(),
                value: mean_average_precision(s, l, k, &common),
            },
        ];
        // Per-behaviour AP: the report's breakdown (background left out, as in mAP).
        let ap = per_class_average_precision(s, l, k);
        metrics.extend(behaviours.iter().map(|&c| Metric {
            name: format!("AP/{}", CLASSES[c]),
            value: ap[c],
        }));
        Ok(metrics)
    }
}

scivid_sdk::export_task!(FlyVsFly);
