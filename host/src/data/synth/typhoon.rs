//! Digital Typhoon stand-in: infrared images (brightness temperature in K)
//! of a rotating vortex over a warm sea. The central pressure follows a
//! smooth deepen-then-fill path; the images show it: a deeper storm has a
//! larger, colder cloud shield, tighter spiral bands and, below 970 hPa, a
//! warm eye. How fast the structure changes tells where the pressure goes,
//! which persistence cannot know.
//! Layout: `<split>/sequences.csv` (`id,file,pressures`) and float32
//! `<split>/<id>.npy` [32, 48, 48, 1].

use super::SynthSpec;
use super::raster::create_dir;
use crate::data::npy;
use anyhow::Result;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::path::Path;

const SIZE: usize = 48;
const STEPS: usize = 32;

/// Brightness temperature (K) of a storm of `pressure` hPa at (x, y).
fn scene(pressure: f32, spin: f32, cx: f32, cy: f32, x: f32, y: f32) -> f32 {
    let depth = (1012.0 - pressure).clamp(0.0, 90.0);
    let (dx, dy) = (x - cx, y - cy);
    let r = (dx * dx + dy * dy).sqrt();
    let theta = dy.atan2(dx);
    let shield = 5.0 + depth * 0.18;
    // Two spiral bands, wound tighter as the storm deepens.
    let wind = 0.12 + depth * 0.004;
    let band = (2.0 * theta + r * wind * 3.0 - spin).cos() * 0.5 + 0.5;
    let cloud =
        (-(r / shield).powi(2)).exp() * 0.75 + band * (-(r / (shield * 1.8)).powi(2)).exp() * 0.35;
    let coldest = 295.0 - depth * 1.2;
    let mut t = 295.0 - (295.0 - coldest) * cloud.min(1.0);
    if pressure < 970.0 {
        let eye = (-(r / 1.6).powi(2)).exp() * (970.0 - pressure) * 1.5;
        t += eye;
    }
    t
}

pub fn write(out: &Path, spec: &SynthSpec) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x7f00);
    for (split, count) in spec.splits() {
        let dir = out.join(split);
        create_dir(&dir)?;
        let mut csv = String::from("id,file,pressures\n");
        for i in 0..count {
            let id = format!("{split}-{i:04}");
            let centre: f32 = rng.random_range(975.0..1000.0);
            let amp: f32 = rng.random_range(12.0..32.0);
            let omega: f32 = rng.random_range(0.06..0.16);
            let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
            let (mut cx, mut cy) = (
                rng.random_range(18.0..30.0f32),
                rng.random_range(18.0..30.0f32),
            );
            let (vx, vy) = (
                rng.random_range(-0.3..0.3f32),
                rng.random_range(-0.3..0.3f32),
            );
            let mut pressures = vec![];
            let mut frames = Vec::with_capacity(STEPS * SIZE * SIZE);
            for t in 0..STEPS {
                let p = centre - amp * (omega * t as f32 + phase).sin();
                pressures.push(format!("{p:.2}"));
                for y in 0..SIZE {
                    for x in 0..SIZE {
                        let v = scene(p, t as f32 * 0.5, cx, cy, x as f32, y as f32);
                        frames.push(v + rng.random_range(-1.5..1.5));
                    }
                }
                cx += vx;
                cy += vy;
            }
            let file = format!("{id}.npy");
            npy::write_f32(&dir.join(&file), &[STEPS, SIZE, SIZE, 1], &frames)?;
            csv.push_str(&format!("{id},{file},{}\n", pressures.join(";")));
        }
        crate::files::write_atomic(&dir.join("sequences.csv"), csv.as_bytes())?;
    }
    Ok(())
}
