//! Training-time augmentation of a clip's frames, as SciVid's
//! `tf_transforms` do it: a random upscale cropped back to the clip's size
//! (`RandomResize` + `RandomCrop`), a Gaussian blur (`GaussianBlur`) and a
//! left-right flip (`RandomFlipLeftRightVideo`). Each draws its parameters
//! once per clip, so every frame of a clip moves the same way.
//!
//! [`draw`] turns a task's declared augmentations and a random generator
//! into [`Drawn`] parameters; [`apply`] applies them. The ops themselves
//! ([`upscale_crop`], [`blur`], [`flip`]) are pure and checked against
//! TensorFlow's (`tests/fixtures/augment_reference.py`).

use crate::runtime::bindings::Augmentation;
use anyhow::{Result, bail};
use rand::RngExt;

/// Frames [t, h, w, 3], f32, row-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub t: usize,
    pub h: usize,
    pub w: usize,
}

/// One augmentation with its parameters drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Drawn {
    /// Resize to (floor(scale * h), floor(scale * w)), then crop back to
    /// (h, w) from row `top`, column `left`.
    UpscaleCrop {
        scale: f32,
        top: usize,
        left: usize,
    },
    /// Separable Gaussian blur, kernel of `size` taps, zero padding.
    Blur {
        sigma: f32,
        size: usize,
    },
    Flip,
}

/// Check what a task declares before a run trains with it.
pub fn validate(augs: &[Augmentation]) -> Result<()> {
    let unit = |p: f32, what: &str| -> Result<()> {
        if !(0.0..=1.0).contains(&p) {
            bail!("{what}: probability {p} is not in [0, 1]");
        }
        Ok(())
    };
    for a in augs {
        match a {
            Augmentation::UpscaleCrop(u) => {
                unit(u.probability, "upscale-crop")?;
                if !(u.min_scale >= 1.0 && u.max_scale >= u.min_scale && u.max_scale <= 4.0) {
                    bail!(
                        "upscale-crop: scales [{}, {}] must satisfy 1 <= min <= max <= 4",
                        u.min_scale,
                        u.max_scale
                    );
                }
            }
            Augmentation::GaussianBlur(b) => {
                unit(b.probability, "gaussian-blur")?;
                if !(b.sigma_min > 0.0 && b.sigma_max >= b.sigma_min && b.sigma_max <= 64.0) {
                    bail!(
                        "gaussian-blur: sigmas [{}, {}] must satisfy 0 < min <= max <= 64",
                        b.sigma_min,
                        b.sigma_max
                    );
                }
                if b.kernel_size == 0 || b.kernel_size > 255 {
                    bail!("gaussian-blur: kernel size {} (1 to 255)", b.kernel_size);
                }
            }
            Augmentation::FlipLeftRight(p) => unit(*p, "flip-left-right")?,
        }
    }
    Ok(())
}

/// Draw each augmentation's parameters for one clip of `dims` (those
/// that lose their coin toss are left out).
pub fn draw(augs: &[Augmentation], dims: Dims, rng: &mut impl RngExt) -> Vec<Drawn> {
    let mut out = vec![];
    for a in augs {
        match a {
            Augmentation::UpscaleCrop(u) => {
                let scale = if u.max_scale > u.min_scale {
                    rng.random_range(u.min_scale..u.max_scale)
                } else {
                    u.min_scale
                };
                let applied = rng.random::<f32>() < u.probability;
                let (sh, sw) = if applied {
                    scaled(dims, scale)
                } else {
                    (dims.h, dims.w)
                };
                // As RandomCrop: an offset below the slack (never the slack
                // itself), 0 where there is none.
                let mut offset = |slack: usize| {
                    if slack > 0 {
                        rng.random_range(0..slack)
                    } else {
                        0
                    }
                };
                let (top, left) = (offset(sh - dims.h), offset(sw - dims.w));
                if applied {
                    out.push(Drawn::UpscaleCrop { scale, top, left });
                }
            }
            Augmentation::GaussianBlur(b) => {
                let sigma = if b.sigma_max > b.sigma_min {
                    rng.random_range(b.sigma_min..b.sigma_max)
                } else {
                    b.sigma_min
                };
                if rng.random::<f32>() < b.probability {
                    // Made odd, as SciVid does: 36 becomes 37.
                    let size = 2 * (b.kernel_size as usize / 2) + 1;
                    out.push(Drawn::Blur { sigma, size });
                }
            }
            Augmentation::FlipLeftRight(p) => {
                if rng.random::<f32>() < *p {
                    out.push(Drawn::Flip);
                }
            }
        }
    }
    out
}

/// The size an upscale by `scale` resizes to (truncated, as tf.cast does).
fn scaled(dims: Dims, scale: f32) -> (usize, usize) {
    let up = |n: usize| ((scale * n as f32) as usize).max(n);
    (up(dims.h), up(dims.w))
}

