//! The built-in synthetic dataset `motion`: clips of one shape moving in one
//! of four directions over per-frame noise. Shape, size, colour, speed and
//! start are random and independent of the class, so the label is carried by
//! motion alone. Written as `.npy` clips plus `labels.csv` per split, the
//! layout the `motion` task plugin reads.

use super::SynthSpec;
use crate::data::npy;
use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::path::Path;

pub const FRAMES: usize = 16;
pub const SIZE: usize = 32;
pub const CLASSES: [&str; 4] = ["right", "left", "down", "up"];

/// Render one clip as uint8 [T, H, W, 3].
pub fn render_clip(rng: &mut StdRng, class: usize) -> Vec<u8> {
    let radius: f32 = rng.random_range(2.5..4.5);
    let kind = rng.random_range(0..3u8);
    let color: [f32; 3] = [
        rng.random_range(90.0..255.0),
        rng.random_range(90.0..255.0),
        rng.random_range(90.0..255.0),
    ];
    let speed: f32 = rng.random_range(0.8..1.2);
    let travel = speed * (FRAMES - 1) as f32;
    let lo = radius + 0.5;
    let hi = SIZE as f32 - 1.5 - radius;
    let (dx, dy) = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)][class];
    // Start so the whole path stays inside the frame.
    let start = |d: f32, rng: &mut StdRng| -> f32 {
        match d {
            d if d > 0.0 => rng.random_range(lo..hi - travel),
            d if d < 0.0 => rng.random_range(lo + travel..hi),
            _ => rng.random_range(lo..hi),
        }
    };
    let (x0, y0) = (start(dx, rng), start(dy, rng));
    let mut out = vec![0u8; FRAMES * SIZE * SIZE * 3];
    for t in 0..FRAMES {
        let (cx, cy) = (x0 + dx * speed * t as f32, y0 + dy * speed * t as f32);
        for y in 0..SIZE {
            for x in 0..SIZE {
                let (ux, uy) = (x as f32 - cx, y as f32 - cy);
                let inside = match kind {
                    0 => ux.abs().max(uy.abs()) <= radius * 0.85,
                    1 => (ux * ux + uy * uy).sqrt() <= radius,
                    _ => ux.abs() + uy.abs() <= radius * 1.2,
                };
                let i = ((t * SIZE + y) * SIZE + x) * 3;
                for c in 0..3 {
                    let noise: f32 = rng.random_range(0.0..40.0);
                    let v = if inside { color[c] } else { noise };
                    out[i + c] = v.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    out
}

/// Write the dataset under `out` (splits `train`, `val`, `test`).
pub fn write(out: &Path, spec: &SynthSpec) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    for (split, count) in spec.splits() {
        let dir = out.join(split);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut csv = String::from("id,file,label,video\n");
        for i in 0..count {
            // Balanced classes in a shuffled order.
            let class = (i + rng.random_range(0..4)) % 4;
            let clip = render_clip(&mut rng, class);
            let file = format!("clip_{i:05}.npy");
            npy::write_u8(&dir.join(&file), &[FRAMES, SIZE, SIZE, 3], &clip)?;
            csv.push_str(&format!(
                "{split}-{i:05},{file},{},{split}-{i:05}\n",
                CLASSES[class]
            ));
        }
        crate::files::write_atomic(&dir.join("labels.csv"), csv.as_bytes())?;
    }
    Ok(())
}
