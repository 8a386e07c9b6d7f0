//! Decoding clips: resolve a task's clip spec inside the dataset directory
//! (never outside it), pick the frames its sampling asks for ([`sample`]),
//! read the files behind them, resample the indices to the task's frame
//! count, map values to the backbone's input range and resize (bilinear,
//! aspect ratio not kept, as SciVid's readers).
//!
//! [`read`] gathers the bytes first (they also key the feature cache; for a
//! video file, its decoded frames); [`ClipBytes::decode`] turns them into
//! frames [T, H, W, 3].
//! [`read_target`] reads a target the task left to the host. Sources with
//! their own structure live beside: `zarr` (stores, host-read targets) and
//! `records` (SequenceExample records of ArrayRecord files).

mod records;
mod zarr;

use super::npy;
use crate::data::video;
use crate::runtime::bindings::{
    FrameEncoding, FrameSampling, InputSpec, MediaSource, SampledClip, ValueMap,
};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};
use zarr::ZarrChannelBytes;

pub use zarr::read_target;

/// Resolve `rel` under `root`, refusing absolute paths, `..`, and symlinks
/// that lead outside `root`.
pub fn resolve_inside(root: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        bail!("clip path `{rel}` must be relative to the dataset directory, without `..`");
    }
    let root = root
        .canonicalize()
        .with_context(|| format!("dataset directory {} not found", root.display()))?;
    let full = root.join(p);
    let real = full
        .canonicalize()
        .with_context(|| format!("cannot open {}", full.display()))?;
    if !real.starts_with(&root) {
        bail!("clip path `{rel}` leads outside the dataset directory");
    }
    Ok(real)
}

/// The most frames a sampling may pick (before resampling to the task's
/// count): a plugin's window size must not become the host's allocation.
pub const MAX_PICKED_FRAMES: u32 = 1 << 16;

/// The frames a clip's sampling picks from a source of `len()` frames
/// (asked only when the sampling needs it), before resampling to the task's
/// frame count: SciVid's `process_idx`, index for index (its `linspace` in
/// f32, as TensorFlow computes it). A random window's start is drawn from
/// `seed` and the clip's id.
pub fn sample(
    clip: &SampledClip,
    len: impl FnOnce() -> Result<usize>,
    seed: u64,
) -> Result<Vec<u32>> {
    let id = &clip.id;
    let check = |count: u32, stride: u32| -> Result<()> {
        if count == 0 || stride == 0 || count > MAX_PICKED_FRAMES {
            bail!(
                "clip `{id}`: a frame window of {count} frames, stride {stride} (1 to {MAX_PICKED_FRAMES} frames, stride 1 or more)"
            );
        }
        Ok(())
    };
    let source_len = || -> Result<i64> {
        let n = len()?;
        if n == 0 {
            bail!("clip `{id}`: its source has no frames");
        }
        Ok(n as i64)
    };
    // Indices past the last frame take the last frame.
    let padded = |idx: Vec<i64>, len: i64| {
        idx.into_iter()
            .map(|i| i.clamp(0, len - 1) as u32)
            .collect()
    };
    let window = |start: i64, count: u32, stride: u32| {
        (0..count as i64).map(move |k| start + k * stride as i64)
    };
    let picked = match &clip.sampling {
        FrameSampling::Indices(v) => v.clone(),
        FrameSampling::Start(w) => {
            check(w.count, w.stride)?;
            padded(window(0, w.count, w.stride).collect(), source_len()?)
        }
        FrameSampling::Middle(w) => {
            check(w.count, w.stride)?;
            let len = source_len()?;
            let diff = (len - w.count as i64 * w.stride as i64).max(0);
            let (start, end) = (diff / 2, len - diff / 2);
            // f32 -> int truncates, as tf.cast does.
            let idx = linspace_f32(start as f32, end as f32, w.count)
                .into_iter()
                .map(|x| x as i64)
                .collect();
            padded(idx, len)
        }
        FrameSampling::Random(w) => {
            use rand::{RngExt, SeedableRng};
            check(w.count, w.stride)?;
            let mut len = source_len()?;
            if let Some(m) = w.max_start {
                len = len.min(w.count as i64 + m as i64);
            }
            let end = len - w.count as i64 * w.stride as i64;
            let start = if end > 0 {
                let digest = Sha256::digest(format!("{seed}\0{id}").as_bytes());
                let seed = u64::from_le_bytes(digest[..8].try_into()?);
                rand::rngs::StdRng::seed_from_u64(seed).random_range(0..end)
            } else {
                0
            };
            padded(window(start, w.count, w.stride).collect(), len)
        }
        FrameSampling::Linspace(n) => {
            if *n == 0 || *n > MAX_PICKED_FRAMES {
                bail!("clip `{id}`: a linspace of {n} frames (1 to {MAX_PICKED_FRAMES})");
            }
            let len = source_len()?;
            let idx = linspace_f32(0.0, (len - 1) as f32, *n)
                .into_iter()
                .map(|x| x.round_ties_even() as i64)
                .collect();
            padded(idx, len)
        }
    };
    if picked.is_empty() {
        bail!("clip `{id}`: no frame indices");
    }
    Ok(picked)
}

