//! `typhoon`: typhoon intensity forecasting (SciVid's Digital Typhoon). The
//! input is 12 infrared frames (brightness temperature clipped to
//! [170, 300] K and scaled to [0, 1], padded to 16 frames by nearest index);
//! the target is the central pressure at the next 12 steps, in hPa minus
//! the training mean 983.91. Loss: L2. Metric: RMSE in hPa at lead indices
//! 0, 1, 2, 5 and 11, and their mean (the primary metric); MAE likewise.
//! Control: persistence (the last observed pressure at every lead).
//!
//! Windows follow SciVid's `process_idx`: training draws the start
//! uniformly below min(length, 32) - 24 (`random_clip`, `max_start_frame`
//! 8), so here each such start is a training clip; validation and test
//! start at 0 (`clip`); a sequence shorter than 24 steps repeats its last
//! step (frames and pressures alike).
//!
//! Two dataset layouts:
//! - SciVid's release: ArrayRecord shards of `tf.train.SequenceExample`,
//!   `DIR/full/digital_typhoon_slim/<split>_imsize_256_max_frames_32.array_record-NNNNN-of-MMMMM`
//!   (or the shards directly in `DIR`): per step a float list
//!   `image/infrared` (a square image, kelvin) and `pressure` (hPa); the
//!   sequence's name in the context feature `key_`.
//! - The stand-in (`scivid data synth typhoon` writes one):
//!   `DIR/<split>/sequences.csv` with columns `id,file,pressures`: `file` is
//!   a float32 `.npy` of brightness temperatures [T, H, W, 1] in kelvin and
//!   `pressures` the `;`-separated central pressure (hPa) at each step.

use scivid_sdk::data::{Csv, release_shards};
use scivid_sdk::records::{ArrayRecord, SequenceExample};
use scivid_sdk::{
    Clip, ClipSource, ClipTarget, DATA_DIR, Error, Extra, FloatFrames, FrameEncoding, Grant,
    InputSpec, Metric, Metrics, Protocol, Result, SequenceFrames, Task, TaskInfo, TaskKind, Tensor,
    ValueMap, bail, scivid_protocol,
};

const INPUT_STEPS: u32 = 12;
const LEADS: usize = 12;
const MEAN_PRESSURE: f32 = 983.91;
const REPORTED_LEADS: [usize; 5] = [0, 1, 2, 5, 11];
/// SciVid's `max_start_frame` for training windows.
const MAX_START_FRAME: usize = 8;

struct Typhoon;

/// Brightness temperature clipped to [170, 300] K, scaled to [0, 1].
fn brightness() -> ValueMap {
    ValueMap {
        clamp: Some((170.0, 300.0)),
        shift: vec![170.0],
        scale: vec![130.0],
    }
}

/// The clips of one sequence: inputs from each start SciVid may draw
/// (`train`) or from the first step, the target the next 12 pressures minus
/// the training mean, the last observed pressure as an extra (for the
/// control).
fn sequence_clips(
    id: &str,
    pressures: &[f32],
    train: bool,
    source: ClipSource,
    out: &mut Vec<Clip>,
) -> Result<()> {
    let len = pressures.len();
    if len == 0 {
        bail!("a sequence without steps");
    }
    let window = INPUT_STEPS as usize + LEADS;
    // SciVid: random_clip over min(len, window + 8) steps, the start below
    // that minus the window (0 when nothing is left).
    let starts = if train {
        len.min(window + MAX_START_FRAME)
            .saturating_sub(window)
            .max(1)
    } else {
        1
    };
    for start in 0..starts {
        // Steps past the end repeat the last one.
        let step = |k: usize| (start + k).min(len - 1);
        let last = pressures[step(INPUT_STEPS as usize - 1)] - MEAN_PRESSURE;
        let target = (INPUT_STEPS as usize..window)
            .map(|k| pressures[step(k)] - MEAN_PRESSURE)
            .collect();
        out.push(Clip {
            id: format!("{id}@{start}"),
            source: source.clone(),
            frame_indices: (0..INPUT_STEPS as usize).map(|k| step(k) as u32).collect(),
            target: ClipTarget::Values(target),
            group: id.into(),
            extras: vec![Extra {
                name: "last_pressure".into(),
                shape: vec![1],
                data: vec![last],
            }],
        });
    }
    Ok(())
}

