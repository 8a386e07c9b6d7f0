//! Worked examples for the report: a few evaluation clips' predictions
//! (control and every head) next to their targets, in a view chosen by the
//! task's kind and target shape:
//! - regression targets `[L]` (Typhoon's pressures): the series over L;
//! - forecast fields `[T, C, H, W]` (WeatherBench 2): channel 0 at the first
//!   and the last lead, as maps;
//! - tracks `[T, Q, 2+]` with (x, y) normalised to [0, 1] and, as SciVid's
//!   tracking targets, (visible, known) next: each query's point at the last
//!   frame, drawn on that frame.
//!
//! Values are taken when a run evaluates (results.json keeps them, small)
//! and drawn by `scivid report`.

use super::html::{CONTROL_COLOR, Line, PALETTE, esc, line_chart};
use crate::runtime::bindings::TaskKind;
use crate::tensor::DynTensor;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Series examples shown for a regression task.
const SERIES_CLIPS: usize = 3;
/// Forecast maps are kept at most this many cells on a side.
const MAP_MAX_SIDE: usize = 96;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum View {
    /// One series of `len` values per clip.
    Series { len: usize },
    /// Per clip, channel 0 at leads `leads`, each map [h, w] (downsampled).
    Maps {
        leads: [usize; 2],
        h: usize,
        w: usize,
    },
    /// Per clip, (x, y) of each of `queries` points at the last frame; the
    /// truth has a third value per point, 1 where it is visible and known.
    /// `frame_png`: the first clip's last frame (base64 PNG) as the backbone saw it.
    Tracks {
        queries: usize,
        frame_png: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Examples {
    pub split: String,
    pub view: View,
    /// SampledClip ids, one per example.
    pub clips: Vec<String>,
    /// Per example, the target in the view's layout.
    pub truth: Vec<Vec<f32>>,
    /// ("control" or a head, per example its prediction in the same layout).
    pub predictions: Vec<(String, Vec<Vec<f32>>)>,
}

/// The view for a task of this kind and target shape (one example's), if any.
pub fn view_for(kind: TaskKind, target_shape: &[usize]) -> Option<View> {
    match (kind, target_shape) {
        (TaskKind::Regression, &[len]) if len > 1 => Some(View::Series { len }),
        (TaskKind::Forecasting, &[t, _, h, w]) if t >= 1 && h > 1 && w > 1 => {
            let step = h.max(w).div_ceil(MAP_MAX_SIDE);
            Some(View::Maps {
                leads: [0, t - 1],
                h: h.div_ceil(step),
                w: w.div_ceil(step),
            })
        }
        (TaskKind::Tracking, &[_, queries, v]) if v >= 4 => Some(View::Tracks {
            queries,
            frame_png: None,
        }),
        _ => None,
    }
}

/// Which evaluation rows become examples: spread over the split.
pub fn rows_for(view: &View, n: usize) -> Vec<usize> {
    let k = match view {
        View::Series { .. } => SERIES_CLIPS.min(n),
        _ => 1.min(n),
    };
    let mut rows: Vec<usize> = (0..k)
        .map(|i| if k > 1 { i * (n - 1) / (k - 1) } else { 0 })
        .collect();
    rows.dedup();
    rows
}

/// One example's values in the view's layout, from a target or prediction
/// row of shape `shape`; `truth` adds the visibility of tracked points.
pub fn extract(view: &View, shape: &[usize], row: &[f32], truth: bool) -> Vec<f32> {
    match (view, shape) {
        (View::Series { .. }, _) => row.to_vec(),
        (View::Maps { leads, h, w }, &[_, c, fh, fw]) => {
            let mut out = Vec::with_capacity(2 * h * w);
            let step = fh.max(fw).div_ceil(MAP_MAX_SIDE);
            for &lead in leads {
                let plane = &row[lead * c * fh * fw..][..fh * fw];
                // Block means over step x step cells.
                for y in 0..*h {
                    for x in 0..*w {
                        let (mut s, mut k) = (0.0, 0.0);
                        for yy in y * step..((y + 1) * step).min(fh) {
                            for xx in x * step..((x + 1) * step).min(fw) {
                                s += plane[yy * fw + xx];
                                k += 1.0;
                            }
                        }
                        out.push(s / k);
                    }
                }
            }
            out
        }
        (View::Tracks { queries, .. }, &[t, _, v]) => {
            let last = &row[(t - 1) * queries * v..][..queries * v];
            let mut out = vec![];
            for q in last.chunks(v) {
                out.extend([q[0], q[1]]);
                if truth {
                    let shown = q[2] > 0.5 && q[3] > 0.5;
                    out.push(if shown { 1.0 } else { 0.0 });
                }
            }
            out
        }
        _ => vec![],
    }
}

impl Examples {
    /// Examples of `split` in `view`: the target rows and each source's
    /// prediction rows (`targets` and the predictions hold the `rows` the
    /// view picked, in that order).
    pub fn new(
        view: View,
        split: &str,
        clips: Vec<String>,
        targets: &DynTensor,
        sources: &[(String, DynTensor)],
    ) -> Examples {
        let per_row = |t: &DynTensor, truth: bool| -> Vec<Vec<f32>> {
            let shape = &t.shape()[1..];
            let values = t.to_vec();
            let n = shape.iter().product::<usize>().max(1);
            values
                .chunks(n)
                .map(|row| extract(&view, shape, row, truth))
                .collect()
        };
        Examples {
            split: split.to_string(),
            truth: per_row(targets, true),
            predictions: sources
                .iter()
                .map(|(name, p)| (name.clone(), per_row(p, false)))
                .collect(),
            clips,
            view,
        }
    }
}

/// A frame [H, W, 3] with values in [0, 1] as a base64 PNG, halved on each
/// side (block means) to keep results.json small.
pub fn frame_png(frame: &[f32], h: usize, w: usize) -> anyhow::Result<String> {
    let (oh, ow) = ((h / 2).max(1), (w / 2).max(1));
    let mut px = Vec::with_capacity(oh * ow * 3);
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..3 {
                let mut s = 0.0;
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let (yy, xx) = ((2 * y + dy).min(h - 1), (2 * x + dx).min(w - 1));
                    s += frame[(yy * w + xx) * 3 + c];
                }
                px.push((s / 4.0 * 255.0).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    png_base64(&px, oh, ow)
}

fn png_base64(rgb: &[u8], h: usize, w: usize) -> anyhow::Result<String> {
    let img = image::RgbImage::from_raw(w as u32, h as u32, rgb.to_vec())
        .ok_or_else(|| anyhow::anyhow!("an image of {h}x{w} needs {} bytes", h * w * 3))?;
    let mut bytes = std::io::Cursor::new(vec![]);
    img.write_to(&mut bytes, image::ImageFormat::Png)?;
    Ok(base64(&bytes.into_inner()))
}

/// Standard base64 with padding (RFC 4648), for data: URIs.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The colour of each source: the control grey, heads as in the other plots.
fn colors<'a>(e: &'a Examples, heads: &[String]) -> Vec<(&'a str, &'a [Vec<f32>], &'static str)> {
    e.predictions
        .iter()
        .map(|(name, rows)| {
            let color = match heads.iter().position(|h| h == name) {
                Some(i) => PALETTE[i % PALETTE.len()],
                None => CONTROL_COLOR,
            };
            (name.as_str(), rows.as_slice(), color)
        })
        .collect()
}

/// The report's figures of these examples (`heads`: every head of the task,
/// in order, for consistent colours).
pub fn figures(e: &Examples, heads: &[String]) -> String {
    let sources = colors(e, heads);
    let mut html = String::new();
    for (k, clip) in e.clips.iter().enumerate() {
        let (class, body, what) = match &e.view {
            View::Series { .. } => {
                let mut lines = vec![Line {
                    name: "target".into(),
                    color: "#000",
                    points: points(&e.truth[k]),
                }];
                for (name, rows, color) in &sources {
                    lines.push(Line {
                        name: name.to_string(),
                        color,
                        points: points(&rows[k]),
                    });
                }
                (
                    "series",
                    line_chart(&lines, "lead"),
                    "target (black) and predictions by lead, in the task's target units".to_string(),
                )
            }
            View::Maps { leads, h, w } => (
                "maps",
                maps(e, k, &sources, *h, *w, leads),
                "channel 0: target and each prediction at the first and the last lead (blue below 0, red above, one scale per row)".to_string(),
            ),
            View::Tracks { queries, frame_png } => (
                "tracks",
                tracks(e, k, &sources, *queries, frame_png.as_deref()),
                "query points at the last frame: target (white rings), each prediction joined to its target".to_string(),
            ),
        };
        let _ = write!(
            html,
            "<figure class=\"example {class}\">{body}<figcaption>clip <code>{}</code> of <b>{}</b>: {what}</figcaption></figure>",
            esc(clip),
            esc(&e.split)
        );
    }
    html
}

fn points(values: &[f32]) -> Vec<(f64, f64)> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64, v as f64))
        .collect()
}

