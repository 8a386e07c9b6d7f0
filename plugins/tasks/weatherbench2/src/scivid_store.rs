//! SciVid's own WeatherBench 2 store (`full/weatherbench/
//! weatherbench2_3variable_dataset.zarr` in SciVid's data directory):
//! arrays `geopotential_500`, `temperature_850`, `specific_humidity_700`,
//! each [time, latitude, longitude], and a CF-encoded `time` coordinate.
//! Windows follow SciVid's `WBPygrainDataSource`: a split is a date range
//! selected the way xarray's `sel(time=slice(a, b))` does (both ends
//! inclusive, to the end of `b`'s day or year); windows of 32 frames 12 h
//! apart start `offset` hours into it, every `stride` hours, as many as fit.

use scivid_sdk::{DATA_DIR, Error, Result, bail};
use scivid_zarr::Array;

/// The store, relative to the dataset directory (SciVid's data root).
pub const STORE: &str = "full/weatherbench/weatherbench2_3variable_dataset.zarr";
/// z500, t850 and q700, in the task's channel order.
pub const ARRAYS: [&str; 3] = [
    "geopotential_500",
    "temperature_850",
    "specific_humidity_700",
];
/// Hours between a window's frames.
const FRAME_HOURS: f64 = 12.0;
/// Frames per window: 16 inputs, then 16 targets.
const WINDOW: usize = 32;

/// A split: SciVid's date range, first-window offset and window stride.
struct Split {
    first: &'static str,
    last: &'static str,
    offset_hours: f64,
    stride_hours: f64,
}

/// SciVid's `train`, `offline_dev` (730 windows of 2018) and `test` (732
/// of 2020).
fn split(name: &str) -> Result<Split> {
    let (first, last, offset_hours, stride_hours) = match name {
        "train" => ("1979-01-02", "2017", 0.0, 6.0),
        "val" => ("2017-12-24", "2019-01-08", 18.0, 12.0),
        "test" => ("2019-12-24", "2021-01-08", 12.0, 12.0),
        other => bail!("no split `{other}` in SciVid's WeatherBench 2 (train, val, test)"),
    };
    Ok(Split {
        first,
        last,
        offset_hours,
        stride_hours,
    })
}

/// Whether the dataset directory holds SciVid's store.
pub fn present() -> bool {
    std::path::Path::new(&format!("{DATA_DIR}/{STORE}")).is_dir()
}

fn open(name: &str) -> Result<Array> {
    let dir = std::path::PathBuf::from(format!("{DATA_DIR}/{STORE}/{name}"));
    Array::open(&dir, &format!("{STORE}/{name}")).map_err(|e| Error(format!("{e:#}")))
}

/// The grid (lat, lon) of the variables, which must be [time, lat, lon].
pub fn grid() -> Result<(u32, u32)> {
    let mut grid = None;
    for name in ARRAYS {
        let a = open(name)?;
        if a.shape.len() != 3 {
            bail!(
                "{STORE}/{name}: shape {:?}, expected [time, latitude, longitude]",
                a.shape
            );
        }
        if let Some(d) = &a.dimensions
            && (d.len() != 3
                || d[0] != "time"
                || !d[1].starts_with("lat")
                || !d[2].starts_with("lon"))
        {
            bail!("{STORE}/{name}: axes {d:?}, expected [time, latitude, longitude]");
        }
        let g = (a.shape[1] as u32, a.shape[2] as u32);
        if *grid.get_or_insert(g) != g {
            bail!("{STORE}/{name}: grid {g:?} differs from {ARRAYS:?}[0]'s");
        }
    }
    grid.ok_or_else(|| Error("no variables".into()))
}

/// A window: its id (the first frame's time) and its 32 time indices.
pub struct Window {
    pub id: String,
    pub frames: Vec<u32>,
}

/// SciVid's windows of `split` over the store's time axis.
pub fn windows(name: &str) -> Result<Vec<Window>> {
    let split = split(name)?;
    let hours = time_hours()?;
    let at = |what: String| Error(format!("{STORE}/time: {what}"));
    if hours.len() < 2 {
        return Err(at(format!("{} steps", hours.len())));
    }
    let dt = hours[1] - hours[0];
    if let Some(k) = hours.windows(2).position(|w| w[1] - w[0] != dt) {
        return Err(at(format!(
            "steps are not evenly spaced (step {k} to {} is {} h, the first {dt} h)",
            k + 1,
            hours[k + 1] - hours[k]
        )));
    }
    let steps = |h: f64, what: &str| -> Result<usize> {
        let n = h / dt;
        if dt <= 0.0 || n.fract() != 0.0 {
            return Err(at(format!(
                "{what} of {h} h is not a whole number of {dt} h steps"
            )));
        }
        Ok(n as usize)
    };
    let (frame, offset, stride) = (
        steps(FRAME_HOURS, "a frame interval")?,
        steps(split.offset_hours, "the offset")?,
        steps(split.stride_hours, "the stride")?,
    );
    // xarray's label slice: from the first day's start to the end of the
    // last day (or year), both inclusive.
    let (lo, hi) = (
        date_hours(split.first, false)?,
        date_hours(split.last, true)?,
    );
    let begin = hours.partition_point(|&h| h < lo);
    let total = hours.partition_point(|&h| h < hi) - begin;
    let span = (WINDOW - 1) * frame;
    let count = total.saturating_sub(offset + span).div_ceil(stride);
    Ok((0..count)
        .map(|k| {
            let start = begin + offset + k * stride;
            Window {
                id: civil(hours[start]),
                frames: (0..WINDOW).map(|j| (start + j * frame) as u32).collect(),
            }
        })
        .collect())
}