/// `n` values from `start` to `stop`, both included, in f32 as TensorFlow's
/// `linspace` computes them (the ends exact, the rest `start + k * step`).
fn linspace_f32(start: f32, stop: f32, n: u32) -> Vec<f32> {
    if n == 1 {
        return vec![start];
    }
    let step = (stop - start) / (n - 1) as f32;
    (0..n)
        .map(|k| match k {
            0 => start,
            k if k == n - 1 => stop,
            k => start + k as f32 * step,
        })
        .collect()
}

/// `picked` resampled to `frames` by nearest index (SciVid pads short clips
/// to a multiple of 16 this way).
pub fn resample(picked: &[u32], frames: usize) -> Vec<u32> {
    let n = picked.len();
    (0..frames).map(|k| picked[k * n / frames]).collect()
}

/// The raw bytes behind one clip's frames.
pub struct ClipBytes {
    /// The frames the clip's sampling picked, before resampling.
    pub picked: Vec<u32>,
    /// The frames decoded, resampled to the task's frame count.
    indices: Vec<u32>,
    /// (file, bytes) in read order: one array file, one image per frame,
    /// or a video's frames decoded to RGB (`video`).
    files: Vec<(PathBuf, Vec<u8>)>,
    /// For a Zarr source: each channel's array and the chunks read.
    zarr: Vec<ZarrChannelBytes>,
    /// For a video file: its frame size.
    video: Option<video::VideoInfo>,
    /// For an `.npz` or safetensors source: the array, decoded once.
    member: Option<super::arrays::Member>,
}

