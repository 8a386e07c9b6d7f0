//! Small raster helpers for the synthetic stand-ins: a float canvas, soft
//! rotated ellipses, smooth value noise, and PNG output.

use anyhow::{Context, Result};
use rand::{RngExt, rngs::StdRng};
use std::path::Path;

/// A canvas of `c` channels (1 or 3), values in [0, 1], row-major [h, w, c].
#[derive(Clone)]
pub struct Canvas {
    pub w: usize,
    pub h: usize,
    pub c: usize,
    pub px: Vec<f32>,
}

impl Canvas {
    pub fn new(w: usize, h: usize, c: usize, fill: &[f32]) -> Self {
        let mut px = Vec::with_capacity(w * h * c);
        for _ in 0..w * h {
            px.extend_from_slice(&fill[..c]);
        }
        Canvas { w, h, c, px }
    }

    /// Paint an ellipse centred at (cx, cy) with semi-axes (a, b), rotated by
    /// `angle` radians, blending `color` with a one-pixel soft edge.
    #[allow(clippy::too_many_arguments)]
    pub fn ellipse(&mut self, cx: f32, cy: f32, a: f32, b: f32, angle: f32, color: &[f32]) {
        let (s, co) = angle.sin_cos();
        let r = a.max(b) + 1.0;
        let (x0, x1) = ((cx - r).floor().max(0.0) as usize, (cx + r).ceil() as usize);
        let (y0, y1) = ((cy - r).floor().max(0.0) as usize, (cy + r).ceil() as usize);
        for y in y0..y1.min(self.h) {
            for x in x0..x1.min(self.w) {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let (u, v) = (dx * co + dy * s, -dx * s + dy * co);
                let d = ((u / a).powi(2) + (v / b).powi(2)).sqrt();
                // Distance to the edge, roughly in pixels.
                let alpha = ((1.0 - d) * a.min(b) + 0.5).clamp(0.0, 1.0);
                if alpha > 0.0 {
                    let i = (y * self.w + x) * self.c;
                    for (p, c) in self.px[i..i + self.c].iter_mut().zip(color) {
                        *p = *p * (1.0 - alpha) + c * alpha;
                    }
                }
            }
        }
    }

    /// Add uniform noise in [-amp, amp] to every value.
    pub fn noise(&mut self, rng: &mut StdRng, amp: f32) {
        for p in &mut self.px {
            *p += rng.random_range(-amp..amp);
        }
    }

    /// Write as an 8-bit PNG (gray or RGB), values clamped to [0, 1].
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let bytes: Vec<u8> = self
            .px
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        let color = if self.c == 1 {
            image::ExtendedColorType::L8
        } else {
            image::ExtendedColorType::Rgb8
        };
        image::save_buffer_with_format(
            path,
            &bytes,
            self.w as u32,
            self.h as u32,
            color,
            image::ImageFormat::Png,
        )
        .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Smooth 2D value noise in [0, 1] on a `cells` x `cells` lattice, tileable
/// as a texture: `sample(x, y)` for x, y in [0, 1].
pub struct ValueNoise {
    cells: usize,
    lattice: Vec<f32>,
}

impl ValueNoise {
    pub fn new(rng: &mut StdRng, cells: usize) -> Self {
        let lattice = (0..(cells + 1) * (cells + 1))
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        ValueNoise { cells, lattice }
    }

    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let n = self.cells;
        let fx = (x.rem_euclid(1.0)) * n as f32;
        let fy = (y.rem_euclid(1.0)) * n as f32;
        let (ix, iy) = ((fx as usize).min(n - 1), (fy as usize).min(n - 1));
        let (tx, ty) = (smooth(fx - ix as f32), smooth(fy - iy as f32));
        let at = |i: usize, j: usize| self.lattice[j * (n + 1) + i];
        let top = at(ix, iy) * (1.0 - tx) + at(ix + 1, iy) * tx;
        let bot = at(ix, iy + 1) * (1.0 - tx) + at(ix + 1, iy + 1) * tx;
        top * (1.0 - ty) + bot * ty
    }
}

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Create `dir` (and parents), naming it in the error.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
