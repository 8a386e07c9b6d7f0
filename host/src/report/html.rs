//! `scivid report`: one self-contained HTML file (inline SVG, no scripts, no
//! network) with the run's provenance, and per task the scores of every
//! readout against the control with their 95% intervals, the training
//! curves, the task's breakdowns (see `breakdown`), and the table.

use super::{RunResults, TaskResult};
use std::fmt::Write;

pub(super) const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];
/// The control is always drawn in grey.
pub const CONTROL_COLOR: &str = "#7f7f7f";

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(r: &RunResults) -> String {
    let mut h = String::new();
    h.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>scivid report</title><style>");
    h.push_str(
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}\
         th:first-child,td:first-child,td:nth-child(2){text-align:left}.plots{display:flex;flex-wrap:wrap;gap:2em}\
         figure{margin:0}figcaption{font-size:.9em;color:#555}pre{background:#f6f6f6;padding:1em;overflow:auto}\
         .failed{color:#b00}table.maps td,table.maps th{border:0;padding:2px}",
    );
    h.push_str("</style></head><body>");
    let _ = write!(h, "<h1>scivid report</h1><p>{}</p>", esc(r.header().trim()));
    for t in &r.tasks {
        let _ = write!(h, "<h2>Task <code>{}</code></h2>", esc(&t.task));
        if let Some(e) = &t.error {
            let _ = write!(h, "<p class=\"failed\">failed: {}</p>", esc(e));
            continue;
        }
        let arrow = if t.higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        };
        let _ = write!(
            h,
            "<p>primary metric <b>{}</b> ({arrow}); dataset fingerprint <code>{}</code></p>",
            esc(&t.primary_metric),
            esc(t.dataset_fingerprint.get(..12).unwrap_or(""))
        );
        h.push_str("<div class=\"plots\">");
        for split in &t.splits {
            let _ = write!(
                h,
                "<figure>{}<figcaption>{} on <b>{}</b>: control (grey) and each readout, with 95% cluster-bootstrap intervals</figcaption></figure>",
                score_bars(t, split),
                esc(&t.primary_metric),
                esc(split)
            );
        }
        let _ = write!(
            h,
            "<figure>{}<figcaption>training loss per head</figcaption></figure>",
            curves(t, |hd| &hd.loss_curve)
        );
        if t.heads.iter().any(|hd| !hd.eval_curve.is_empty()) {
            let minival = t.protocol["minival"]["split"].as_str().unwrap_or("minival");
            let _ = write!(
                h,
                "<figure class=\"eval\">{}<figcaption>{} on the minival set (<b>{}</b>) during training, per head</figcaption></figure>",
                curves(t, |hd| &hd.eval_curve),
                esc(&t.primary_metric),
                esc(minival)
            );
        }
        h.push_str("</div>");
        if let Some(last) = t.splits.last() {
            let figures = super::breakdown::figures(t, last);
            if !figures.is_empty() {
                let _ = write!(
                    h,
                    "<h3>Breakdowns on {}</h3><div class=\"plots\">{figures}</div>",
                    esc(last)
                );
            }
        }
        if let Some(e) = &t.examples {
            let heads: Vec<String> = t.heads.iter().map(|hd| hd.head.clone()).collect();
            let _ = write!(
                h,
                "<h3>Examples from {}</h3><div class=\"plots\">{}</div>",
                esc(&e.split),
                super::examples::figures(e, &heads)
            );
        }
        h.push_str(&table(t));
        for hd in t.heads.iter().filter(|hd| hd.error.is_some()) {
            let _ = write!(
                h,
                "<p class=\"failed\">head {} failed: {}</p>",
                esc(&hd.head),
                esc(hd.error.as_deref().unwrap_or(""))
            );
        }
    }
    let spec = serde_json::to_string_pretty(&r.spec).unwrap_or_default();
    let _ = writeln!(
        h,
        "<h2>Run spec</h2><pre>{}</pre></body></html>",
        esc(&spec)
    );
    h
}

