//! `weatherbench2`: global medium-range forecasting (SciVid's WeatherBench 2).
//! Input: 16 frames 12 h apart of Z500, T850 and Q700 on a lat-lon grid,
//! z-scored with SciVid's means and standard deviations. Target: the next
//! 16 frames as residuals on the last input frame, divided by the residual
//! standard deviation, laid out [lead, variable, lat, lon]. Loss: latitude-
//! weighted L1 divided by sqrt(lead). Metric: latitude-weighted RMSE per
//! variable in physical units (WeatherBench 2's area weights), per lead,
//! averaged over the 16 leads. Control: persistence (zero residual).
//!
//! The host reads the frames and the targets from the Zarr store (only the
//! chunks of each window); the plugin only says which.
//!
//! Two dataset layouts:
//! - SciVid's own store, `DIR/full/weatherbench/
//!   weatherbench2_3variable_dataset.zarr` (`DIR` SciVid's data directory):
//!   [time, lat, lon] arrays `geopotential_500`, `temperature_850`,
//!   `specific_humidity_700` and a CF `time` coordinate; splits are SciVid's
//!   date ranges (train 1979-01-02 to 2017 every 6 h, val = SciVid's
//!   `offline_dev` 2018 and test 2020 every 12 h): see `scivid_store`.
//! - The stand-in (`scivid data synth weatherbench2` writes one):
//!   `DIR/era5.zarr`, a Zarr store (v2 or v3, as WeatherBench 2 publishes
//!   ERA5) whose arrays are [time, level, lat, lon] in physical units, steps
//!   12 h apart; `DIR/channels.csv` (`variable,array,level_index`: the array
//!   and level index of z500, t850 and q700); `DIR/grid.csv` (`lat,lon`: the
//!   grid size, latitudes from -90 to 90 inclusive); and
//!   `DIR/<split>/windows.csv` (`id,start`): the first input step of each
//!   window in the store's time axis (it needs 32 steps from there).

mod scivid_store;

use scivid_sdk::data::Csv;
use scivid_sdk::metrics::latitude_weights;
use scivid_sdk::{
    Clip, ClipSource, ClipTarget, DATA_DIR, Grant, InputSpec, Metric, Metrics, Protocol, Result,
    TargetFrames, Task, TaskInfo, TaskKind, Tensor, ValueMap, ZarrChannel, ZarrFrames, bail,
    scivid_protocol,
};

const STEPS: usize = 16;
const VARS: [&str; 3] = ["z500", "t850", "q700"];
const MEAN: [f32; 3] = [54088.7, 274.39, 0.0024147];
const STD: [f32; 3] = [3358.65, 15.69, 0.0025397];
const RESIDUAL_STD: [f32; 3] = [404.19, 2.4575, 0.0012086];
/// ERA5 at 1 degree.
const FULL_GRID: (u32, u32) = (181, 360);
/// The Zarr store, relative to the dataset directory.
const STORE: &str = "era5.zarr";

/// Where z500, t850 and q700 are in the store (`channels.csv`).
fn channels() -> Result<Vec<ZarrChannel>> {
    let csv = Csv::read(&format!("{DATA_DIR}/channels.csv"))?;
    let mut out = vec![];
    for var in VARS {
        let Some(row) = csv
            .rows()
            .find(|r| r.get("variable").is_ok_and(|v| v == var))
        else {
            bail!("{}: no row for variable `{var}`", csv.path());
        };
        out.push(ZarrChannel {
            array: row.get("array")?.into(),
            index: vec![row.parse("level_index")?],
        });
    }
    Ok(out)
}

/// The dataset's grid (lat, lon), or ERA5's 1-degree grid when no dataset
/// is mounted (e.g. when the plugin is only inspected).
fn grid() -> Result<(u32, u32)> {
    if scivid_store::present() {
        return scivid_store::grid();
    }
    let path = format!("{DATA_DIR}/grid.csv");
    if std::fs::metadata(&path).is_err() {
        return Ok(FULL_GRID);
    }
    let csv = Csv::read(&path)?;
    let Some(row) = csv.rows().next() else {
        bail!("{path}: no row");
    };
    Ok((row.parse("lat")?, row.parse("lon")?))
}

struct WeatherBench2;

impl Task for WeatherBench2 {
    type Metrics = Errors;

    fn info() -> TaskInfo {
        let (lat, lon) = grid().unwrap_or(FULL_GRID);
        TaskInfo {
            name: "weatherbench2".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "WeatherBench 2: Z500, T850, Q700 for the next 16 steps of 12 h".into(),
            kind: TaskKind::Forecasting,
            input: InputSpec {
                frames: STEPS as u32,
                height: 224,
                width: 224,
                channels: 3,
            },
            target_shape: vec![STEPS as u32, VARS.len() as u32, lat, lon],
            metrics: metric_names(),
            primary_metric: "wrmse_z500".into(),
            higher_is_better: false,
            protocol: Protocol {
                steps: 10_000,
                batch_size: 16,
                clip_norm: Some(1.0),
                ..scivid_protocol()
            },
            grants: vec![Grant::DatasetRead],
        }
    }

    fn splits() -> Vec<String> {
        vec!["train".into(), "val".into(), "test".into()]
    }

