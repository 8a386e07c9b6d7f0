//! Frames from a Zarr store, one array plane per channel, reading only the
//! chunks of the clip's frames; and targets the host reads from the same
//! store ([`read_target`]).

use super::{Frame, resolve_inside};
use crate::data::zarr::Array;
use crate::runtime::bindings::{ClipTarget, MediaSource, SampledClip, TargetFrames, ZarrFrames};
use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One channel of a Zarr source: its array, the fixed indices between time
/// and the plane, and the chunk files read (None: absent, the fill value).
pub(super) struct ZarrChannelBytes {
    array: Array,
    index: Vec<usize>,
    chunks: BTreeMap<Vec<usize>, Option<Vec<u8>>>,
}

/// Open each channel's array and read the chunks of frames `times`.
pub(super) fn read(root: &Path, z: &ZarrFrames, times: &[u32]) -> Result<Vec<ZarrChannelBytes>> {
    ensure!(
        matches!(z.channels.len(), 1 | 3),
        "Zarr source `{}`: {} channels (1 or 3)",
        z.store,
        z.channels.len()
    );
    let mut out = vec![];
    for ch in &z.channels {
        let rel = format!("{}/{}", z.store, ch.array);
        let name = rel.clone();
        let dir = resolve_inside(root, &rel)?;
        let array = Array::open(&dir, &name)?;
        let index: Vec<usize> = ch.index.iter().map(|&i| i as usize).collect();
        let mut chunks = BTreeMap::new();
        // Shards read so far: one holds many of the chunks a clip needs.
        let mut files: HashMap<String, Option<Vec<u8>>> = HashMap::new();
        for &t in times {
            let lead: Vec<usize> = std::iter::once(t as usize)
                .chain(index.iter().copied())
                .collect();
            for coords in array.plane_chunks(&lead)? {
                if chunks.contains_key(&coords) {
                    continue;
                }
                let key = array.chunk_path(&coords);
                let key = key
                    .strip_prefix(&dir)
                    .unwrap_or(&key)
                    .to_string_lossy()
                    .to_string();
                let file_rel = format!("{rel}/{key}");
                if !array.is_sharded() {
                    chunks.insert(coords, read_optional(root, &file_rel)?);
                    continue;
                }
                if !files.contains_key(&file_rel) {
                    let file = read_optional(root, &file_rel)?;
                    files.insert(file_rel.clone(), file);
                }
                let chunk = array
                    .chunk_in_file(&coords, files[&file_rel].as_deref())
                    .with_context(|| format!("{name}: {file_rel}"))?;
                chunks.insert(coords, chunk.map(<[u8]>::to_vec));
            }
        }
        if let Some(first) = out.first() {
            let first: &ZarrChannelBytes = first;
            let (a, b) = (plane_size(&first.array), plane_size(&array));
            ensure!(
                a == b,
                "{}: planes of {b:?}, but {} has {a:?}",
                array.name,
                first.array.name
            );
        }
        out.push(ZarrChannelBytes {
            array,
            index,
            chunks,
        });
    }
    Ok(out)
}

/// The length of the time axis of a Zarr source (its first channel's array).
pub(super) fn time_len(root: &Path, z: &ZarrFrames) -> Result<usize> {
    let Some(ch) = z.channels.first() else {
        bail!("Zarr source `{}`: no channels", z.store);
    };
    let rel = format!("{}/{}", z.store, ch.array);
    let array = Array::open(&resolve_inside(root, &rel)?, &rel)?;
    Ok(array.shape.first().copied().unwrap_or(0))
}

fn plane_size(a: &Array) -> (usize, usize) {
    let r = a.shape.len();
    (a.shape[r - 2], a.shape[r - 1])
}

/// A file inside `root` if it exists (a Zarr chunk may be absent: it is
/// then the fill value); a link out of `root` is still refused.
fn read_optional(root: &Path, rel: &str) -> Result<Option<Vec<u8>>> {
    match std::fs::symlink_metadata(root.join(rel)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    let path = resolve_inside(root, rel)?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(bytes))
}

