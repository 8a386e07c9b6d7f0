//! FlyVsFly stand-in: two flies in an arena, seen from above. Each 16-frame
//! clip shows one behaviour through motion and wing posture (circling
//! sometimes with wing extension, as in courtship); appearance (size,
//! colour, position, heading) is random and independent of the label.
//! Layout: `<split>/clips.csv` (`id,video,start,labels`), frames
//! `<split>/<video>/NNNNN.png`; each video holds two clips of 16 frames.

use super::SynthSpec;
use super::raster::{Canvas, create_dir};
use anyhow::Result;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::f32::consts::PI;
use std::path::Path;

const SIZE: usize = 64;
const CLIP: usize = 16;
const CLIPS_PER_VIDEO: usize = 2;
const BEHAVIOURS: [&str; 7] = [
    "lunging",
    "wing_threat",
    "tussling",
    "wing_extension",
    "circling",
    "copulation",
    "not_interacting",
];
/// Relative frequencies: background most common, threat and tussling rare.
const WEIGHTS: [f32; 7] = [1.0, 0.6, 0.6, 1.0, 1.0, 1.0, 2.0];

/// One fly's pose in one frame.
#[derive(Clone, Copy)]
struct Fly {
    x: f32,
    y: f32,
    heading: f32,
    /// Wing angles from the body axis (left, right), radians.
    wings: (f32, f32),
}

struct Look {
    scale: f32,
    body: [f32; 3],
}

fn draw(c: &mut Canvas, f: &Fly, look: &Look) {
    let s = look.scale;
    let wing = [0.5, 0.55, 0.68];
    for (side, angle) in [(-1.0, f.wings.0), (1.0, f.wings.1)] {
        let a = f.heading + PI + side * angle;
        let (wx, wy) = (f.x + a.cos() * 3.0 * s, f.y + a.sin() * 3.0 * s);
        c.ellipse(wx, wy, 3.2 * s, 1.3 * s, a, &wing);
    }
    c.ellipse(f.x, f.y, 4.0 * s, 2.0 * s, f.heading, &look.body);
    let (hx, hy) = (
        f.x + f.heading.cos() * 4.2 * s,
        f.y + f.heading.sin() * 4.2 * s,
    );
    c.ellipse(hx, hy, 1.6 * s, 1.6 * s, 0.0, &[0.5, 0.15, 0.1]);
}

fn facing(from: (f32, f32), to: (f32, f32)) -> f32 {
    (to.1 - from.1).atan2(to.0 - from.0)
}

