//! STIR stand-in (and its MOVi-style training data): a textured tissue-like
//! surface under a smooth warp (drift, zoom and a breathing deformation),
//! partly hidden by a moving instrument. Points are tracked exactly through
//! the warp through every frame. `train` plays SciVid's synthetic MOVi
//! training tracks (full tracks with visibility), `test` the STIR evaluation
//! videos (first and last positions only; no `val`, as upstream).
//! Layout: `<split>/videos.csv` (`video,frames,width,height`), frames
//! `<split>/<video>/NNNNN.png`, `<split>/<video>/points.csv` (`x0,y0,x1,y1`),
//! and for `train` `<split>/<video>/tracks.csv` (`point,frame,x,y,visible`:
//! visible is 0 where the instrument hides the point or it left the frame).

use super::SynthSpec;
use super::raster::{Canvas, ValueNoise, create_dir};
use anyhow::Result;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::path::Path;

const SIZE: usize = 64;
const MAX_POINTS: usize = 34;

/// A smooth warp: texture coordinates u -> image position at frame t.
struct Warp {
    drift: (f32, f32),
    zoom: f32,
    breath: f32,
    freq: f32,
}

impl Warp {
    fn forward(&self, u: (f32, f32), t: f32) -> (f32, f32) {
        let c = SIZE as f32 / 2.0;
        let z = 1.0 + self.zoom * t;
        let b = self.breath * (self.freq * t).sin();
        (
            c + (u.0 - c) * z + self.drift.0 * t + b * (u.1 / 9.0).sin(),
            c + (u.1 - c) * z + self.drift.1 * t + b * (u.0 / 11.0).cos(),
        )
    }

    /// Texture coordinates shown at image position `x` at frame t
    /// (fixed-point inversion; the warp is a small perturbation).
    fn inverse(&self, x: (f32, f32), t: f32) -> (f32, f32) {
        let mut u = x;
        for _ in 0..6 {
            let f = self.forward(u, t);
            u = (u.0 + (x.0 - f.0), u.1 + (x.1 - f.1));
        }
        u
    }
}

const TOOL_AXES: (f32, f32) = (18.0, 3.0);
const TOOL_ANGLE: f32 = 0.15;

/// The instrument: a thin ellipse sweeping in from the left at height `y`.
struct Tool {
    y: f32,
    speed: f32,
}

impl Tool {
    fn centre(&self, t: f32) -> (f32, f32) {
        let tip = -20.0 + self.speed * t * 2.0;
        (tip - 16.0, self.y)
    }

    /// Whether the instrument covers image position `p` at frame t.
    fn hides(&self, p: (f32, f32), t: f32) -> bool {
        let (cx, cy) = self.centre(t);
        let (s, c) = TOOL_ANGLE.sin_cos();
        let (dx, dy) = (p.0 - cx, p.1 - cy);
        let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
        (u / TOOL_AXES.0).powi(2) + (v / TOOL_AXES.1).powi(2) <= 1.0
    }
}

pub fn write(out: &Path, spec: &SynthSpec) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x5717);
    for (split, count) in spec.splits().filter(|(s, _)| *s != "val") {
        let dir = out.join(split);
        create_dir(&dir)?;
        let mut csv = String::from("video,frames,width,height\n");
        for i in 0..count {
            let video = format!("{split}-v{i:04}");
            let vdir = dir.join(&video);
            create_dir(&vdir)?;
            let frames = rng.random_range(24..41usize);
            let warp = Warp {
                drift: (rng.random_range(-0.35..0.35), rng.random_range(-0.35..0.35)),
                zoom: rng.random_range(-0.004..0.004),
                breath: rng.random_range(0.5..2.5),
                freq: rng.random_range(0.1..0.4),
            };
            let texture = [ValueNoise::new(&mut rng, 8), ValueNoise::new(&mut rng, 3)];
            let tint = [
                rng.random_range(0.7..0.95),
                rng.random_range(0.35..0.55),
                rng.random_range(0.35..0.55),
            ];
            let tool = Tool {
                y: rng.random_range(8.0..56.0f32),
                speed: rng.random_range(0.5..1.5f32),
            };
            let last = (frames - 1) as f32;
            for t in 0..frames {
                let tf = t as f32;
                let mut c = Canvas::new(SIZE, SIZE, 3, &[0.0, 0.0, 0.0]);
                for y in 0..SIZE {
                    for x in 0..SIZE {
                        let u = warp.inverse((x as f32 + 0.5, y as f32 + 0.5), tf);
                        let s = 0.65 * texture[0].sample(u.0 / 64.0, u.1 / 64.0)
                            + 0.35 * texture[1].sample(u.0 / 64.0, u.1 / 64.0);
                        let i = (y * SIZE + x) * 3;
                        for (p, t) in c.px[i..i + 3].iter_mut().zip(tint) {
                            *p = t * (0.35 + 0.65 * s);
                        }
                    }
                }
                let (cx, cy) = tool.centre(tf);
                c.ellipse(
                    cx,
                    cy,
                    TOOL_AXES.0,
                    TOOL_AXES.1,
                    TOOL_ANGLE,
                    &[0.55, 0.57, 0.6],
                );
                c.noise(&mut rng, 0.02);
                c.write_png(&vdir.join(format!("{t:05}.png")))?;
            }
            let mut points = String::from("x0,y0,x1,y1\n");
            let mut tracks = String::from("point,frame,x,y,visible\n");
            let mut n = 0;
            let want = rng.random_range(8..=MAX_POINTS);
            let inside = |p: (f32, f32)| {
                (2.0..SIZE as f32 - 2.0).contains(&p.0) && (2.0..SIZE as f32 - 2.0).contains(&p.1)
            };
            for _ in 0..want * 20 {
                if n == want {
                    break;
                }
                let u = (
                    rng.random_range(4.0..60.0f32),
                    rng.random_range(4.0..60.0f32),
                );
                let (a, b) = (warp.forward(u, 0.0), warp.forward(u, last));
                if inside(a) && inside(b) {
                    points.push_str(&format!("{:.3},{:.3},{:.3},{:.3}\n", a.0, a.1, b.0, b.1));
                    for t in 0..frames {
                        let p = warp.forward(u, t as f32);
                        let seen = inside(p) && !tool.hides(p, t as f32);
                        tracks.push_str(&format!("{n},{t},{:.3},{:.3},{}\n", p.0, p.1, seen as u8));
                    }
                    n += 1;
                }
            }
            crate::files::write_atomic(&vdir.join("points.csv"), points.as_bytes())?;
            if split == "train" {
                crate::files::write_atomic(&vdir.join("tracks.csv"), tracks.as_bytes())?;
            }
            csv.push_str(&format!("{video},{frames},{SIZE},{SIZE}\n"));
        }
        crate::files::write_atomic(&dir.join("videos.csv"), csv.as_bytes())?;
    }
    Ok(())
}