/// The time coordinate in hours since 1970-01-01 (CF `units` such as
/// `hours since 1979-01-01`, a standard or proleptic Gregorian calendar).
fn time_hours() -> Result<Vec<f64>> {
    let time = open("time")?;
    let at = |what: String| Error(format!("{STORE}/time: {what}"));
    let units = time.attributes["units"]
        .as_str()
        .ok_or_else(|| at("no `units` attribute (a CF time coordinate needs one)".into()))?;
    match time.attributes["calendar"].as_str() {
        None | Some("standard" | "gregorian" | "proleptic_gregorian") => {}
        Some(c) => return Err(at(format!("calendar `{c}` is not supported"))),
    }
    let (unit, epoch) = units
        .split_once(" since ")
        .ok_or_else(|| at(format!("units `{units}` are not `<unit> since <date>`")))?;
    let scale = match unit.trim() {
        "days" | "day" => 24.0,
        "hours" | "hour" | "h" => 1.0,
        "minutes" | "minute" => 1.0 / 60.0,
        "seconds" | "second" | "s" => 1.0 / 3600.0,
        other => return Err(at(format!("time unit `{other}`"))),
    };
    let epoch = epoch_hours(epoch.trim()).map_err(|e| at(format!("units `{units}`: {}", e.0)))?;
    let values = time.read_f64().map_err(|e| at(format!("{e:#}")))?;
    Ok(values.iter().map(|v| epoch + v * scale).collect())
}

/// `YYYY-MM-DD[ T]HH:MM[:SS]` in hours since 1970-01-01.
fn epoch_hours(s: &str) -> Result<f64> {
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, t.trim_end_matches('Z')),
        None => (s, ""),
    };
    let mut h = date_hours(date, false)?;
    for (part, per_hour) in time.split(':').zip([1.0, 60.0, 3600.0]) {
        if part.is_empty() {
            continue;
        }
        let v: f64 = part
            .parse()
            .map_err(|_| Error(format!("`{s}` is not a date and time")))?;
        h += v / per_hour;
    }
    Ok(h)
}

/// `YYYY[-MM[-DD]]` in hours since 1970-01-01: its start, or with `end`
/// the start of the next year, month or day (xarray's partial dates).
fn date_hours(s: &str, end: bool) -> Result<f64> {
    let bad = || Error(format!("`{s}` is not a date"));
    let parts: Vec<i64> = s
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let (y, m, d) = match parts[..] {
        [y] => (y + end as i64, 1, 1),
        [y, m] if (1..=12).contains(&m) => match (end, m) {
            (true, 12) => (y + 1, 1, 1),
            (true, _) => (y, m + 1, 1),
            _ => (y, m, 1),
        },
        [y, m, d] if (1..=12).contains(&m) && (1..=31).contains(&d) => (y, m, d + end as i64),
        _ => return Err(bad()),
    };
    Ok(days_from_civil(y, m, 1) as f64 * 24.0 + (d - 1) as f64 * 24.0)
}

/// Days from 1970-01-01 to year `y`, month `m`, day `d` (proleptic
/// Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Hours since 1970-01-01 as `YYYY-MM-DDTHH`.
fn civil(hours: f64) -> String {
    let h = hours.floor() as i64;
    let (days, hour) = (h.div_euclid(24), h.rem_euclid(24));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02}T{hour:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_both_ways() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil(11_017.0 * 24.0 + 13.0), "2000-03-01T13");
        assert_eq!(civil(-1.0), "1969-12-31T23");
        // A leap day, and partial dates' ends.
        assert_eq!(
            civil(date_hours("2020-02-29", false).unwrap()),
            "2020-02-29T00"
        );
        assert_eq!(civil(date_hours("2017", true).unwrap()), "2018-01-01T00");
        assert_eq!(
            civil(date_hours("2019-01-08", true).unwrap()),
            "2019-01-09T00"
        );
        assert_eq!(civil(date_hours("2019-12", true).unwrap()), "2020-01-01T00");
        assert_eq!(
            epoch_hours("1979-01-01 06:30:00").unwrap(),
            date_hours("1979-01-01", false).unwrap() + 6.5
        );
        assert!(date_hours("2019-13-01", false).is_err());
    }
}
