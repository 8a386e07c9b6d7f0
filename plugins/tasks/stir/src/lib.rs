//! `stir`: surgical point tracking (SciVid's STIR). 16 frames spread evenly
//! over the whole video (linspace); up to 34 query points at frame 0
//! (normalised to [0, 1], padded with -1) come as the extra input
//! `queries` [34, 2]. Predictions and targets are [16 frames, 34 points, 4]:
//! predictions hold (x, y, visibility logit, certainty logit), as the
//! `tracking` head writes them; targets hold (x, y, visible, known), where
//! `known` marks a real point at a frame whose position is given. Frame 0
//! holds the queries themselves (a query slot is valid where its point is
//! known and visible at frame 0); STIR gives only the last frame's
//! positions beyond that, the MOVi training split whole tracks with
//! visibility.
//!
//! Loss (SciVid's, TAPIR-style): Huber (delta 1/224, weight 100) on the
//! distance between predicted and true positions where the point is known
//! and visible; sigmoid BCE (weight 0.1) on visibility where known; and the
//! certainty BCE (weight 0.1) against "the prediction is within 6/224 of the
//! truth" (no gradient through that label). Position and certainty terms
//! are averaged over all values, visibility over the known ones (kauldron's
//! `normalize_by`). Metric (SciVid's `STIR2DErrorPerTrackAssumingNoOcclusions`):
//! the last frame at 1280x1024 (coordinates rounded), the prediction of
//! each valid query matched to the nearest valid ground-truth end point of
//! its clip (there may be fewer end points than queries); accuracy within
//! 4, 8, 16, 32 and 64 px (distance <= threshold), averaged over the
//! thresholds. Control: the query position unchanged.
//!
//! Two dataset layouts:
//! - SciVid's release (`DIR` is SciVid's data directory): STIR in
//!   `DIR/full/stir/{full_val,test}_stir.array_record-NNNNN-of-MMMMM`
//!   (splits `val` and `test`, those present), one video per record:
//!   encoded frames under `image/encoded`, 16 of them spread over the whole
//!   video by the host; context `startir/object/keypoint/{x,y}` (queries)
//!   and `endir/object/keypoint/{x,y}` (end points), normalised to [0, 1]
//!   as SciVid's reader and metric take them, and `vid_idx`. The `train`
//!   split is MOVi in `DIR/full/movi/train.array_record-*`: 24 frames per
//!   record, per frame `tracks/2d` [K, 2] (normalised x, y) and
//!   `tracks/visibility` [K] as serialized float32 tensors. Each 16-frame
//!   window of a video is a clip (SciVid draws one at random per read);
//!   34 of its tracks, chosen at random per window, are the queries, those
//!   hidden at the window's first frame left out (SciVid's
//!   `MaskOccludedTracks`).
//! - The stand-in (`scivid data synth stir` writes one): `DIR/<split>/
//!   videos.csv` with columns `video,frames,width,height`; frames
//!   `DIR/<split>/<video>/NNNNN.png`; `DIR/<split>/<video>/points.csv` with
//!   columns `x0,y0,x1,y1` (pixels at the first and the last frame); and
//!   optionally `DIR/<split>/<video>/tracks.csv` with columns
//!   `point,frame,x,y,visible` (pixels; every point at every frame), which
//!   then gives the targets at all 16 frames. SciVid trains on synthetic
//!   MOVi tracks and tests on STIR: here `train` is the synthetic split and
//!   `test` the evaluation split.

use scivid_sdk::data::{Csv, numbered_frames, release_shards};
use scivid_sdk::records::{ArrayRecord, FloatTensor, SequenceExample};
use scivid_sdk::{
    Clip, ClipSpec, ClipTarget, DATA_DIR, Error, Extra, FrameEncoding, FrameSampling, FrameSource,
    Grant, InputSpec, MediaSource, Metric, Metrics, Result, SampledClip, SequenceFrames, Task,
    TaskInfo, TaskKind, Tensor, bail, scivid_protocol,
};