    fn clips(split: &str) -> Result<Vec<Clip>> {
        if scivid_store::present() {
            let channels: Vec<ZarrChannel> = scivid_store::ARRAYS
                .iter()
                .map(|a| ZarrChannel {
                    array: a.to_string(),
                    index: vec![],
                })
                .collect();
            let windows = scivid_store::windows(split)?;
            if windows.is_empty() {
                bail!(
                    "{}: no {split} window (SciVid's date range for it is not in the store)",
                    scivid_store::STORE
                );
            }
            return Ok(windows
                .iter()
                .map(|w| window_clip(&w.id, scivid_store::STORE, &channels, &w.frames))
                .collect());
        }
        let channels = channels()?;
        let windows = Csv::read(&format!("{DATA_DIR}/{split}/windows.csv"))?;
        let mut clips = vec![];
        for row in windows.rows() {
            let start: u32 = row.parse("start")?;
            let frames: Vec<u32> = (start..start + 2 * STEPS as u32).collect();
            clips.push(window_clip(row.get("id")?, STORE, &channels, &frames));
        }
        if clips.is_empty() {
            bail!("{}: no windows", windows.path());
        }
        Ok(clips)
    }

    /// Latitude-weighted L1 in residual-std units, divided by sqrt(lead).
    fn loss(predictions: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let shape = targets.shape();
        let lat = shape[3] as usize;
        let w = latitude_weights(lat);
        let mut weights = Vec::with_capacity(STEPS * lat);
        for lead in 0..STEPS {
            for wl in &w {
                weights.push((wl / ((lead + 1) as f64).sqrt()) as f32);
            }
        }
        let weights = Tensor::from_data(&weights, &[1, STEPS as u32, 1, lat as u32, 1])?;
        predictions.sub(targets)?.abs().mul(&weights)?.mean_all()
    }

    /// Persistence: the last input frame, i.e. a zero residual.
    fn control_clips(train_targets: &Tensor, clips: &[Clip]) -> Result<Tensor> {
        let mut shape = train_targets.shape();
        shape[0] = clips.len() as u32;
        Tensor::full(&shape, 0.0)
    }
}

/// A window of `store`: inputs at the first 16 of `frames`, targets (read
/// by the host) the next 16 as residuals on the last input frame in units
/// of the residual standard deviation, laid out [lead, variable, lat, lon].
fn window_clip(id: &str, store: &str, channels: &[ZarrChannel], frames: &[u32]) -> Clip {
    let (inputs, targets) = frames.split_at(STEPS);
    Clip {
        id: id.into(),
        source: ClipSource::Zarr(ZarrFrames {
            store: store.into(),
            channels: channels.to_vec(),
            values: ValueMap {
                clamp: None,
                shift: MEAN.to_vec(),
                scale: STD.to_vec(),
            },
        }),
        frame_indices: inputs.to_vec(),
        target: ClipTarget::Frames(TargetFrames {
            frames: targets.to_vec(),
            minus_frame: inputs.last().copied(),
            scale: RESIDUAL_STD.to_vec(),
        }),
        group: id.into(),
        extras: vec![],
    }
}

/// Latitude-weighted squared error in physical units, summed over examples,
/// per (lead, variable).
struct Errors {
    sums: Vec<f64>,
    count: usize,
}

impl Metrics for Errors {
    fn new(_split: &str) -> Self {
        Errors {
            sums: vec![0.0; STEPS * VARS.len()],
            count: 0,
        }
    }

    fn update(&mut self, predictions: &Tensor, targets: &Tensor) -> Result<()> {
        let shape = targets.shape();
        if shape.len() != 5 || predictions.shape() != shape {
            bail!(
                "predictions {:?} and targets {shape:?} must both be [B, 16, 3, lat, lon]",
                predictions.shape()
            );
        }
        let (lat, lon) = (shape[3] as usize, shape[4] as usize);
        let w = latitude_weights(lat);
        let err = predictions.sub(targets)?;
        // One example at a time, accumulated in f64 (a batch at the full
        // grid is too large to copy into the plugin at once).
        for b in 0..shape[0] {
            let e = err.slice(0, b, b + 1)?.read()?;
            for (k, plane) in e.chunks(lat * lon).enumerate() {
                let v = k % VARS.len();
                let scale = (RESIDUAL_STD[v] as f64).powi(2);
                let mut s = 0.0;
                for (row, wl) in plane.chunks(lon).zip(&w) {
                    s += wl * row.iter().map(|&x| (x as f64).powi(2)).sum::<f64>();
                }
                self.sums[k] += scale * s / (lat * lon) as f64;
            }
        }
        self.count += shape[0] as usize;
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<Metric>> {
        if self.count == 0 {
            bail!("no predictions to score");
        }
        let n = self.count as f64;
        let rmse = |lead: usize, v: usize| (self.sums[lead * VARS.len() + v] / n).sqrt();
        let mut out: Vec<Metric> = VARS
            .iter()
            .enumerate()
            .map(|(v, name)| Metric {
                name: format!("wrmse_{name}"),
                value: (0..STEPS).map(|lead| rmse(lead, v)).sum::<f64>() / STEPS as f64,
            })
            .collect();
        // Per lead (0-based), the report's RMSE-by-lead curves.
        for (v, name) in VARS.iter().enumerate() {
            out.extend((0..STEPS).map(|lead| Metric {
                name: format!("wrmse_{name}/lead_{lead}"),
                value: rmse(lead, v),
            }));
        }
        Ok(out)
    }
}

/// `wrmse_<var>` (mean over leads), then `wrmse_<var>/lead_<k>` per variable.
fn metric_names() -> Vec<String> {
    let mut names: Vec<String> = VARS.iter().map(|v| format!("wrmse_{v}")).collect();
    for v in VARS {
        names.extend((0..STEPS).map(|lead| format!("wrmse_{v}/lead_{lead}")));
    }
    names
}

scivid_sdk::export_task!(WeatherBench2);
