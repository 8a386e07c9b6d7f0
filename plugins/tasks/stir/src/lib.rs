//! `stir`: surgical point tracking (SciVid's STIR). 16 frames spread evenly
//! over the whole video (linspace); up to 34 query points at frame 0
//! (normalised to [0, 1], padded with -1) come as the extra input
//! `queries` [34, 2]; the target is each point's position at the last frame
//! (same normalisation and padding). Loss: Huber (delta 1/224, weight 100)
//! over valid points. Metric: at 1280x1024 (coordinates rounded), each
//! prediction is matched to the nearest ground-truth end point of its clip;
//! accuracy within 4, 8, 16, 32 and 64 px, averaged over the thresholds.
//! Control: the query position unchanged.
//!
//! Dataset layout (`scivid data synth stir` writes one): `DIR/<split>/
//! videos.csv` with columns `video,frames,width,height`; frames
//! `DIR/<split>/<video>/NNNNN.png`; `DIR/<split>/<video>/points.csv` with
//! columns `x0,y0,x1,y1` (pixels at the first and the last frame). SciVid
//! trains on synthetic MOVi tracks and tests on STIR: here `train` is the
//! synthetic split and `test` the evaluation split.

use scivid_sdk::data::{Csv, numbered_frames};
use scivid_sdk::{
    ClipSpec, DATA_DIR, Extra, FrameSource, Grant, InputSpec, Metric, Metrics, Result, Task,
    TaskInfo, TaskKind, Tensor, bail, scivid_protocol,
};

const FRAMES: u32 = 16;
const MAX_POINTS: usize = 34;
const THRESHOLDS: [f64; 5] = [4.0, 8.0, 16.0, 32.0, 64.0];
const EVAL_SIZE: (f64, f64) = (1280.0, 1024.0);
const PAD: f32 = -1.0;

struct Stir;

impl Task for Stir {
    type Metrics = Accuracy;

    fn info() -> TaskInfo {
        let mut metrics = vec!["accuracy".to_string()];
        metrics.extend(THRESHOLDS.iter().map(|t| format!("acc@{t}")));
        TaskInfo {
            name: "stir".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "STIR: where each query point of frame 0 is at the last frame".into(),
            kind: TaskKind::Tracking,
            input: InputSpec {
                frames: FRAMES,
                height: 224,
                width: 224,
                channels: 3,
            },
            target_shape: vec![MAX_POINTS as u32, 2],
            metrics,
            primary_metric: "accuracy".into(),
            higher_is_better: true,
            protocol: scivid_protocol(),
            grants: vec![Grant::DatasetRead],
        }
    }

    fn splits() -> Vec<String> {
        vec!["train".into(), "test".into()]
    }

    fn index(split: &str) -> Result<Vec<ClipSpec>> {
        let videos = Csv::read(&format!("{DATA_DIR}/{split}/videos.csv"))?;
        let mut clips = vec![];
        for row in videos.rows() {
            let video = row.get("video")?;
            let frames: u32 = row.parse("frames")?;
            let (w, h): (f32, f32) = (row.parse("width")?, row.parse("height")?);
            if frames < 2 || w <= 0.0 || h <= 0.0 {
                return Err(row.error("needs at least 2 frames and a positive size"));
            }
            let points = Csv::read(&format!("{DATA_DIR}/{split}/{video}/points.csv"))?;
            if points.is_empty() || points.len() > MAX_POINTS {
                bail!(
                    "{}: {} points (expected 1 to {MAX_POINTS})",
                    points.path(),
                    points.len()
                );
            }
            let mut queries = vec![PAD; MAX_POINTS * 2];
            let mut target = vec![PAD; MAX_POINTS * 2];
            for (i, p) in points.rows().enumerate() {
                let (x0, y0): (f32, f32) = (p.parse("x0")?, p.parse("y0")?);
                let (x1, y1): (f32, f32) = (p.parse("x1")?, p.parse("y1")?);
                for v in [x0 / w, y0 / h, x1 / w, y1 / h] {
                    if !(0.0..=1.0).contains(&v) {
                        return Err(p.error("point outside the frame"));
                    }
                }
                queries[2 * i..2 * i + 2].copy_from_slice(&[x0 / w, y0 / h]);
                target[2 * i..2 * i + 2].copy_from_slice(&[x1 / w, y1 / h]);
            }
            // SciVid samples 16 frames evenly over the whole video.
            let indices = (0..FRAMES)
                .map(|k| ((k as f64 * (frames - 1) as f64) / (FRAMES - 1) as f64).round() as u32)
                .collect();
            clips.push(ClipSpec {
                id: video.into(),
                source: FrameSource::ImageFiles(numbered_frames(
                    &format!("{split}/{video}"),
                    0,
                    frames,
                )),
                frame_indices: indices,
                target,
                group: video.into(),
                extras: vec![Extra {
                    name: "queries".into(),
                    shape: vec![MAX_POINTS as u32, 2],
                    data: queries,
                }],
            });
        }
        if clips.is_empty() {
            bail!("{}: no videos", videos.path());
        }
        Ok(clips)
    }