/// Read the files behind `clip` (for image sequences and Zarr stores, only
/// what the clip's frames use), resolved inside `root`; `seed` draws random
/// frame windows.
pub fn read(root: &Path, clip: &SampledClip, input: &InputSpec, seed: u64) -> Result<ClipBytes> {
    let open = |rel: &str| -> Result<(PathBuf, Vec<u8>)> {
        let path = resolve_inside(root, rel).with_context(|| format!("clip `{}`", clip.id))?;
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok((path, bytes))
    };
    let frames = input.frames as usize;
    let mut bytes = ClipBytes {
        picked: vec![],
        indices: vec![],
        files: vec![],
        zarr: vec![],
        video: None,
        member: None,
    };
    let in_clip = || format!("clip `{}`", clip.id);
    match &clip.source {
        MediaSource::NpyVideo(rel) | MediaSource::NpyArray((rel, _)) => {
            let (path, data) = open(rel)?;
            bytes.picked = sample(
                clip,
                || {
                    Ok(npy::parse(&data, &path.display().to_string())?
                        .shape
                        .first()
                        .copied()
                        .unwrap_or(0))
                },
                seed,
            )?;
            bytes.files = vec![(path, data)];
        }
        MediaSource::ImageFiles(list) => {
            bytes.picked = sample(clip, || Ok(list.len()), seed)?;
            for &idx in &resample(&bytes.picked, frames) {
                let Some(rel) = list.get(idx as usize) else {
                    bail!(
                        "clip `{}`: frame index {idx} out of range ({} image files)",
                        clip.id,
                        list.len()
                    );
                };
                bytes.files.push(open(rel)?);
            }
        }
        MediaSource::Zarr(z) => {
            bytes.picked = sample(clip, || zarr::time_len(root, z), seed).with_context(in_clip)?;
            let times = resample(&bytes.picked, frames);
            bytes.zarr = zarr::read(root, z, &times).with_context(in_clip)?;
        }
        MediaSource::SequenceExample(s) => {
            bytes.picked =
                sample(clip, || records::frame_count(root, s), seed).with_context(in_clip)?;
            let times = resample(&bytes.picked, frames);
            bytes.files = records::read_frames(root, s, &times).with_context(in_clip)?;
        }
        MediaSource::Npz(m) | MediaSource::Safetensors(m) => {
            let (path, data) = open(&m.file)?;
            let member = array_member(&clip.source, &data, &path)?;
            bytes.picked = sample(
                clip,
                || Ok(member.shape.first().copied().unwrap_or(0)),
                seed,
            )?;
            bytes.files = vec![(path, data)];
            bytes.member = Some(member);
        }
        MediaSource::Video(rel) => {
            let path = resolve_inside(root, rel).with_context(in_clip)?;
            let info = video::probe(&path).with_context(in_clip)?;
            bytes.picked = sample(clip, || Ok(info.frames), seed)?;
            let rgb = video::decode(&path, &info, &resample(&bytes.picked, frames))
                .with_context(in_clip)?;
            bytes.files = vec![(path, rgb)];
            bytes.video = Some(info);
        }
    }
    bytes.indices = resample(&bytes.picked, frames);
    Ok(bytes)
}

impl ClipBytes {
    /// sha256 over everything that determines the decoded frames (the
    /// bytes read and how values are mapped), for the feature cache key.
    pub fn digest(&self, clip: &SampledClip) -> Vec<u8> {
        let mut h = Sha256::new();
        for (_, bytes) in &self.files {
            h.update(Sha256::digest(bytes));
        }
        for ch in &self.zarr {
            ch.digest_into(&mut h);
        }
        let map = match &clip.source {
            MediaSource::NpyArray((_, map)) => Some(map),
            MediaSource::Npz(m) | MediaSource::Safetensors(m) => Some(&m.values),
            MediaSource::Zarr(z) => Some(&z.values),
            MediaSource::SequenceExample(crate::runtime::bindings::SequenceFrames {
                encoding: FrameEncoding::Floats(ff),
                ..
            }) => Some(&ff.values),
            _ => None,
        };
        if let Some(map) = map {
            h.update(format!("{:?}{:?}{:?}", map.clamp, map.shift, map.scale).as_bytes());
        }
        h.finalize().to_vec()
    }