fn score_bars(t: &TaskResult, split: &str) -> String {
    let metric = &t.primary_metric;
    let mut bars: Vec<(String, f64, Option<[f64; 2]>, &str)> = vec![];
    if let Some(v) = t.control.get(split).and_then(|s| s.get(metric)) {
        bars.push((
            "control".into(),
            *v,
            t.control_ci.get(split).copied(),
            CONTROL_COLOR,
        ));
    }
    for (i, hd) in t.heads.iter().enumerate() {
        if let Some(v) = hd.scores.get(split).and_then(|s| s.get(metric)) {
            bars.push((
                hd.head.clone(),
                *v,
                hd.ci.get(split).copied(),
                PALETTE[i % PALETTE.len()],
            ));
        }
    }
    let (w, hgt, left, bottom, top) = (420.0, 260.0, 50.0, 40.0, 12.0);
    let max = bars
        .iter()
        .map(|b| b.2.map(|c| c[1]).unwrap_or(b.1).max(b.1))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let ymax = bar_axis_max(max);
    let plot_h = hgt - bottom - top;
    let y = |v: f64| top + plot_h * (1.0 - (v / ymax).clamp(0.0, 1.0));
    let slot = (w - left - 10.0) / bars.len().max(1) as f64;
    let mut s = format!("<svg width=\"{w}\" height=\"{hgt}\" role=\"img\">");
    y_grid(&mut s, ymax, left, w - 10.0, y);
    for (i, (name, v, ci, color)) in bars.iter().enumerate() {
        let x = left + slot * i as f64 + slot * 0.15;
        let bw = slot * 0.7;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {v:.4}</title></rect>",
            y(*v),
            (top + plot_h - y(*v)).max(0.0),
            esc(name)
        );
        if let Some([lo, hi]) = ci {
            let cx = x + bw / 2.0;
            let _ = write!(
                s,
                "<line x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#000\" stroke-width=\"1.5\"/>",
                y(*lo),
                y(*hi)
            );
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x + bw / 2.0,
            hgt - bottom + 16.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// An axis label: small values in scientific notation (humidity errors are ~1e-3).
fn tick(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-2 {
        format!("{v:.1e}")
    } else {
        format!("{v:.2}")
    }
}

/// The top of a bar chart's value axis: 1 for scores in [0, 1], else a
/// tenth above the highest value.
pub(super) fn bar_axis_max(max: f64) -> f64 {
    if max <= 1.0 { 1.0 } else { max * 1.1 }
}

/// Five horizontal grid lines from 0 to `ymax` between x = `left` and
/// `right`, labelled on the left; `y` maps a value to its height.
pub(super) fn y_grid(s: &mut String, ymax: f64, left: f64, right: f64, y: impl Fn(f64) -> f64) {
    for k in 0..=4 {
        let v = ymax * k as f64 / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{right:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            y(v),
            y(v),
            left - 4.0,
            y(v) + 4.0,
            tick(v)
        );
    }
}

/// One line per head of `series(head)`: (step, value).
fn curves(t: &TaskResult, series: impl Fn(&super::HeadResult) -> &Vec<(u32, f64)>) -> String {
    let lines: Vec<Line> = t
        .heads
        .iter()
        .enumerate()
        .map(|(i, hd)| Line {
            name: hd.head.clone(),
            color: PALETTE[i % PALETTE.len()],
            points: series(hd).iter().map(|&(x, y)| (x as f64, y)).collect(),
        })
        .collect();
    line_chart(&lines, "step")
}

/// One line of a chart: its name, colour and (x, y) points.
pub(super) struct Line<'a> {
    pub name: String,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// Lines of (x, y) points, named and coloured, on axes from x = 0 and y = 0
/// (or the lowest value, if negative) to the highest; non-finite values skipped.
pub(super) fn line_chart(lines: &[Line], x_label: &str) -> String {
    let (w, hgt, left, bottom, top) = (420.0, 260.0, 56.0, 30.0, 12.0);
    let points: Vec<&(f64, f64)> = lines
        .iter()
        .flat_map(|l| l.points.iter())
        .filter(|p| p.1.is_finite())
        .collect();
    let max_x = points.iter().map(|p| p.0).fold(0.0f64, f64::max).max(1.0);
    let min_y = points.iter().map(|p| p.1).fold(0.0f64, f64::min);
    let max_y =
        (points.iter().map(|p| p.1).fold(0.0f64, f64::max) - min_y).max(1e-12) * 1.05 + min_y;
    let (pw, ph) = (w - left - 10.0, hgt - bottom - top);
    let mut s = format!("<svg width=\"{w}\" height=\"{hgt}\" role=\"img\">");
    let _ = write!(
        s,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#ccc\"/>"
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{x_label} {max_x}</text>",
        left - 4.0,
        top + 10.0,
        tick(max_y),
        left - 4.0,
        top + ph,
        tick(min_y),
        w - 10.0,
        hgt - 8.0
    );
    for (
        i,
        Line {
            name,
            color,
            points,
        },
    ) in lines.iter().enumerate()
    {
        let pts: Vec<String> = points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|(x, y)| {
                format!(
                    "{:.1},{:.1}",
                    left + pw * x / max_x,
                    top + ph * (1.0 - (y - min_y) / (max_y - min_y))
                )
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            pts.join(" "),
            esc(name)
        );
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"{color}\">{}</text>",
            left + pw - 8.0,
            top + 16.0 + 14.0 * i as f64,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

fn table(t: &TaskResult) -> String {
    let metrics = super::table_metrics(t);
    let mut s = String::from("<table><tr><th>split</th><th>readout</th>");
    for m in &metrics {
        let _ = write!(s, "<th>{}</th>", esc(m));
    }
    s.push_str("</tr>");
    for split in &t.splits {
        let mut rows = vec![(
            "control".to_string(),
            t.control.get(split),
            t.control_ci.get(split),
        )];
        for hd in t.heads.iter().filter(|h| h.error.is_none()) {
            rows.push((hd.head.clone(), hd.scores.get(split), hd.ci.get(split)));
        }
        for (name, sc, ci) in rows {
            let _ = write!(s, "<tr><td>{}</td><td>{}</td>", esc(split), esc(&name));
            for m in &metrics {
                let cell = super::score_cell(
                    sc.and_then(|sc| sc.get(m)).copied(),
                    ci.filter(|_| *m == t.primary_metric),
                );
                let _ = write!(s, "<td>{cell}</td>");
            }
            s.push_str("</tr>");
        }
    }
    s.push_str("</table>");
    s
}
