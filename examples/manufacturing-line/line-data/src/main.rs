//! `line-data`: the synthetic videos of the manufacturing example, in the
//! layout its task plugins read (`SPLIT/labels.csv` with `id,file,label,group`
//! and one uint8 `.npy` video [16, 48, 48, 3] per clip).
//!
//! - `inspection/`: parts ride a conveyor past a fixed camera. A good part
//!   is a light plate with a red component; defects are a `scratch` (a dark
//!   line across the plate), `misaligned` (turned a quarter and off the belt's
//!   centre line) and `missing` (no component). Lighting, speed, position,
//!   colours and sensor noise vary; clips of one shift share its lighting
//!   (`group`, for clustered confidence intervals).
//! - `operator/`: a workbench seen from above with four stations (pick,
//!   place, fasten, inspect); an operator's hand cycles through them at its
//!   own pace. The label is the station the hand is at, or heading to, at
//!   the clip's middle frame; `group` is the operator.
//!
//! Usage: cargo run --release -p line-data -- --out DIR [--clips N] [--seed S]
//! (N training clips per dataset, default 240; val and test get a quarter each).

use std::io::Write;
use std::path::Path;

const T: usize = 16;
const S: usize = 48;

/// SplitMix64: small, seedable, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One video [T, S, S, 3] as floats in 0..255.
struct Video(Vec<f32>);

impl Video {
    fn new() -> Self {
        Video(vec![0.0; T * S * S * 3])
    }
    fn set(&mut self, t: usize, x: i32, y: i32, rgb: [f32; 3]) {
        if (0..S as i32).contains(&x) && (0..S as i32).contains(&y) {
            let i = ((t * S + y as usize) * S + x as usize) * 3;
            self.0[i..i + 3].copy_from_slice(&rgb);
        }
    }
    fn rect(&mut self, t: usize, x0: f32, y0: f32, w: f32, h: f32, rgb: [f32; 3]) {
        for y in y0.round() as i32..(y0 + h).round() as i32 {
            for x in x0.round() as i32..(x0 + w).round() as i32 {
                self.set(t, x, y, rgb);
            }
        }
    }
    /// Lighting gain and sensor noise, then 8-bit.
    fn finish(self, gain: f32, rng: &mut Rng) -> Vec<u8> {
        self.0
            .iter()
            .map(|v| (v * gain + rng.uniform(-6.0, 6.0)).clamp(0.0, 255.0) as u8)
            .collect()
    }
}

fn write_npy(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({T}, {S}, {S}, 3), }}");
    // Magic, version 1.0, header length; the header is padded to 64 bytes.
    let pad = 64 - (10 + dict.len() + 1) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad % 64));
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    f.write_all(data)?;
    f.flush()
}

const DEFECTS: [&str; 4] = ["ok", "scratch", "misaligned", "missing"];

/// A part on the conveyor; returns the video (before lighting and noise).
fn conveyor_clip(label: usize, rng: &mut Rng) -> Video {
    let mut v = Video::new();
    let speed = rng.uniform(1.6, 2.6);
    let x_start = rng.uniform(-8.0, 6.0);
    let plate = {
        let g = rng.uniform(165.0, 205.0);
        [g, g, g * rng.uniform(0.95, 1.05)]
    };
    let component = [
        rng.uniform(180.0, 230.0),
        rng.uniform(30.0, 60.0),
        rng.uniform(30.0, 60.0),
    ];
    let (w, h, dy) = if label == 2 {
        // Turned a quarter and pushed off the centre line.
        let side = if rng.below(2) == 0 { -1.0 } else { 1.0 };
        (10.0, 14.0, side * rng.uniform(5.0, 7.0))
    } else {
        (14.0, 10.0, rng.uniform(-1.0, 1.0))
    };
    let stripe_phase = rng.uniform(0.0, 8.0);
    for t in 0..T {
        let shift = t as f32 * speed;
        // Floor, then the belt with stripes moving with it.
        v.rect(t, 0.0, 0.0, S as f32, S as f32, [32.0, 32.0, 38.0]);
        for x in 0..S {
            let stripe = ((x as f32 - shift - stripe_phase).rem_euclid(8.0)) < 2.0;
            let g = if stripe { 52.0 } else { 68.0 };
            v.rect(t, x as f32, 12.0, 1.0, 24.0, [g, g, g + 4.0]);
        }
        let (x0, y0) = (x_start + shift, 24.0 - h / 2.0 + dy);
        v.rect(t, x0, y0, w, h, plate);
        if label != 3 {
            let (cx, cy) = (x0 + w / 2.0 - 2.0, y0 + h / 2.0 - 2.0);
            v.rect(t, cx, cy, 4.0, 4.0, component);
        }
        if label == 1 {
            // A dark scratch across the plate, corner to corner.
            for k in 0..14 {
                let f = k as f32 / 13.0;
                let (x, y) = (x0 + f * (w - 1.0), y0 + f * (h - 1.0));
                v.set(t, x.round() as i32, y.round() as i32, [45.0, 45.0, 48.0]);
            }
        }
    }
    v
}

const STEPS: [&str; 4] = ["pick", "place", "fasten", "inspect"];
/// Station centres (pick, place, fasten, inspect) on the workbench.
const STATIONS: [(f32, f32); 4] = [(11.0, 11.0), (37.0, 11.0), (37.0, 37.0), (11.0, 37.0)];
const PADS: [[f32; 3]; 4] = [
    [60.0, 150.0, 70.0],
    [60.0, 90.0, 170.0],
    [190.0, 170.0, 60.0],
    [140.0, 70.0, 150.0],
];

