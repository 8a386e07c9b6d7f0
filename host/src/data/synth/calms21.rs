//! CalMS21 stand-in: a dark resident mouse and a white intruder in a cage,
//! top view, grayscale. The resident's behaviour in each 16-frame clip is
//! one of attack (fast, jittery contact), investigation (slow, nose close to
//! the intruder), mount (on top of the intruder, rhythmic) or other (apart).
//! Layout: `<split>/clips.csv` (`id,video,start,label`), grayscale frames
//! `<split>/<video>/NNNNN.png` (96x54, the stored 512x285 aspect).

use super::SynthSpec;
use super::raster::{Canvas, create_dir};
use anyhow::Result;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::f32::consts::PI;
use std::path::Path;

const W: usize = 96;
const H: usize = 54;
const CLIP: usize = 16;
const CLASSES: [&str; 4] = ["attack", "investigation", "mount", "other"];
const WEIGHTS: [f32; 4] = [0.15, 0.3, 0.15, 0.4];

fn mouse(c: &mut Canvas, x: f32, y: f32, heading: f32, shade: f32) {
    c.ellipse(x, y, 6.5, 3.5, heading, &[shade]);
    let (hx, hy) = (x + heading.cos() * 6.5, y + heading.sin() * 6.5);
    c.ellipse(hx, hy, 2.8, 2.0, heading, &[shade]);
    // Tail.
    let (tx, ty) = (x - heading.cos() * 9.0, y - heading.sin() * 9.0);
    c.ellipse(tx, ty, 3.5, 0.6, heading, &[shade * 0.8 + 0.1]);
}

pub fn write(out: &Path, spec: &SynthSpec) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0xca15);
    for (split, count) in spec.splits() {
        let dir = out.join(split);
        create_dir(&dir)?;
        let mut csv = String::from("id,video,start,label\n");
        for i in 0..count {
            let video = format!("{split}-v{i:04}");
            create_dir(&dir.join(&video))?;
            let total: f32 = WEIGHTS.iter().sum();
            let mut r = rng.random_range(0.0..total);
            let mut class = CLASSES.len() - 1;
            for (k, w) in WEIGHTS.iter().enumerate() {
                if r < *w {
                    class = k;
                    break;
                }
                r -= w;
            }
            let floor = rng.random_range(0.45..0.6);
            let (ix, iy) = (
                rng.random_range(30.0..66.0f32),
                rng.random_range(18.0..36.0f32),
            );
            let i_heading = rng.random_range(0.0..2.0 * PI);
            let side = rng.random_range(0.0..2.0 * PI);
            for t in 0..CLIP {
                let tf = t as f32;
                let mut c = Canvas::new(W, H, 1, &[floor]);
                let j = |rng: &mut StdRng, a: f32| rng.random_range(-a..a);
                let (mut ix_t, mut iy_t) = (ix, iy);
                let (rx, ry, rh) = match CLASSES[class] {
                    "attack" => {
                        ix_t += j(&mut rng, 1.5);
                        iy_t += j(&mut rng, 1.5);
                        let a = side + tf * 0.9 + j(&mut rng, 0.6);
                        let (x, y) = (ix_t + 7.0 * a.cos(), iy_t + 7.0 * a.sin());
                        (x, y, rng.random_range(0.0..2.0 * PI))
                    }
                    "investigation" => {
                        let a = side + tf * 0.05;
                        let (x, y) = (ix + 11.0 * a.cos(), iy + 11.0 * a.sin());
                        (x, y, (iy - y).atan2(ix - x) + 0.2 * (tf * 0.7).sin())
                    }
                    "mount" => {
                        let back = i_heading + PI;
                        let push = 1.2 * (tf * 1.6).sin();
                        (
                            ix + back.cos() * (3.0 + push),
                            iy + back.sin() * (3.0 + push),
                            i_heading,
                        )
                    }
                    _ => {
                        let far = side + PI;
                        let x = (ix + 30.0 * far.cos() + tf * 0.3).clamp(8.0, W as f32 - 8.0);
                        let y = (iy + 20.0 * far.sin()).clamp(8.0, H as f32 - 8.0);
                        (x, y, side + tf * 0.05)
                    }
                };
                mouse(&mut c, ix_t, iy_t, i_heading, 0.95);
                mouse(&mut c, rx, ry, rh, 0.08);
                c.noise(&mut rng, 0.03);
                c.write_png(&dir.join(&video).join(format!("{t:05}.png")))?;
            }
            csv.push_str(&format!("{video}-c0,{video},0,{}\n", CLASSES[class]));
        }
        crate::files::write_atomic(&dir.join("clips.csv"), csv.as_bytes())?;
    }
    Ok(())
}