    /// Frames as f32 [T, H, W, 3] with the task's T, H, W.
    pub fn decode(&self, clip: &SampledClip, input: &InputSpec) -> Result<Vec<f32>> {
        let (oh, ow) = (input.height as usize, input.width as usize);
        let indices = self.indices.clone();
        let mut out = Vec::with_capacity(indices.len() * oh * ow * 3);
        match &clip.source {
            MediaSource::Video(_) => {
                let (_, rgb) = &self.files[0];
                let info = self.video.expect("a video source records its info");
                let (h, w) = (info.height, info.width);
                for frame in rgb.chunks_exact(h * w * 3) {
                    let data = frame.iter().map(|&v| v as f32 / 255.0).collect();
                    resize_into(&Frame { h, w, c: 3, data }, oh, ow, &mut out);
                }
            }
            MediaSource::ImageFiles(_) => {
                for (path, bytes) in &self.files {
                    let frame = decode_image(path, bytes)?;
                    resize_into(&frame, oh, ow, &mut out);
                }
            }
            MediaSource::SequenceExample(s) => {
                for (path, bytes) in &self.files {
                    let frame = match &s.encoding {
                        FrameEncoding::Images => decode_image(path, bytes)?,
                        FrameEncoding::Floats(ff) => {
                            records::float_frame(bytes, ff, &path.display().to_string())?
                        }
                    };
                    resize_into(&frame, oh, ow, &mut out);
                }
            }
            MediaSource::Zarr(z) => {
                let frames = zarr::frames(&self.zarr, &indices)
                    .with_context(|| format!("clip `{}`", clip.id))?;
                for f in frames {
                    let data = mapped(&f.data, f.c, &z.values, &z.store)?;
                    resize_into(&Frame { data, ..f }, oh, ow, &mut out);
                }
            }
            MediaSource::NpyVideo(_) | MediaSource::NpyArray(_) => {
                let (path, bytes) = &self.files[0];
                let what = path.display().to_string();
                let a = npy::parse(bytes, &what)?;
                let map = match &clip.source {
                    MediaSource::NpyArray((_, map)) => Some(map),
                    _ => None,
                };
                if map.is_none() && a.dtype != npy::Dtype::U8 {
                    bail!("{what}: video frames must be uint8, found {:?}", a.dtype);
                }
                let values = a.as_f32();
                array_frames(
                    clip,
                    &a.shape,
                    &values,
                    map,
                    &indices,
                    &what,
                    (oh, ow),
                    &mut out,
                )?;
            }
            MediaSource::Npz(m) | MediaSource::Safetensors(m) => {
                let (path, _) = &self.files[0];
                let member = self.member.as_ref().expect("read decodes array sources");
                let what = format!("{}: `{}`", path.display(), m.name);
                let size = (oh, ow);
                let map = Some(&m.values);
                array_frames(
                    clip,
                    &member.shape,
                    &member.values,
                    map,
                    &indices,
                    &what,
                    size,
                    &mut out,
                )?;
            }
        }
        Ok(out)
    }
}

/// The array a `.npz` or safetensors source names, out of its file's bytes.
fn array_member(source: &MediaSource, bytes: &[u8], path: &Path) -> Result<super::arrays::Member> {
    let file = path.display().to_string();
    match source {
        MediaSource::Npz(m) => super::arrays::npz_member(bytes, &file, &m.name),
        MediaSource::Safetensors(m) => super::arrays::safetensors_member(bytes, &file, &m.name),
        _ => unreachable!("called for array sources only"),
    }
}

/// Frames `indices` of an array [T, H, W, C] (C = 1 or 3): mapped by `map`
/// (none: uint8 scaled to [0, 1]), resized to `size`, appended to `out`.
#[allow(clippy::too_many_arguments)]
fn array_frames(
    clip: &SampledClip,
    shape: &[usize],
    values: &[f32],
    map: Option<&ValueMap>,
    indices: &[u32],
    what: &str,
    (oh, ow): (usize, usize),
    out: &mut Vec<f32>,
) -> Result<()> {
    let [t, h, w, c] = shape[..] else {
        bail!("{what}: shape {shape:?} is not [T, H, W, C]");
    };
    if !matches!(c, 1 | 3) {
        bail!("{what}: {c} channels (expected 1 or 3)");
    }
    for &idx in indices {
        let idx = idx as usize;
        if idx >= t {
            bail!(
                "clip `{}`: frame index {idx} out of range for {what} ({t} frames)",
                clip.id
            );
        }
        let raw = &values[idx * h * w * c..(idx + 1) * h * w * c];
        let data = match map {
            Some(m) => mapped(raw, c, m, what)?,
            None => raw.iter().map(|v| v / 255.0).collect(),
        };
        resize_into(&Frame { h, w, c, data }, oh, ow, out);
    }
    Ok(())
}

/// Convenience: read and decode one clip.
pub fn decode(root: &Path, clip: &SampledClip, input: &InputSpec, seed: u64) -> Result<Vec<f32>> {
    read(root, clip, input, seed)?.decode(clip, input)
}