const FRAMES: u32 = 16;
const MAX_POINTS: usize = 34;
/// Values per point and frame: (x, y, visible, known) in targets,
/// (x, y, visibility logit, certainty logit) in predictions.
const CHANNELS: usize = 4;
const PER_CLIP: usize = FRAMES as usize * MAX_POINTS * CHANNELS;
/// SciVid's loss constants, at its 224-pixel training resolution.
const HUBER_DELTA: f32 = 1.0 / 224.0;
const CERTAIN_WITHIN: f32 = 6.0 / 224.0;
const THRESHOLDS: [f64; 5] = [4.0, 8.0, 16.0, 32.0, 64.0];
const EVAL_SIZE: (f64, f64) = (1280.0, 1024.0);
const PAD: f32 = -1.0;
/// The splits of SciVid's STIR release and their shard names' prefixes
/// (SciVid's `full` validation set holds every validation video).
const STIR_SPLITS: [(&str, &str); 2] = [("val", "full_val_stir"), ("test", "test_stir")];
/// MOVi windows: SciVid reads 24-frame videos and draws 16 frames at random.
const MOVI_WINDOW: u32 = FRAMES;

struct Stir;

impl Task for Stir {
    type Metrics = Accuracy;

    fn info() -> TaskInfo {
        let mut metrics = vec!["accuracy".to_string()];
        metrics.extend(THRESHOLDS.iter().map(|t| format!("accuracy/{t}px")));
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
            target_shape: vec![FRAMES, MAX_POINTS as u32, CHANNELS as u32],
            metrics,
            primary_metric: "accuracy".into(),
            higher_is_better: true,
            protocol: scivid_protocol(),
            grants: vec![Grant::DatasetRead],
        }
    }

    fn splits() -> Vec<String> {
        if !release_layout() {
            return vec!["train".into(), "test".into()];
        }
        let mut splits = vec!["train".to_string()];
        for (split, prefix) in STIR_SPLITS {
            if !released(prefix).is_empty() {
                splits.push(split.into());
            }
        }
        splits
    }

    fn sampled_clips(split: &str) -> Result<Vec<SampledClip>> {
        if !release_layout() {
            return Ok(Self::index(split)?
                .into_iter()
                .map(|c| SampledClip::from(Clip::from(c)))
                .collect());
        }
        if let Some((_, prefix)) = STIR_SPLITS.iter().find(|(s, _)| *s == split) {
            return stir_clips(&released(prefix));
        }
        if split != "train" {
            bail!("no split `{split}` in SciVid's STIR release (train, val, test)");
        }
        let movi = release_shards("full/movi", "train");
        if movi.is_empty() {
            bail!(
                "{DATA_DIR}/full/movi holds no `train.array_record-*` shards: SciVid trains \
                 STIR's readout on MOVi tracks, kept beside `full/stir`"
            );
        }
        movi_clips(&movi)
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
            // SciVid samples 16 frames evenly over the whole video.
            let indices: Vec<u32> = (0..FRAMES)
                .map(|k| ((k as f64 * (frames - 1) as f64) / (FRAMES - 1) as f64).round() as u32)
                .collect();
            let tracks_path = format!("{DATA_DIR}/{split}/{video}/tracks.csv");
            let tracks = if std::path::Path::new(&tracks_path).exists() {
                Some(read_tracks(&tracks_path, points.len(), &indices, (w, h))?)
            } else {
                None
            };
            let mut queries = vec![PAD; MAX_POINTS * 2];
            let mut target = empty_target();
            for (i, p) in points.rows().enumerate() {
                let (x0, y0): (f32, f32) = (p.parse("x0")?, p.parse("y0")?);
                let (x1, y1): (f32, f32) = (p.parse("x1")?, p.parse("y1")?);
                for v in [x0 / w, y0 / h, x1 / w, y1 / h] {
                    if !(0.0..=1.0).contains(&v) {
                        return Err(p.error("point outside the frame"));
                    }
                }
                match &tracks {
                    // A query must be visible where it is asked (SciVid
                    // masks tracks occluded at the query frame).
                    Some(t) if t[i][0].2 == 0.0 => continue,
                    Some(t) => {
                        for (k, &(x, y, seen)) in t[i].iter().enumerate() {
                            set_target(&mut target, k, i, [x, y, seen, 1.0]);
                        }
                    }
                    None => {
                        set_target(&mut target, 0, i, [x0 / w, y0 / h, 1.0, 1.0]);
                        set_target(
                            &mut target,
                            FRAMES as usize - 1,
                            i,
                            [x1 / w, y1 / h, 1.0, 1.0],
                        );
                    }
                }
                queries[2 * i..2 * i + 2].copy_from_slice(&[x0 / w, y0 / h]);
            }
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

    /// SciVid's tracking loss: position Huber + visibility BCE + certainty BCE.
    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let channel = |t: &Tensor, c: u32| t.slice(3, c, c + 1);
        let known = channel(targets, 3)?;
        let on_point = channel(targets, 2)?.mul(&known)?; // known and visible
        let error = predictions.slice(3, 0, 2)?.sub(&targets.slice(3, 0, 2)?)?;
        let distance = error.mul(&error)?.sum(&[3], true)?.add_scalar(1e-12).sqrt();
        let zeros = Tensor::full(&distance.shape(), 0.0)?;
        let position = distance
            .mul(&on_point)?
            .huber(&zeros, HUBER_DELTA)?
            .mul_scalar(100.0);
        let visible = bce_each(&channel(predictions, 2)?, &channel(targets, 2)?)?
            .mul(&known)?
            .sum(&[0, 1, 2, 3], false)?
            .div(&known.sum(&[0, 1, 2, 3], false)?.add_scalar(1e-9))?
            .mul_scalar(0.1);
        // The certainty label is read back: no gradient flows through it.
        let (p, t) = (predictions.read()?, targets.read()?);
        let certain: Vec<f32> = p
            .chunks(CHANNELS)
            .zip(t.chunks(CHANNELS))
            .map(|(p, t)| {
                let d2 = (p[0] - t[0]).powi(2) + (p[1] - t[1]).powi(2);
                (d2 <= CERTAIN_WITHIN * CERTAIN_WITHIN) as u8 as f32
            })
            .collect();
        let certain = Tensor::from_data(&certain, &known.shape())?;
        let certainty = bce_each(&channel(predictions, 3)?, &certain)?
            .mul(&on_point)?
            .mean(&[0, 1, 2, 3], false)?
            .mul_scalar(0.1);
        position.add(&visible)?.add(&certainty)
    }

    /// The query position, unchanged, at every frame, with both logits 0.
    fn control_sampled(_train_targets: &Tensor, clips: &[SampledClip]) -> Result<Tensor> {
        let mut out = Vec::with_capacity(clips.len() * PER_CLIP);
        for c in clips {
            let Some(q) = c.extras.iter().find(|e| e.name == "queries") else {
                bail!("clip `{}` has no `queries`", c.id);
            };
            for _ in 0..FRAMES {
                for p in q.data.chunks(2) {
                    out.extend_from_slice(&[p[0], p[1], 0.0, 0.0]);
                }
            }
        }
        let mut shape = vec![clips.len() as u32];
        shape.extend(Self::info().target_shape);
        Tensor::from_data(&out, &shape)
    }
}