/// Poses of both flies over one clip showing `behaviour`.
fn clip_poses(rng: &mut StdRng, behaviour: usize, ext: bool) -> Vec<(Fly, Fly)> {
    let folded = (0.25, 0.25);
    let c = (SIZE as f32 / 2.0, SIZE as f32 / 2.0);
    let (bx, by) = (
        c.0 + rng.random_range(-8.0..8.0),
        c.1 + rng.random_range(-8.0..8.0),
    );
    let b_heading = rng.random_range(0.0..2.0 * PI);
    let start_angle = rng.random_range(0.0..2.0 * PI);
    let mut out = vec![];
    for t in 0..CLIP {
        let tf = t as f32;
        let jitter = |rng: &mut StdRng, a: f32| rng.random_range(-a..a);
        let b = Fly {
            x: bx + jitter(rng, 0.3),
            y: by + jitter(rng, 0.3),
            heading: b_heading,
            wings: folded,
        };
        let around = |r: f32, ang: f32| (bx + r * ang.cos(), by + r * ang.sin());
        let (a, b) = match BEHAVIOURS[behaviour] {
            "lunging" => {
                // Hold at a distance, dart in over a few frames, pull back.
                let r = if (5..10).contains(&t) {
                    13.0 - (1.0 - ((tf - 7.0) / 2.5).abs()) * 9.0
                } else {
                    13.0
                };
                let p = around(r, start_angle);
                let a = Fly {
                    x: p.0,
                    y: p.1,
                    heading: facing(p, (bx, by)),
                    wings: folded,
                };
                (a, b)
            }
            "wing_threat" => {
                let p = around(12.0, start_angle);
                let lift = 1.1 + 0.3 * (tf * 1.7).sin();
                let a = Fly {
                    x: p.0,
                    y: p.1,
                    heading: facing(p, (bx, by)),
                    wings: (lift, lift),
                };
                (a, b)
            }
            "tussling" => {
                let p = around(7.0 + jitter(rng, 2.0), start_angle + jitter(rng, 0.8));
                let a = Fly {
                    x: p.0,
                    y: p.1,
                    heading: rng.random_range(0.0..2.0 * PI),
                    wings: folded,
                };
                let b = Fly {
                    x: bx + jitter(rng, 2.5),
                    y: by + jitter(rng, 2.5),
                    heading: b_heading + jitter(rng, 1.0),
                    wings: folded,
                };
                (a, b)
            }
            "circling" => {
                let ang = start_angle + tf * 0.35;
                let p = around(12.0, ang);
                let wings = if ext {
                    (0.25, 1.45 + 0.1 * (tf * 3.0).sin())
                } else {
                    folded
                };
                let a = Fly {
                    x: p.0,
                    y: p.1,
                    heading: facing(p, (bx, by)),
                    wings,
                };
                (a, b)
            }
            "wing_extension" => {
                let p = around(10.0, start_angle);
                let a = Fly {
                    x: p.0 + jitter(rng, 0.3),
                    y: p.1 + jitter(rng, 0.3),
                    heading: facing(p, (bx, by)),
                    wings: (0.25, 1.45 + 0.1 * (tf * 3.0).sin()),
                };
                (a, b)
            }
            "copulation" => {
                let back = b_heading + PI;
                let a = Fly {
                    x: bx + back.cos() * 2.5,
                    y: by + back.sin() * 2.5,
                    heading: b_heading,
                    wings: (0.5, 0.5),
                };
                (a, b)
            }
            _ => {
                // Apart, each wandering slowly.
                let p = (
                    c.0 + 22.0 * start_angle.cos() + tf * 0.4 * b_heading.cos(),
                    c.1 + 22.0 * start_angle.sin() + tf * 0.4 * b_heading.sin(),
                );
                let far = (2.0 * c.0 - p.0, 2.0 * c.1 - p.1);
                let a = Fly {
                    x: p.0,
                    y: p.1,
                    heading: b_heading,
                    wings: folded,
                };
                let b = Fly {
                    x: far.0,
                    y: far.1,
                    heading: start_angle,
                    wings: folded,
                };
                (a, b)
            }
        };
        out.push((a, b));
    }
    out
}

fn pick(rng: &mut StdRng) -> usize {
    let total: f32 = WEIGHTS.iter().sum();
    let mut r = rng.random_range(0.0..total);
    for (i, w) in WEIGHTS.iter().enumerate() {
        if r < *w {
            return i;
        }
        r -= w;
    }
    WEIGHTS.len() - 1
}

pub fn write(out: &Path, spec: &SynthSpec) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0xf1f1);
    for (split, count) in spec.splits() {
        let dir = out.join(split);
        create_dir(&dir)?;
        let mut csv = String::from("id,video,start,labels\n");
        for v in 0..count.div_ceil(CLIPS_PER_VIDEO) {
            let video = format!("{split}-v{v:04}");
            create_dir(&dir.join(&video))?;
            let looks = [0, 1].map(|_| Look {
                scale: rng.random_range(0.85..1.15),
                body: [
                    rng.random_range(0.1..0.3),
                    rng.random_range(0.08..0.2),
                    rng.random_range(0.05..0.15),
                ],
            });
            let floor = rng.random_range(0.8..0.92);
            for k in 0..CLIPS_PER_VIDEO {
                if v * CLIPS_PER_VIDEO + k >= count {
                    break;
                }
                let behaviour = pick(&mut rng);
                let ext = BEHAVIOURS[behaviour] == "circling" && rng.random_range(0.0..1.0) < 0.4;
                let poses = clip_poses(&mut rng, behaviour, ext);
                for (t, (a, b)) in poses.iter().enumerate() {
                    let mut c = Canvas::new(SIZE, SIZE, 3, &[floor, floor, floor * 0.97]);
                    draw(&mut c, b, &looks[1]);
                    draw(&mut c, a, &looks[0]);
                    c.noise(&mut rng, 0.03);
                    c.write_png(&dir.join(&video).join(format!("{:05}.png", k * CLIP + t)))?;
                }
                let mut labels = vec![BEHAVIOURS[behaviour]];
                if ext {
                    labels.push("wing_extension");
                }
                csv.push_str(&format!(
                    "{video}-c{k},{video},{},{}\n",
                    k * CLIP,
                    labels.join(";")
                ));
            }
        }
        crate::files::write_atomic(&dir.join("clips.csv"), csv.as_bytes())?;
    }
    Ok(())
}
