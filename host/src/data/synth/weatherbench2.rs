//! WeatherBench 2 stand-in: Z500, T850 and Q700 on a 10-degree lat-lon grid
//! (19 x 36, poles included), one step every 12 h. Each field is a mean
//! meridional profile plus a few planetary waves that travel east at a
//! latitude-dependent speed while their amplitudes grow and decay: the
//! future is predictable from the motion seen in the input frames, and
//! persistence (repeating the last frame) is not.
//! Layout, as WeatherBench 2's ERA5 stores: `era5.zarr`, a Zarr v3 store
//! with `geopotential`, `temperature`, `specific_humidity` float32
//! [time, level, lat, lon] in physical units (one chunk per time step and
//! level) and the `level` coordinate (hPa); `channels.csv`
//! (`variable,array,level_index`: which plane is Z500, T850, Q700);
//! `grid.csv` (`lat,lon`); `<split>/windows.csv` (`id,start`: the first
//! input step in the store's time axis; the splits' steps follow each other).

use super::SynthSpec;
use super::raster::create_dir;
use crate::data::zarr::write::{Elem, array, group};
use anyhow::Result;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::f32::consts::PI;
use std::path::Path;

const LAT: usize = 19;
const LON: usize = 36;
const WINDOW: usize = 32;
const STRIDE: usize = 2;
const MEAN: [f32; 3] = [54088.7, 274.39, 0.0024147];
const STD: [f32; 3] = [3358.65, 15.69, 0.0025397];
/// Pressure levels (hPa) in the store, and where each variable's is.
const LEVELS: [i64; 3] = [500, 700, 850];
const ARRAYS: [(&str, &str, usize); 3] = [
    ("z500", "geopotential", 0),
    ("t850", "temperature", 2),
    ("q700", "specific_humidity", 1),
];

struct Wave {
    k: f32,
    amp: f32,
    speed: f32,
    phase: f32,
    growth: f32,
}

pub fn write(out: &Path, spec: &SynthSpec) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x3eb2);
    crate::files::write_atomic(
        &out.join("grid.csv"),
        format!("lat,lon\n{LAT},{LON}\n").as_bytes(),
    )?;
    // [time, lat, lon, variable], every split one after the other.
    let mut x: Vec<f32> = vec![];
    let mut first_step = 0;
    for (split, count) in spec.splits() {
        let dir = out.join(split);
        create_dir(&dir)?;
        let steps = WINDOW + STRIDE * (count - 1);
        // Per variable: waves shared in shape, with their own amplitudes.
        let waves: Vec<Wave> = (0..4)
            .map(|_| Wave {
                k: rng.random_range(1..5) as f32,
                amp: rng.random_range(0.3..0.8),
                speed: rng.random_range(0.02..0.08),
                phase: rng.random_range(0.0..2.0 * PI),
                growth: rng.random_range(0.01..0.04),
            })
            .collect();
        let couple: Vec<[f32; 3]> = waves
            .iter()
            .map(|_| [1.0, rng.random_range(0.5..1.0), rng.random_range(-1.0..1.0)])
            .collect();
        for t in 0..steps {
            let tf = t as f32;
            for i in 0..LAT {
                let lat = (-90.0 + 10.0 * i as f32).to_radians();
                // Waves live in the mid-latitudes, faster towards the equator.
                let envelope = (2.0 * lat).sin().abs();
                for j in 0..LON {
                    let lon = (10.0 * j as f32).to_radians();
                    let mut anomaly = [0.0f32; 3];
                    for (w, c) in waves.iter().zip(&couple) {
                        let speed = w.speed * (1.5 - lat.abs());
                        let amp = w.amp * (1.0 + 0.5 * (w.growth * tf + w.phase).sin());
                        let v = amp * envelope * (w.k * (lon - speed * tf) + w.phase).cos();
                        for k in 0..3 {
                            anomaly[k] += c[k] * v;
                        }
                    }
                    let profile = [
                        lat.cos() * 1.2 - 0.6,
                        lat.cos() * 1.4 - 0.7,
                        lat.cos() - 0.4,
                    ];
                    for k in 0..3 {
                        let z = profile[k] + 0.6 * anomaly[k] + rng.random_range(-0.02..0.02);
                        let mut v = MEAN[k] + STD[k] * z;
                        if k == 2 {
                            v = v.max(1e-5);
                        }
                        x.push(v);
                    }
                }
            }
        }
        let mut csv = String::from("id,start\n");
        for w in 0..count {
            csv.push_str(&format!("{split}-w{w:04},{}\n", first_step + w * STRIDE));
        }
        crate::files::write_atomic(&dir.join("windows.csv"), csv.as_bytes())?;
        first_step += steps;
    }
    write_store(out, &x, first_step)
}

/// `era5.zarr` and `channels.csv` from fields [time, lat, lon, variable].
/// The levels a task does not use hold the same field, shifted: a reader
/// that picks the wrong level gets values off by a whole standard deviation.
fn write_store(out: &Path, x: &[f32], steps: usize) -> Result<()> {
    let store = out.join("era5.zarr");
    group(&store)?;
    let levels: Vec<f64> = LEVELS.iter().map(|&l| l as f64).collect();
    array(
        &store,
        "level",
        &[LEVELS.len()],
        &[LEVELS.len()],
        Elem::I64,
        &levels,
    )?;
    let mut csv = String::from("variable,array,level_index\n");
    for (v, (variable, name, own)) in ARRAYS.iter().enumerate() {
        let mut values = Vec::with_capacity(steps * LEVELS.len() * LAT * LON);
        for t in 0..steps {
            for level in 0..LEVELS.len() {
                let shift = (level as f32 - *own as f32) * STD[v];
                let plane = &x[t * LAT * LON * 3..(t + 1) * LAT * LON * 3];
                values.extend(plane.iter().skip(v).step_by(3).map(|&p| (p + shift) as f64));
            }
        }
        let shape = [steps, LEVELS.len(), LAT, LON];
        array(&store, name, &shape, &[1, 1, LAT, LON], Elem::F32, &values)?;
        csv.push_str(&format!("{variable},{name},{own}\n"));
    }
    crate::files::write_atomic(&out.join("channels.csv"), csv.as_bytes())
}