/// Whether `DATA_DIR` is in SciVid's released layout (any STIR shards).
fn release_layout() -> bool {
    STIR_SPLITS.iter().any(|(_, p)| !released(p).is_empty())
}

/// SciVid's STIR shards whose names start with `prefix`.
fn released(prefix: &str) -> Vec<String> {
    release_shards("full/stir", prefix)
}

/// Every record of `shards`, with an error naming the file and record.
fn for_each_record(
    shards: &[String],
    mut f: impl FnMut(&str, u64, &[u8]) -> Result<()>,
) -> Result<()> {
    for shard in shards {
        let path = format!("{DATA_DIR}/{shard}");
        let err = |e: scivid_sdk::records::Error| Error(format!("{path}: {e}"));
        let mut file = ArrayRecord::open(std::path::Path::new(&path)).map_err(err)?;
        for index in 0..file.len() {
            let record = file.get(index).map_err(err)?;
            f(shard, index, &record).map_err(|e| Error(format!("{path}: record {index}: {e}")))?;
        }
    }
    Ok(())
}

/// One clip per STIR video: 16 frames spread over the whole video (the
/// host counts them), the start key points as queries, the end key points
/// as the last frame's targets.
fn stir_clips(shards: &[String]) -> Result<Vec<SampledClip>> {
    let mut clips = vec![];
    for_each_record(shards, |shard, index, record| {
        let ex = SequenceExample::parse_context(record).map_err(|e| Error(e.0))?;
        let (start, end) = (key_points(&ex, "startir")?, key_points(&ex, "endir")?);
        if start.is_empty() {
            bail!("no start key points");
        }
        if ex.list_lengths.get("image/encoded").copied().unwrap_or(0) < 2 {
            bail!("fewer than 2 frames under `image/encoded`");
        }
        let mut queries = vec![PAD; MAX_POINTS * 2];
        let mut target = empty_target();
        for (i, &[x, y]) in start.iter().enumerate() {
            queries[2 * i..2 * i + 2].copy_from_slice(&[x, y]);
            set_target(&mut target, 0, i, [x, y, 1.0, 1.0]);
        }
        for (i, &[x, y]) in end.iter().enumerate() {
            set_target(&mut target, FRAMES as usize - 1, i, [x, y, 1.0, 1.0]);
        }
        let id = format!("{shard}#{index}");
        let video = match ex.context("vid_idx").ok().and_then(|f| f.ints()) {
            Some([v]) => format!("video {v}"),
            _ => id.clone(),
        };
        let sampling = FrameSampling::Linspace(FRAMES);
        clips.push(record_clip(
            shard, index, id, sampling, target, video, queries,
        ));
        Ok(())
    })?;
    non_empty(clips, shards)
}

