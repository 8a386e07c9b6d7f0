//! Decoding clips: resolve a task's clip spec inside the dataset directory
//! (never outside it), read the frames, pick the requested indices, resize
//! (bilinear, aspect ratio not kept, as SciVid's readers) and scale to [0,1].

use super::npy;
use crate::runtime::bindings::{ClipSpec, FrameSource, InputSpec};
use anyhow::{Context, Result, bail};
use std::path::{Component, Path, PathBuf};

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

/// The file behind a clip, resolved inside `root`, and its bytes.
pub fn read(root: &Path, clip: &ClipSpec) -> Result<(PathBuf, Vec<u8>)> {
    let FrameSource::NpyVideo(rel) = &clip.source;
    let path = resolve_inside(root, rel).with_context(|| format!("clip `{}`", clip.id))?;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((path, bytes))
}

/// Frames as f32 [T, H, W, 3] in [0, 1], with the task's T, H, W.
pub fn decode(root: &Path, clip: &ClipSpec, input: &InputSpec) -> Result<Vec<f32>> {
    let (path, bytes) = read(root, clip)?;
    decode_bytes(&path, &bytes, clip, input)
}

/// Like [`decode`], from the clip file's bytes already read from `path`.
pub fn decode_bytes(
    path: &Path,
    bytes: &[u8],
    clip: &ClipSpec,
    input: &InputSpec,
) -> Result<Vec<f32>> {
    let a = npy::parse(bytes, &path.display().to_string())?;
    let [t, h, w, c] = a.shape[..] else {
        bail!(
            "{}: shape {:?} is not [T, H, W, C]",
            path.display(),
            a.shape
        );
    };
    if a.dtype != npy::Dtype::U8 {
        bail!(
            "{}: frames must be uint8, found {:?}",
            path.display(),
            a.dtype
        );
    }
    if !matches!(c, 1 | 3) {
        bail!("{}: {c} channels (expected 1 or 3)", path.display());
    }
    if clip.frame_indices.is_empty() {
        bail!("clip `{}`: no frame indices", clip.id);
    }
    let (oh, ow, of) = (
        input.height as usize,
        input.width as usize,
        input.frames as usize,
    );
    let mut out = Vec::with_capacity(of * oh * ow * 3);
    for k in 0..of {
        // Resample the requested indices to `frames` by nearest index.
        let idx = clip.frame_indices[k * clip.frame_indices.len() / of] as usize;
        if idx >= t {
            bail!(
                "clip `{}`: frame index {idx} out of range for {} ({t} frames)",
                clip.id,
                path.display()
            );
        }
        let frame = &a.data[idx * h * w * c..(idx + 1) * h * w * c];
        resize_into(frame, h, w, c, oh, ow, &mut out);
    }
    Ok(out)
}

/// Bilinear resize (half-pixel centres) of one uint8 frame, gray tiled to
/// RGB, scaled to [0, 1], appended to `out`.
fn resize_into(
    frame: &[u8],
    h: usize,
    w: usize,
    c: usize,
    oh: usize,
    ow: usize,
    out: &mut Vec<f32>,
) {
    let px = |y: usize, x: usize, ch: usize| {
        frame[(y * w + x) * c + if c == 1 { 0 } else { ch }] as f32 / 255.0
    };
    if h == oh && w == ow {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..3 {
                    out.push(px(y, x, ch));
                }
            }
        }
        return;
    }
    let (sy, sx) = (h as f32 / oh as f32, w as f32 / ow as f32);
    for y in 0..oh {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let (y0, wy) = (fy.floor() as usize, fy - fy.floor());
        let y1 = (y0 + 1).min(h - 1);
        for x in 0..ow {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let (x0, wx) = (fx.floor() as usize, fx - fx.floor());
            let x1 = (x0 + 1).min(w - 1);
            for ch in 0..3 {
                let top = px(y0, x0, ch) * (1.0 - wx) + px(y0, x1, ch) * wx;
                let bot = px(y1, x0, ch) * (1.0 - wx) + px(y1, x1, ch) * wx;
                out.push(top * (1.0 - wy) + bot * wy);
            }
        }
    }
}