impl ZarrChannelBytes {
    /// What determines this channel's frames, for the feature cache key:
    /// the metadata, the fixed indices, every chunk read.
    pub(super) fn digest_into(&self, h: &mut Sha256) {
        h.update(Sha256::digest(&self.array.metadata));
        h.update(format!("{:?}", self.index).as_bytes());
        for (coords, file) in &self.chunks {
            h.update(format!("{coords:?}").as_bytes());
            h.update(file.as_deref().map(Sha256::digest).unwrap_or_default());
        }
    }

    /// Decoded planes [H, W] of frames `times`, each chunk decoded once.
    fn planes(&self, times: &[u32]) -> Result<Vec<Vec<f32>>> {
        let mut decoded = HashMap::new();
        let mut fetch = |coords: &[usize]| {
            let file = self
                .chunks
                .get(coords)
                .with_context(|| format!("{}: chunk {coords:?} was not read", self.array.name))?;
            Ok(file.as_deref().map(Cow::Borrowed))
        };
        times
            .iter()
            .map(|&t| {
                let lead: Vec<usize> = std::iter::once(t as usize)
                    .chain(self.index.iter().copied())
                    .collect();
                self.array.plane_with(&lead, &mut decoded, &mut fetch)
            })
            .collect()
    }
}

/// Frames `times` of a Zarr source as [H, W, C] (channels interleaved).
pub(super) fn frames(channels: &[ZarrChannelBytes], times: &[u32]) -> Result<Vec<Frame>> {
    let (h, w) = plane_size(&channels[0].array);
    let c = channels.len();
    let planes: Vec<Vec<Vec<f32>>> = channels
        .iter()
        .map(|ch| ch.planes(times))
        .collect::<Result<_>>()?;
    Ok((0..times.len())
        .map(|k| {
            let mut data = vec![0f32; h * w * c];
            for (ch, p) in planes.iter().enumerate() {
                for (i, v) in p[k].iter().enumerate() {
                    data[i * c + ch] = *v;
                }
            }
            Frame { h, w, c, data }
        })
        .collect())
}

/// The target of a clip whose task left it to the host
/// ([`ClipTarget::Frames`]): [frames, channels, height, width] at the
/// stored resolution, `(value(f) - value(minus-frame)) / scale[c]`.
pub fn read_target(root: &Path, clip: &SampledClip) -> Result<Vec<f32>> {
    let (ClipTarget::Frames(t), MediaSource::Zarr(z)) = (&clip.target, &clip.source) else {
        bail!("clip `{}`: not a target read from Zarr frames", clip.id);
    };
    let go = || -> Result<Vec<f32>> {
        let TargetFrames {
            frames,
            minus_frame,
            scale,
        } = t;
        let mut times = frames.clone();
        times.extend(minus_frame.iter().copied());
        let channels = read(root, z, &times)?;
        let c = channels.len();
        ensure!(
            scale.len() == 1 || scale.len() == c,
            "target scale has {} entries for {c} channels",
            scale.len()
        );
        ensure!(!scale.contains(&0.0), "target scale of 0");
        let (h, w) = plane_size(&channels[0].array);
        let mut out = Vec::with_capacity(frames.len() * c * h * w);
        let planes: Vec<Vec<Vec<f32>>> = channels
            .iter()
            .map(|ch| ch.planes(&times))
            .collect::<Result<_>>()?;
        for k in 0..frames.len() {
            for (ch, p) in planes.iter().enumerate() {
                let s = scale[if scale.len() == 1 { 0 } else { ch }];
                let base = minus_frame.map(|_| &p[frames.len()]);
                for (i, v) in p[k].iter().enumerate() {
                    out.push((v - base.map_or(0.0, |b| b[i])) / s);
                }
            }
        }
        Ok(out)
    };
    go().with_context(|| format!("clip `{}`: target", clip.id))
}