/// A clip of record `index` of `shard` (frames under `image/encoded`).
fn record_clip(
    shard: &str,
    index: u64,
    id: String,
    sampling: FrameSampling,
    target: Vec<f32>,
    group: String,
    queries: Vec<f32>,
) -> SampledClip {
    SampledClip {
        id,
        source: MediaSource::SequenceExample(SequenceFrames {
            shard: shard.into(),
            index,
            key: "image/encoded".into(),
            encoding: FrameEncoding::Images,
        }),
        sampling,
        target: ClipTarget::Values(target),
        group,
        extras: vec![Extra {
            name: "queries".into(),
            shape: vec![MAX_POINTS as u32, 2],
            data: queries,
        }],
    }
}

fn non_empty(clips: Vec<SampledClip>, shards: &[String]) -> Result<Vec<SampledClip>> {
    if clips.is_empty() {
        bail!("{}: the shards hold no videos", shards.join(", "));
    }
    Ok(clips)
}

/// Key points `{prefix}/object/keypoint/{x,y}`: normalised (x, y) pairs.
fn key_points(ex: &SequenceExample, prefix: &str) -> Result<Vec<[f32; 2]>> {
    let list = |axis: &str| -> Result<&[f32]> {
        let name = format!("{prefix}/object/keypoint/{axis}");
        let f = ex.context(&name).map_err(|e| Error(e.0))?;
        f.floats()
            .ok_or_else(|| Error(format!("`{name}` holds {}, not floats", f.kind())))
    };
    let (x, y) = (list("x")?, list("y")?);
    if x.len() != y.len() {
        bail!("{prefix}: {} x and {} y coordinates", x.len(), y.len());
    }
    if x.len() > MAX_POINTS {
        bail!("{prefix}: {} key points (at most {MAX_POINTS})", x.len());
    }
    if let Some(v) = x.iter().chain(y).find(|v| !(0.0..=1.0).contains(*v)) {
        bail!("{prefix}: coordinate {v} is not normalised to [0, 1]");
    }
    Ok(x.iter().zip(y).map(|(&x, &y)| [x, y]).collect())
}