/// Clips of SciVid's released shards: one sequence per record, its
/// pressures from the `pressure` list, its frames `image/infrared`.
fn release_clips(shards: &[String], train: bool) -> Result<Vec<Clip>> {
    let mut clips = vec![];
    for shard in shards {
        let path = format!("{DATA_DIR}/{shard}");
        let err = |e: scivid_sdk::records::Error| Error(format!("{path}: {e}"));
        let mut file = ArrayRecord::open(std::path::Path::new(&path)).map_err(err)?;
        let mut side = None;
        for index in 0..file.len() {
            let at = |what: String| Error(format!("{path}: record {index}: {what}"));
            let record = file.get(index).map_err(err)?;
            // One parse per record; the first also gives the frame size
            // (its first infrared frame).
            let keys: &[&str] = match side {
                Some(_) => &["pressure"],
                None => &["pressure", "image/infrared"],
            };
            let ex = SequenceExample::parse_lists(&record, keys).map_err(|e| at(e.0))?;
            let side = match side {
                Some(s) => s,
                None => {
                    let first = ex.list("image/infrared").map_err(|e| at(e.0))?;
                    let n = first
                        .first()
                        .and_then(|f| f.floats())
                        .map_or(0, <[f32]>::len);
                    let s = (n as f64).sqrt() as u32;
                    if n == 0 || (s * s) as usize != n {
                        return Err(at(format!("an infrared frame of {n} values is not square")));
                    }
                    *side.insert(s)
                }
            };
            let pressures = ex
                .list("pressure")
                .map_err(|e| at(e.0))?
                .iter()
                .map(|f| f.floats().and_then(|v| v.first().copied()))
                .collect::<Option<Vec<f32>>>()
                .ok_or_else(|| at("a `pressure` step without a float".into()))?;
            let name = match ex.context("key_").ok().and_then(|f| f.bytes()) {
                Some([k]) => String::from_utf8_lossy(k).into_owned(),
                _ => format!("{shard}#{index}"),
            };
            let source = ClipSource::SequenceExample(SequenceFrames {
                shard: shard.clone(),
                index,
                key: "image/infrared".into(),
                encoding: FrameEncoding::Floats(FloatFrames {
                    height: side,
                    width: side,
                    values: brightness(),
                }),
            });
            sequence_clips(&name, &pressures, train, source, &mut clips).map_err(|e| at(e.0))?;
        }
    }
    if clips.is_empty() {
        bail!("{}: the shards hold no sequences", shards.join(", "));
    }
    Ok(clips)
}

impl Task for Typhoon {
    type Metrics = Errors;

    fn info() -> TaskInfo {
        let mut metrics = vec!["rmse".to_string(), "mae".to_string()];
        metrics.extend((0..LEADS).map(|l| format!("rmse/lead_{l}")));
        TaskInfo {
            name: "typhoon".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Digital Typhoon: central pressure (hPa) at the next 12 steps".into(),
            kind: TaskKind::Regression,
            input: InputSpec {
                frames: 16,
                height: 224,
                width: 224,
                channels: 1,
            },
            target_shape: vec![LEADS as u32],
            metrics,
            primary_metric: "rmse".into(),
            higher_is_better: false,
            protocol: Protocol {
                clip_norm: Some(1.0),
                ..scivid_protocol()
            },
            grants: vec![Grant::DatasetRead],
        }
    }

    fn splits() -> Vec<String> {
        vec!["train".into(), "val".into(), "test".into()]
    }

    fn clips(split: &str) -> Result<Vec<Clip>> {
        let train = split == "train";
        let shards = release_shards("full/digital_typhoon_slim", &format!("{split}_imsize_"));
        if !shards.is_empty() {
            return release_clips(&shards, train);
        }
        let csv = Csv::read(&format!("{DATA_DIR}/{split}/sequences.csv"))?;
        let mut clips = vec![];
        for row in csv.rows() {
            let (id, file) = (row.get("id")?, row.get("file")?);
            let source = ClipSource::NpyArray((format!("{split}/{file}"), brightness()));
            sequence_clips(id, &row.floats("pressures")?, train, source, &mut clips)
                .map_err(|e| row.error(e.0))?;
        }
        if clips.is_empty() {
            bail!("{}: no sequences", csv.path());
        }
        Ok(clips)
    }

    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        predictions.mse(targets)
    }

    /// Persistence: the last observed pressure at every lead.
    fn control_clips(_train_targets: &Tensor, clips: &[Clip]) -> Result<Tensor> {
        let mut out = Vec::with_capacity(clips.len() * LEADS);
        for c in clips {
            let Some(last) = c.extras.iter().find(|e| e.name == "last_pressure") else {
                bail!("clip `{}` has no `last_pressure`", c.id);
            };
            out.extend(std::iter::repeat_n(last.data[0], LEADS));
        }
        Tensor::from_data(&out, &[clips.len() as u32, LEADS as u32])
    }
}

/// Squared and absolute errors summed per lead.
struct Errors {
    squared: [f64; LEADS],
    absolute: [f64; LEADS],
    count: usize,
}

impl Metrics for Errors {
    fn new(_split: &str) -> Self {
        Errors {
            squared: [0.0; LEADS],
            absolute: [0.0; LEADS],
            count: 0,
        }
    }

    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
        let (p, t) = (predictions.read()?, targets.read()?);
        for (row_p, row_t) in p.chunks(LEADS).zip(t.chunks(LEADS)) {
            for l in 0..LEADS {
                let e = (row_p[l] - row_t[l]) as f64;
                self.squared[l] += e * e;
                self.absolute[l] += e.abs();
            }
            self.count += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<Metric>> {
        if self.count == 0 {
            bail!("no predictions to score");
        }
        let n = self.count as f64;
        let rmse: Vec<f64> = REPORTED_LEADS
            .iter()
            .map(|&l| (self.squared[l] / n).sqrt())
            .collect();
        let mae = REPORTED_LEADS
            .iter()
            .map(|&l| self.absolute[l] / n)
            .sum::<f64>()
            / REPORTED_LEADS.len() as f64;
        let mut out = vec![
            Metric {
                name: "rmse".into(),
                value: rmse.iter().sum::<f64>() / rmse.len() as f64,
            },
            Metric {
                name: "mae".into(),
                value: mae,
            },
        ];
        // RMSE at every lead (0-based), the report's breakdown by lead.
        out.extend((0..LEADS).map(|l| Metric {
            name: format!("rmse/lead_{l}"),
            value: (self.squared[l] / n).sqrt(),
        }));
        Ok(out)
    }
}

scivid_sdk::export_task!(Typhoon);