fn maps(
    e: &Examples,
    k: usize,
    sources: &[(&str, &[Vec<f32>], &str)],
    h: usize,
    w: usize,
    leads: &[usize; 2],
) -> String {
    // Shown at least 180 px wide, whole pixels per cell.
    let zoom = (180 / w.max(1)).max(2);
    let mut html = String::from("<table class=\"maps\"><tr><th></th><th>target</th>");
    for (name, _, color) in sources {
        let _ = write!(html, "<th style=\"color:{color}\">{}</th>", esc(name));
    }
    html.push_str("</tr>");
    for (r, lead) in leads.iter().enumerate() {
        let plane = |v: &[f32]| v[r * h * w..(r + 1) * h * w].to_vec();
        let truth = plane(&e.truth[k]);
        // One symmetric scale per row, set by the target.
        let scale = truth.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        let _ = write!(html, "<tr><th>lead {lead}</th>");
        let mut cells = vec![truth];
        cells.extend(sources.iter().map(|(_, rows, _)| plane(&rows[k])));
        for values in cells {
            let png = diverging_png(&values, h, w, scale).unwrap_or_default();
            let _ = write!(
                html,
                "<td><img alt=\"map\" width=\"{}\" height=\"{}\" style=\"image-rendering:pixelated;border:1px solid #ccc\" src=\"data:image/png;base64,{png}\"></td>",
                w * zoom,
                h * zoom
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

/// Blue (negative) - white - red (positive), saturating at `scale`; north up
/// (the first row is the southernmost latitude, as WeatherBench 2 stores it).
fn diverging_png(values: &[f32], h: usize, w: usize, scale: f32) -> anyhow::Result<String> {
    let mut px = Vec::with_capacity(h * w * 3);
    for y in (0..h).rev() {
        for &v in &values[y * w..(y + 1) * w] {
            let a = if v.is_finite() {
                (v / scale).clamp(-1.0, 1.0)
            } else {
                0.0
            };
            let fade = |c: f32| (255.0 - (255.0 - c) * a.abs()).round() as u8;
            px.extend(if a >= 0.0 {
                [255, fade(40.0), fade(40.0)]
            } else {
                [fade(40.0), fade(40.0), 255]
            });
        }
    }
    png_base64(&px, h, w)
}

fn tracks(
    e: &Examples,
    k: usize,
    sources: &[(&str, &[Vec<f32>], &str)],
    queries: usize,
    frame: Option<&str>,
) -> String {
    let side = 336.0;
    let legend = 16.0 * (sources.len() + 1) as f64;
    let mut s = format!(
        "<svg width=\"{side}\" height=\"{}\" role=\"img\">",
        side + legend
    );
    let _ = write!(
        s,
        "<text x=\"0\" y=\"{:.0}\" font-size=\"12\">target: white rings</text>",
        side + 14.0
    );
    for (i, (name, _, color)) in sources.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{:.0}\" font-size=\"12\" fill=\"{color}\">{}</text>",
            side + 30.0 + 16.0 * i as f64,
            esc(name)
        );
    }
    match frame.filter(|_| k == 0) {
        Some(png) => {
            let _ = write!(
                s,
                "<image width=\"{side}\" height=\"{side}\" preserveAspectRatio=\"none\" href=\"data:image/png;base64,{png}\"/>"
            );
        }
        None => {
            let _ = write!(
                s,
                "<rect width=\"{side}\" height=\"{side}\" fill=\"#333\"/>"
            );
        }
    }
    let truth = &e.truth[k];
    let at = |x: f32| (x.clamp(-0.1, 1.1) as f64) * side;
    for q in 0..queries {
        let (tx, ty, shown) = (truth[3 * q], truth[3 * q + 1], truth[3 * q + 2]);
        if shown < 0.5 {
            continue;
        }
        for (name, rows, color) in sources {
            let (px, py) = (rows[k][2 * q], rows[k][2 * q + 1]);
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"1.5\"/><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"><title>{} query {q}</title></circle>",
                at(tx),
                at(ty),
                at(px),
                at(py),
                at(px),
                at(py),
                esc(name)
            );
        }
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4.5\" fill=\"none\" stroke=\"#fff\" stroke-width=\"2\"><title>target query {q}</title></circle>",
            at(tx),
            at(ty)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_follow_the_kind_and_target_shape() {
        use TaskKind::*;
        assert_eq!(view_for(Regression, &[12]), Some(View::Series { len: 12 }));
        assert_eq!(
            view_for(Forecasting, &[16, 3, 181, 360]),
            Some(View::Maps {
                leads: [0, 15],
                h: 46,
                w: 90
            })
        );
        assert!(matches!(
            view_for(Tracking, &[16, 34, 4]),
            Some(View::Tracks { queries: 34, .. })
        ));
        // Class scores have no example view (their breakdowns are plotted).
        assert_eq!(view_for(Multilabel, &[7]), None);
        assert_eq!(view_for(Classification, &[4]), None);
        assert_eq!(view_for(Regression, &[1]), None);
        assert_eq!(rows_for(&View::Series { len: 12 }, 10), [0, 4, 9]);
        assert_eq!(rows_for(&View::Series { len: 12 }, 1), [0]);
    }

    #[test]
    fn maps_are_block_means_of_channel_0_at_the_first_and_last_lead() {
        // [2 leads, 2 channels, 2, 4]: small, so every cell is kept.
        let shape = [2, 2, 2, 4];
        let row: Vec<f32> = (0..32).map(|v| v as f32).collect();
        let view = view_for(TaskKind::Forecasting, &shape).unwrap();
        let got = extract(&view, &shape, &row, true);
        let lead0: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let lead1: Vec<f32> = (16..24).map(|v| v as f32).collect();
        assert_eq!(got, [lead0, lead1].concat());
        // A grid larger than the cap is averaged in blocks.
        let shape = [1, 1, 2, 2 * MAP_MAX_SIDE];
        let row: Vec<f32> = (0..4 * MAP_MAX_SIDE).map(|v| (v % 2) as f32).collect();
        let view = view_for(TaskKind::Forecasting, &shape).unwrap();
        assert_eq!(
            view,
            View::Maps {
                leads: [0, 0],
                h: 1,
                w: MAP_MAX_SIDE
            }
        );
        let got = extract(&view, &shape, &row, false);
        assert_eq!(got.len(), 2 * MAP_MAX_SIDE);
        assert!(got.iter().all(|&v| v == 0.5), "{got:?}");
    }

    #[test]
    fn tracks_keep_the_last_frame_and_the_visibility_of_the_truth() {
        // [2 frames, 2 queries, 4]: the second query is unknown at the end.
        let shape = [2, 2, 4];
        let row = [
            0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, // frame 0
            0.25, 0.5, 1.0, 1.0, 0.75, 0.1, 1.0, 0.0, // frame 1
        ];
        let view = view_for(TaskKind::Tracking, &shape).unwrap();
        assert_eq!(
            extract(&view, &shape, &row, true),
            [0.25, 0.5, 1.0, 0.75, 0.1, 0.0]
        );
        assert_eq!(extract(&view, &shape, &row, false), [0.25, 0.5, 0.75, 0.1]);
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }
}