/// MOVi training clips: every 16-frame window of every video, its tracks
/// at those frames.
fn movi_clips(shards: &[String]) -> Result<Vec<SampledClip>> {
    let mut clips = vec![];
    for_each_record(shards, |shard, index, record| {
        let keys = ["tracks/2d", "tracks/visibility"];
        let ex = SequenceExample::parse_lists(record, &keys).map_err(|e| Error(e.0))?;
        let frames = ex.list_lengths.get("image/encoded").copied().unwrap_or(0);
        let (xy, seen) = (tensors(&ex, keys[0])?, tensors(&ex, keys[1])?);
        if xy.len() != frames || seen.len() != frames {
            bail!(
                "{frames} frames but {} `tracks/2d` and {} `tracks/visibility` steps",
                xy.len(),
                seen.len()
            );
        }
        let tracks = xy.first().map_or(0, |t| t.shape[0]);
        for (t, (p, v)) in xy.iter().zip(&seen).enumerate() {
            if p.shape != [tracks, 2] || v.shape != [tracks] {
                bail!(
                    "frame {t}: tracks/2d {:?} and tracks/visibility {:?} (expected [{tracks}, 2] and [{tracks}])",
                    p.shape,
                    v.shape
                );
            }
        }
        if frames < MOVI_WINDOW as usize {
            bail!("{frames} frames, a window needs {MOVI_WINDOW}");
        }
        let video = format!("{shard}#{index}");
        for start in 0..=frames - MOVI_WINDOW as usize {
            let id = format!("{video}@{start}");
            let mut queries = vec![PAD; MAX_POINTS * 2];
            let mut target = empty_target();
            for (slot, &track) in chosen_tracks(&id, tracks).iter().enumerate() {
                // A query must be visible where it is asked.
                if seen[start].values[track] == 0.0 {
                    continue;
                }
                for k in 0..FRAMES as usize {
                    let p = &xy[start + k].values[2 * track..2 * track + 2];
                    let visible = (seen[start + k].values[track] > 0.0) as u8 as f32;
                    set_target(&mut target, k, slot, [p[0], p[1], visible, 1.0]);
                }
                queries[2 * slot..2 * slot + 2]
                    .copy_from_slice(&xy[start].values[2 * track..2 * track + 2]);
            }
            let sampling = FrameSampling::Indices((start as u32..start as u32 + FRAMES).collect());
            clips.push(record_clip(
                shard,
                index,
                id,
                sampling,
                target,
                video.clone(),
                queries,
            ));
        }
        Ok(())
    })?;
    non_empty(clips, shards)
}

/// The per-frame serialized tensors of feature list `name`.
fn tensors(ex: &SequenceExample, name: &str) -> Result<Vec<FloatTensor>> {
    let steps = ex.list(name).map_err(|e| Error(e.0))?;
    steps
        .iter()
        .enumerate()
        .map(|(t, f)| match f.bytes() {
            Some([b]) => FloatTensor::parse(b).map_err(|e| Error(format!("{name} frame {t}: {e}"))),
            _ => bail!("{name} frame {t}: not one serialized tensor"),
        })
        .collect()
}

/// Up to 34 of `tracks` track indices in an order drawn from the clip id
/// (SciVid shuffles the tracks and keeps the first 64; 34 is our query
/// count): the same clip keeps the same tracks in every run.
fn chosen_tracks(id: &str, tracks: usize) -> Vec<usize> {
    // FNV-1a of the id seeds a SplitMix64 stream for a Fisher-Yates shuffle.
    let mut state = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..tracks).collect();
    for i in (1..tracks).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    order.truncate(MAX_POINTS);
    order
}

/// A target with no point known anywhere.
fn empty_target() -> Vec<f32> {
    let mut t = vec![0.0; PER_CLIP];
    for v in t.chunks_mut(CHANNELS) {
        v[..2].copy_from_slice(&[PAD, PAD]);
    }
    t
}