/// One image file's bytes decoded and resized to `h` x `w` RGB (as a clip's
/// frames are), f32 [h, w, 3]; `what` names the file in errors.
pub fn decode_frame(bytes: &[u8], what: &str, h: usize, w: usize) -> Result<Vec<f32>> {
    let frame = decode_image(Path::new(what), bytes)?;
    let mut out = Vec::with_capacity(h * w * 3);
    resize_into(&frame, h, w, &mut out);
    Ok(out)
}

/// One frame of f32 values, row-major [h, w, c].
pub(super) struct Frame {
    h: usize,
    w: usize,
    /// 1 (gray) or 3 (RGB): every reader checks its source has one of them.
    c: usize,
    data: Vec<f32>,
}

/// The largest frame decoded, in pixels: a corrupt or hostile header can
/// claim any size, and a frame becomes f32 before it is resized.
pub const MAX_FRAME_PIXELS: u64 = 16 << 20;

fn decode_image(path: &Path, bytes: &[u8]) -> Result<Frame> {
    let corrupt = || {
        format!(
            "{}: cannot decode image (truncated or corrupt?)",
            path.display()
        )
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .with_context(corrupt)?;
    let (w, h) = reader.into_dimensions().with_context(corrupt)?;
    if w as u64 * h as u64 > MAX_FRAME_PIXELS {
        bail!(
            "{}: the image claims {w} x {h} pixels, more than a frame may have ({} megapixels)",
            path.display(),
            MAX_FRAME_PIXELS >> 20
        );
    }
    let img = image::load_from_memory(bytes).with_context(corrupt)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (c, data): (usize, Vec<u8>) = if img.color().has_color() {
        (3, img.into_rgb8().into_raw())
    } else {
        (1, img.into_luma8().into_raw())
    };
    Ok(Frame {
        h,
        w,
        c,
        data: data.into_iter().map(|v| v as f32 / 255.0).collect(),
    })
}

/// Apply a task's value map to one frame's raw values.
pub(super) fn mapped(raw: &[f32], c: usize, m: &ValueMap, what: &str) -> Result<Vec<f32>> {
    for (name, list) in [("shift", &m.shift), ("scale", &m.scale)] {
        if !(list.len() == 1 || list.len() == c) {
            bail!(
                "{what}: value map `{name}` has {} entries for {c} channels",
                list.len()
            );
        }
    }
    if m.scale.contains(&0.0) {
        bail!("{what}: value map scale of 0");
    }
    let pick = |list: &[f32], ch: usize| list[if list.len() == 1 { 0 } else { ch }];
    Ok(raw
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let ch = i % c;
            let x = match m.clamp {
                Some((lo, hi)) => x.clamp(lo, hi),
                None => x,
            };
            (x - pick(&m.shift, ch)) / pick(&m.scale, ch)
        })
        .collect())
}