/// Apply drawn augmentations in order.
pub fn apply(frames: &mut Vec<f32>, dims: Dims, drawn: &[Drawn]) {
    for d in drawn {
        *frames = match *d {
            Drawn::UpscaleCrop { scale, top, left } => upscale_crop(frames, dims, scale, top, left),
            Drawn::Blur { sigma, size } => blur(frames, dims, sigma, size),
            Drawn::Flip => flip(frames, dims),
        };
    }
}

/// Bilinear resize (half-pixel centres, no antialiasing: tf.image.resize)
/// of each frame to `scale` times its size, cropped back to `dims` at
/// (`top`, `left`).
pub fn upscale_crop(frames: &[f32], dims: Dims, scale: f32, top: usize, left: usize) -> Vec<f32> {
    let Dims { t, h, w } = dims;
    let (sh, sw) = scaled(dims, scale);
    let (top, left) = (top.min(sh - h), left.min(sw - w));
    let (ry, rx) = (h as f32 / sh as f32, w as f32 / sw as f32);
    // Source row (col) pairs and weights of each output row (col).
    let taps = |out: usize, ratio: f32, size: usize| {
        let f = ((out as f32 + 0.5) * ratio - 0.5).clamp(0.0, (size - 1) as f32);
        let lo = f.floor() as usize;
        (lo, (lo + 1).min(size - 1), f - lo as f32)
    };
    let rows: Vec<_> = (top..top + h).map(|y| taps(y, ry, h)).collect();
    let cols: Vec<_> = (left..left + w).map(|x| taps(x, rx, w)).collect();
    let mut out = Vec::with_capacity(frames.len());
    for f in 0..t {
        let frame = &frames[f * h * w * 3..(f + 1) * h * w * 3];
        for &(y0, y1, wy) in &rows {
            let (r0, r1) = (&frame[y0 * w * 3..], &frame[y1 * w * 3..]);
            for &(x0, x1, wx) in &cols {
                for c in 0..3 {
                    let (a, b) = (r0[x0 * 3 + c], r0[x1 * 3 + c]);
                    let (d, e) = (r1[x0 * 3 + c], r1[x1 * 3 + c]);
                    let top_row = a + (b - a) * wx;
                    let bottom = d + (e - d) * wx;
                    out.push(top_row + (bottom - top_row) * wy);
                }
            }
        }
    }
    out
}

/// Separable Gaussian blur with a `size`-tap kernel of `sigma`, zero
/// padding ("SAME"), horizontal then vertical, as SciVid's depthwise
/// convolutions. Taps whose weight is below 1e-9 are skipped: what they
/// would add is below f32's resolution of [0, 1] values (a sigma of 0.1
/// keeps 1 tap of 37, a sigma of 2 keeps 25).
pub fn blur(frames: &[f32], dims: Dims, sigma: f32, size: usize) -> Vec<f32> {
    let Dims { t, h, w } = dims;
    let half = (size / 2) as isize;
    let weights: Vec<f32> = (-half..=half)
        .map(|x| (-((x * x) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = weights.iter().sum();
    let taps: Vec<(isize, f32)> = (-half..=half)
        .zip(weights.iter().map(|k| k / sum))
        .filter(|&(_, k)| k > 1e-9)
        .collect();
    // out[i] += k * src[i + d] over the i whose source lies in 0..n (in
    // units of `step` values), tap by tap: contiguous, vectorisable.
    let pass = |src: &[f32], dst: &mut [f32], n: usize, step: usize| {
        for &(d, k) in &taps {
            let lo = (-d).max(0) as usize;
            let hi = (n as isize - d).clamp(0, n as isize) as usize;
            if lo >= hi {
                continue;
            }
            let off = d * step as isize;
            let (from, to) = (lo * step, hi * step);
            let shifted = &src[(from as isize + off) as usize..(to as isize + off) as usize];
            for (o, s) in dst[from..to].iter_mut().zip(shifted) {
                *o += k * s;
            }
        }
    };
    let row = w * 3;
    let mut across = vec![0.0f32; frames.len()];
    for (src, dst) in frames.chunks_exact(row).zip(across.chunks_exact_mut(row)) {
        pass(src, dst, w, 3);
    }
    let plane = h * row;
    let mut out = vec![0.0f32; frames.len()];
    for f in 0..t {
        pass(
            &across[f * plane..(f + 1) * plane],
            &mut out[f * plane..(f + 1) * plane],
            h,
            row,
        );
    }
    out
}

/// Every frame mirrored left to right.
pub fn flip(frames: &[f32], dims: Dims) -> Vec<f32> {
    let Dims { t, h, w } = dims;
    let mut out = Vec::with_capacity(frames.len());
    for row in 0..t * h {
        for x in (0..w).rev() {
            out.extend_from_slice(&frames[(row * w + x) * 3..(row * w + x) * 3 + 3]);
        }
    }
    out
}
