//! `calms21`: mouse social behaviour (SciVid's CalMS21 task 1). 16 grayscale
//! frames (tiled to RGB by the host), resized from the stored size to 224^2;
//! the target is the behaviour of the middle frame, one of attack,
//! investigation, mount or other (the background). Metric: mean average
//! precision over the three behaviours.
//!
//! Two dataset layouts:
//! - SciVid's release: ArrayRecord shards of `tf.train.SequenceExample`,
//!   `DIR/full/calms21_slim/calms21_<split>_split_ids_shuffle_*.array_record-NNNNN-of-MMMMM`
//!   (or the shards directly in `DIR`), the class index in the context
//!   feature `clip/label/index` (order below), frames under `image/encoded`.
//! - The stand-in (`scivid data synth calms21` writes one):
//!   `DIR/<split>/clips.csv` with columns `id,video,start,label` and
//!   grayscale frames `DIR/<split>/<video>/NNNNN.png`.

use scivid_sdk::data::{Csv, labelled_sequence_clips, numbered_frames, release_shards};
use scivid_sdk::metrics::{
    ScoreBuffer, confusion_rows, mean_average_precision, per_class_average_precision,
};
use scivid_sdk::{
    Augmentation, Clip, ClipSpec, DATA_DIR, FrameSource, GaussianBlur, Grant, InputSpec, Metric,
    Metrics, Result, Task, TaskInfo, TaskKind, Tensor, UpscaleCrop, bail, scivid_protocol,
};

const CLASSES: [&str; 4] = ["attack", "investigation", "mount", "other"];
const FRAMES: u32 = 16;

struct CalMS21;

impl Task for CalMS21 {
    type Metrics = Scores;

    fn info() -> TaskInfo {
        TaskInfo {
            name: "calms21".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "CalMS21 task 1: mouse behaviour of the middle frame (4 classes)".into(),
            kind: TaskKind::Classification,
            input: InputSpec {
                frames: FRAMES,
                height: 224,
                width: 224,
                channels: 1,
            },
            target_shape: vec![CLASSES.len() as u32],
            metrics: metric_names(),
            primary_metric: "mAP".into(),
            higher_is_better: true,
            protocol: scivid_protocol(),
            grants: vec![Grant::DatasetRead],
        }
    }

    fn splits() -> Vec<String> {
        vec!["train".into(), "val".into(), "test".into()]
    }

    /// SciVid's released shards when the dataset has them, else the stand-in.
    fn clips(split: &str) -> Result<Vec<Clip>> {
        let prefix = format!("calms21_{split}_split_ids_shuffle");
        let shards = release_shards("full/calms21_slim", &prefix);
        if !shards.is_empty() {
            return labelled_sequence_clips(&shards, CLASSES.len(), FRAMES);
        }
        Ok(Self::index(split)?.into_iter().map(Clip::from).collect())
    }

    fn index(split: &str) -> Result<Vec<ClipSpec>> {
        let csv = Csv::read(&format!("{DATA_DIR}/{split}/clips.csv"))?;
        let mut clips = vec![];
        for row in csv.rows() {
            let (id, video, label) = (row.get("id")?, row.get("video")?, row.get("label")?);
            let start: u32 = row.parse("start")?;
            let Some(class) = CLASSES.iter().position(|c| *c == label) else {
                return Err(row.error(format!(
                    "unknown label `{label}` (known: {})",
                    CLASSES.join(", ")
                )));
            };
            let mut target = vec![0.0; CLASSES.len()];
            target[class] = 1.0;
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

    /// SciVid's training transforms (`online` runs): upscale by 1.0 to 2.0
    /// and crop back, Gaussian blur (sigma 0.1 to 2, 36 taps, half the
    /// clips), left-right flip (half the clips).
    fn augmentations() -> Vec<Augmentation> {
        vec![
            Augmentation::UpscaleCrop(UpscaleCrop {
                min_scale: 1.0,
                max_scale: 2.0,
                probability: 1.0,
            }),
            Augmentation::GaussianBlur(GaussianBlur {
                sigma_min: 0.1,
                sigma_max: 2.0,
                kernel_size: 36,
                probability: 0.5,
            }),
            Augmentation::FlipLeftRight(0.5),
        ]
    }

    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        predictions.softmax_cross_entropy(targets)
    }

    /// Training label frequencies, as log-probabilities.
    fn control_clips(train_targets: &Tensor, clips: &[Clip]) -> Result<Tensor> {
        let freq = train_targets.mean(&[0], true)?;
        freq.add_scalar(1e-6)
            .log()
            .expand(&[clips.len() as u32, CLASSES.len() as u32])
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
        let (s, l) = (&self.0.scores, &self.0.labels);
        let mut metrics = vec![Metric {
            name: "mAP".into(),
            value: mean_average_precision(s, l, k, &behaviours),
        }];
        // Breakdowns for the report: per-behaviour AP, and the confusion
        // matrix (rows: true class, normalised) of the highest score.
        let ap = per_class_average_precision(s, l, k);
        metrics.extend(behaviours.iter().map(|&c| Metric {
            name: format!("AP/{}", CLASSES[c]),
            value: ap[c],
        }));
        let confusion = confusion_rows(s, l, k);
        metrics.extend(
            metric_names()
                .into_iter()
                .skip(1 + behaviours.len())
                .zip(confusion)
                .map(|(name, value)| Metric { name, value }),
        );
        Ok(metrics)
    }
}

/// mAP, then `AP/<behaviour>`, then `confusion/<true>/<predicted>` row by row.
fn metric_names() -> Vec<String> {
    let mut names = vec!["mAP".to_string()];
    names.extend(
        CLASSES[..CLASSES.len() - 1]
            .iter()
            .map(|c| format!("AP/{c}")),
    );
    for t in CLASSES {
        names.extend(CLASSES.iter().map(|p| format!("confusion/{t}/{p}")));
    }
    names
}

scivid_sdk::export_task!(CalMS21);