    /// Huber (delta 1/224) on valid points, weight 100, as SciVid's position loss.
    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let t = targets.read()?;
        let mask: Vec<f32> = t
            .iter()
            .map(|&v| if v == PAD { 0.0 } else { 1.0 })
            .collect();
        let valid = mask.iter().sum::<f32>().max(1.0);
        let mask = Tensor::from_data(&mask, &targets.shape())?;
        let per_element = predictions
            .mul(&mask)?
            .huber(&targets.mul(&mask)?, 1.0 / 224.0)?;
        Ok(per_element.mul_scalar(100.0 * t.len() as f32 / valid))
    }

    /// The query position, unchanged.
    fn control(_train_targets: &Tensor, clips: &[ClipSpec]) -> Result<Tensor> {
        let mut out = Vec::with_capacity(clips.len() * MAX_POINTS * 2);
        for c in clips {
            let Some(q) = c.extras.iter().find(|e| e.name == "queries") else {
                bail!("clip `{}` has no `queries`", c.id);
            };
            out.extend_from_slice(&q.data);
        }
        Tensor::from_data(&out, &[clips.len() as u32, MAX_POINTS as u32, 2])
    }
}

/// Hits per threshold over all valid points.
struct Accuracy {
    hits: [usize; THRESHOLDS.len()],
    points: usize,
}

/// Distance from each valid prediction of one clip to its nearest valid
/// ground-truth end point, in rounded 1280x1024 pixels.
pub fn nearest_distances(pred: &[f32], truth: &[f32]) -> Vec<f64> {
    let px = |x: f32, y: f32| {
        (
            (x as f64 * EVAL_SIZE.0).round(),
            (y as f64 * EVAL_SIZE.1).round(),
        )
    };
    let gt: Vec<(f64, f64)> = truth
        .chunks(2)
        .filter(|p| p[0] != PAD)
        .map(|p| px(p[0], p[1]))
        .collect();
    pred.chunks(2)
        .zip(truth.chunks(2))
        .filter(|(_, t)| t[0] != PAD)
        .map(|(p, _)| {
            let (x, y) = px(p[0], p[1]);
            gt.iter()
                .map(|(gx, gy)| ((x - gx).powi(2) + (y - gy).powi(2)).sqrt())
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

impl Metrics for Accuracy {
    fn new(_split: &str) -> Self {
        Accuracy {
            hits: [0; THRESHOLDS.len()],
            points: 0,
        }
    }

    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
        let (p, t) = (predictions.read()?, targets.read()?);
        let per_clip = MAX_POINTS * 2;
        for (pc, tc) in p.chunks(per_clip).zip(t.chunks(per_clip)) {
            for d in nearest_distances(pc, tc) {
                self.points += 1;
                for (h, thr) in self.hits.iter_mut().zip(THRESHOLDS) {
                    if d < thr {
                        *h += 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<Metric>> {
        if self.points == 0 {
            bail!("no valid points to score");
        }
        let per: Vec<f64> = self
            .hits
            .iter()
            .map(|&h| h as f64 / self.points as f64)
            .collect();
        let mut out = vec![Metric {
            name: "accuracy".into(),
            value: per.iter().sum::<f64>() / per.len() as f64,
        }];
        for (thr, v) in THRESHOLDS.iter().zip(per) {
            out.push(Metric {
                name: format!("acc@{thr}"),
                value: v,
            });
        }
        Ok(out)
    }
}

scivid_sdk::export_task!(Stir);