/// An operator's hand cycling through the stations; returns the video and
/// the step at the middle frame.
fn operator_clip(operator: &OperatorStyle, rng: &mut Rng) -> (Video, usize) {
    let mut v = Video::new();
    let (dwell, travel) = (operator.dwell, operator.travel);
    let cycle = 4.0 * (dwell + travel);
    let start = rng.uniform(0.0, cycle);
    // Position and current/next station at time `s` in the cycle.
    let at = |s: f32| -> ((f32, f32), usize) {
        let s = s.rem_euclid(cycle);
        let k = (s / (dwell + travel)) as usize % 4;
        let within = s - k as f32 * (dwell + travel);
        let (a, b) = (STATIONS[k], STATIONS[(k + 1) % 4]);
        if within < dwell {
            (a, k)
        } else {
            let f = (within - dwell) / travel;
            ((a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1)), (k + 1) % 4)
        }
    };
    for t in 0..T {
        v.rect(t, 0.0, 0.0, S as f32, S as f32, [92.0, 72.0, 52.0]);
        for (c, pad) in STATIONS.iter().zip(PADS) {
            v.rect(t, c.0 - 5.0, c.1 - 5.0, 10.0, 10.0, pad);
        }
        let ((x, y), _) = at(start + t as f32);
        let (jx, jy) = (rng.uniform(-0.7, 0.7), rng.uniform(-0.7, 0.7));
        // The arm from the operator's side of the bench, then the hand.
        for k in 0..12 {
            let f = k as f32 / 11.0;
            let (ax, ay) = (24.0 + f * (x - 24.0), 47.0 + f * (y - 47.0));
            v.rect(t, ax - 1.0, ay - 1.0, 2.0, 2.0, operator.sleeve);
        }
        v.rect(t, x + jx - 3.0, y + jy - 3.0, 6.0, 6.0, operator.skin);
    }
    let (_, step) = at(start + (T / 2) as f32);
    (v, step)
}

struct OperatorStyle {
    dwell: f32,
    travel: f32,
    skin: [f32; 3],
    sleeve: [f32; 3],
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut out, mut clips, mut seed) = (None, 240usize, 0u64);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| fail(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--out" => out = Some(std::path::PathBuf::from(value("--out"))),
            "--clips" => {
                clips = value("--clips")
                    .parse()
                    .unwrap_or_else(|_| fail("--clips N"))
            }
            "--seed" => seed = value("--seed").parse().unwrap_or_else(|_| fail("--seed S")),
            other => fail(&format!("unknown argument `{other}`")),
        }
    }
    let out = out.unwrap_or_else(|| fail("--out DIR is required"));
    if let Err(e) = generate(&out, clips, seed) {
        fail(&format!("writing {}: {e}", out.display()));
    }
    println!(
        "wrote {} and {} ({clips} training clips each, {} val, {} test)",
        out.join("inspection").display(),
        out.join("operator").display(),
        clips.div_ceil(4),
        clips.div_ceil(4)
    );
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}\nusage: line-data --out DIR [--clips N] [--seed S]");
    std::process::exit(1)
}

fn generate(out: &Path, clips: usize, seed: u64) -> std::io::Result<()> {
    let splits = [
        ("train", clips),
        ("val", clips.div_ceil(4)),
        ("test", clips.div_ceil(4)),
    ];
    for (s, (split, n)) in splits.iter().enumerate() {
        let mut rng = Rng(seed.wrapping_mul(1000).wrapping_add(s as u64 + 1));
        // Inspection: 55% good parts, 15% of each defect.
        let dir = out.join("inspection").join(split);
        std::fs::create_dir_all(&dir)?;
        let mut csv = String::from("id,file,label,group\n");
        let mut gain = 1.0;
        for i in 0..*n {
            if i % 5 == 0 {
                gain = rng.uniform(0.8, 1.2); // a new shift
            }
            let r = rng.uniform(0.0, 1.0);
            let label = if r < 0.55 {
                0
            } else {
                1 + ((r - 0.55) / 0.15) as usize % 3
            };
            let video = conveyor_clip(label, &mut rng).finish(gain, &mut rng);
            let file = format!("part_{i:05}.npy");
            write_npy(&dir.join(&file), &video)?;
            csv.push_str(&format!(
                "{split}-part-{i},{file},{},{split}-shift-{}\n",
                DEFECTS[label],
                i / 5
            ));
        }
        std::fs::write(dir.join("labels.csv"), csv)?;

        // Operator steps: a handful of operators, each with their own pace.
        let dir = out.join("operator").join(split);
        std::fs::create_dir_all(&dir)?;
        let mut csv = String::from("id,file,label,group\n");
        let operators: Vec<OperatorStyle> = (0..6)
            .map(|_| OperatorStyle {
                dwell: rng.uniform(5.0, 9.0),
                travel: rng.uniform(3.0, 5.0),
                skin: [
                    rng.uniform(180.0, 230.0),
                    rng.uniform(130.0, 170.0),
                    rng.uniform(100.0, 140.0),
                ],
                sleeve: [
                    rng.uniform(30.0, 90.0),
                    rng.uniform(30.0, 90.0),
                    rng.uniform(60.0, 140.0),
                ],
            })
            .collect();
        for i in 0..*n {
            let o = i % operators.len();
            let (video, step) = operator_clip(&operators[o], &mut rng);
            let video = video.finish(rng.uniform(0.9, 1.1), &mut rng);
            let file = format!("step_{i:05}.npy");
            write_npy(&dir.join(&file), &video)?;
            csv.push_str(&format!(
                "{split}-step-{i},{file},{},{split}-operator-{o}\n",
                STEPS[step]
            ));
        }
        std::fs::write(dir.join("labels.csv"), csv)?;
    }
    Ok(())
}