fn set_target(target: &mut [f32], frame: usize, point: usize, value: [f32; CHANNELS]) {
    let at = (frame * MAX_POINTS + point) * CHANNELS;
    target[at..at + CHANNELS].copy_from_slice(&value);
}

/// `tracks.csv` at the sampled frames: per point, (x, y, visible) for
/// each of `frames` (positions normalised by `size`).
fn read_tracks(
    path: &str,
    points: usize,
    frames: &[u32],
    size: (f32, f32),
) -> Result<Vec<Vec<(f32, f32, f32)>>> {
    let csv = Csv::read(path)?;
    let mut out = vec![vec![None; frames.len()]; points];
    for row in csv.rows() {
        let (point, frame): (usize, u32) = (row.parse("point")?, row.parse("frame")?);
        if point >= points {
            return Err(row.error(format!("point {point}, but points.csv has {points}")));
        }
        let value = (
            row.parse::<f32>("x")? / size.0,
            row.parse::<f32>("y")? / size.1,
            match row.get("visible")? {
                "0" => 0.0,
                "1" => 1.0,
                v => return Err(row.error(format!("visible is `{v}`, not 0 or 1"))),
            },
        );
        for (k, _) in frames.iter().enumerate().filter(|(_, f)| **f == frame) {
            out[point][k] = Some(value);
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(p, track)| {
            track
                .into_iter()
                .zip(frames)
                .map(|(v, f)| {
                    v.ok_or_else(|| Error(format!("{}: point {p} has no frame {f}", csv.path())))
                })
                .collect()
        })
        .collect()
}

/// Sigmoid binary cross-entropy per element, from logits:
/// max(x, 0) - x z + log(1 + exp(-|x|)).
fn bce_each(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let softplus = logits.abs().neg().exp().add_scalar(1.0).log();
    logits.relu().sub(&logits.mul(labels)?)?.add(&softplus)
}

/// Hits per threshold over all valid points.
struct Accuracy {
    hits: [usize; THRESHOLDS.len()],
    points: usize,
}

/// Distance from the prediction of each valid query of one clip (known
/// and visible at frame 0) to its nearest valid ground-truth end point
/// (known and visible at the last frame), in rounded 1280x1024 pixels;
/// infinite where the clip has no end point. `pred` and `truth` are one
/// clip's [frames, points, 4] values.
pub fn nearest_distances(pred: &[f32], truth: &[f32]) -> Vec<f64> {
    let frame = |v: &[f32], k: usize| -> Vec<[f32; CHANNELS]> {
        v[k * MAX_POINTS * CHANNELS..(k + 1) * MAX_POINTS * CHANNELS]
            .chunks(CHANNELS)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect()
    };
    let last = FRAMES as usize - 1;
    let (pred, queries, ends) = (frame(pred, last), frame(truth, 0), frame(truth, last));
    let px = |p: &[f32; CHANNELS]| {
        (
            (p[0] as f64 * EVAL_SIZE.0).round(),
            (p[1] as f64 * EVAL_SIZE.1).round(),
        )
    };
    let valid = |t: &[f32; CHANNELS]| t[2] > 0.0 && t[3] > 0.0;
    let gt: Vec<(f64, f64)> = ends.iter().filter(|t| valid(t)).map(px).collect();
    pred.iter()
        .zip(&queries)
        .filter(|(_, q)| valid(q))
        .map(|(p, _)| {
            let (x, y) = px(p);
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
        for (pc, tc) in p.chunks(PER_CLIP).zip(t.chunks(PER_CLIP)) {
            for d in nearest_distances(pc, tc) {
                self.points += 1;
                for (h, thr) in self.hits.iter_mut().zip(THRESHOLDS) {
                    if d <= thr {
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
                name: format!("accuracy/{thr}px"),
                value: v,
            });
        }
        Ok(out)
    }
}

scivid_sdk::export_task!(Stir);