/// Bilinear resize (half-pixel centres) of one frame, gray tiled to RGB,
/// appended to `out`. Where each output column reads from is worked out
/// once per frame, not per value: decoding a clip is mostly this loop.
fn resize_into(f: &Frame, oh: usize, ow: usize, out: &mut Vec<f32>) {
    let (h, w, c) = (f.h, f.w, f.c);
    let start = out.len();
    out.resize(start + oh * ow * 3, 0.0);
    let dst = &mut out[start..];
    if h == oh && w == ow {
        if c == 3 {
            dst.copy_from_slice(&f.data[..h * w * 3]);
        } else {
            for (px, &v) in dst.chunks_exact_mut(3).zip(&f.data) {
                px.fill(v);
            }
        }
        return;
    }
    // (first source column, second, weight of the second) per output column.
    let sx = w as f32 / ow as f32;
    let columns: Vec<(usize, usize, f32)> = (0..ow)
        .map(|x| {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let x0 = fx.floor() as usize;
            (x0, (x0 + 1).min(w - 1), fx - fx.floor())
        })
        .collect();
    let sy = h as f32 / oh as f32;
    for (y, row) in dst.chunks_exact_mut(ow * 3).enumerate() {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let (y0, wy) = (fy.floor() as usize, fy - fy.floor());
        let y1 = (y0 + 1).min(h - 1);
        let (r0, r1) = (
            &f.data[y0 * w * c..][..w * c],
            &f.data[y1 * w * c..][..w * c],
        );
        // The same products in the same order as one value at a time, so
        // the frames (and the features cached from them) stay bit for bit.
        let mix = |a: f32, b: f32, p: f32, q: f32, wx: f32| {
            let top = a * (1.0 - wx) + b * wx;
            let bot = p * (1.0 - wx) + q * wx;
            top * (1.0 - wy) + bot * wy
        };
        for (px, &(x0, x1, wx)) in row.chunks_exact_mut(3).zip(&columns) {
            if c == 1 {
                px.fill(mix(r0[x0], r0[x1], r1[x0], r1[x1], wx));
            } else {
                let (a, b, p, q) = (&r0[x0 * c..], &r0[x1 * c..], &r1[x0 * c..], &r1[x1 * c..]);
                for ch in 0..3 {
                    px[ch] = mix(a[ch], b[ch], p[ch], q[ch], wx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook loop: every output value computes its own source
    /// coordinates.
    fn resize_by_value(f: &Frame, oh: usize, ow: usize) -> Vec<f32> {
        let px = |y: usize, x: usize, ch: usize| f.data[(y * f.w + x) * f.c + ch.min(f.c - 1)];
        let (sy, sx) = (f.h as f32 / oh as f32, f.w as f32 / ow as f32);
        let mut out = vec![];
        for y in 0..oh {
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (f.h - 1) as f32);
            let (y0, wy) = (fy.floor() as usize, fy - fy.floor());
            let y1 = (y0 + 1).min(f.h - 1);
            for x in 0..ow {
                let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (f.w - 1) as f32);
                let (x0, wx) = (fx.floor() as usize, fx - fx.floor());
                let x1 = (x0 + 1).min(f.w - 1);
                for ch in 0..3 {
                    let top = px(y0, x0, ch) * (1.0 - wx) + px(y0, x1, ch) * wx;
                    let bot = px(y1, x0, ch) * (1.0 - wx) + px(y1, x1, ch) * wx;
                    out.push(top * (1.0 - wy) + bot * wy);
                }
            }
        }
        out
    }

    fn frame(h: usize, w: usize, c: usize) -> Frame {
        let data = (0..h * w * c)
            .map(|i| ((i * 7919) % 251) as f32 / 250.0)
            .collect();
        Frame { h, w, c, data }
    }

    #[test]
    fn resize_matches_the_value_by_value_loop_bit_for_bit() {
        for c in [1, 3] {
            for (h, w, oh, ow) in [
                (256, 256, 224, 224),
                (5, 7, 11, 3),
                (9, 4, 9, 4),
                (1, 1, 2, 2),
            ] {
                let f = frame(h, w, c);
                let mut out = vec![-1.0];
                resize_into(&f, oh, ow, &mut out);
                let want = resize_by_value(&f, oh, ow);
                assert_eq!(out[0], -1.0, "what was in `out` stays");
                assert_eq!(out.len(), 1 + oh * ow * 3);
                let same = out[1..]
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{h}x{w}x{c} -> {oh}x{ow}");
            }
        }
    }

    #[test]
    fn resize_interpolates_between_half_pixel_centres() {
        // Two gray pixels 0 and 1 stretched to four: the outer two clamp to
        // the edges, the inner two sit a quarter of the way in from each.
        let f = Frame {
            h: 1,
            w: 2,
            c: 1,
            data: vec![0.0, 1.0],
        };
        let mut out = vec![];
        resize_into(&f, 1, 4, &mut out);
        let want: Vec<f32> = [0.0, 0.25, 0.75, 1.0]
            .iter()
            .flat_map(|&v| [v; 3])
            .collect();
        assert_eq!(out, want);
    }
}
