//! Breakdown metrics: a task reports, besides its headline metrics, metrics
//! named `FAMILY/ITEM` (per-class AP `AP/attack`, per-lead error
//! `rmse/lead_3`, a confusion matrix `confusion/attack/mount`). Tables leave
//! them out; the HTML report draws each family as one plot, chosen by the
//! shape of its item names:
//! - `lead_<k>` items: a curve over the lead index (control and each head);
//! - `<true>/<predicted>` items of a family named `confusion`: one heatmap
//!   per head (rows: true class);
//! - anything else: grouped bars, one group per item.

use super::TaskResult;
use super::html::{CONTROL_COLOR, Line, PALETTE, bar_axis_max, esc, line_chart, y_grid};
use std::fmt::Write;

/// Whether `metric` is a breakdown (`FAMILY/ITEM`) rather than a headline metric.
pub fn is_breakdown(metric: &str) -> bool {
    metric.contains('/')
}

/// How a family of breakdown metrics is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Items `lead_0`, `lead_1`, ...: the value by lead index.
    ByLead,
    /// Items `<true>/<predicted>` over these classes, row-major.
    Confusion(Vec<String>),
    /// One bar group per item.
    Bars,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    /// Item names in the task's declared order.
    pub items: Vec<String>,
    pub shape: Shape,
}

impl Family {
    fn metric(&self, item: &str) -> String {
        format!("{}/{item}", self.name)
    }
}

/// The breakdown families of a task, in the order the task declares its metrics.
pub fn families(t: &TaskResult) -> Vec<Family> {
    let mut names: Vec<&String> = t.metrics.iter().collect();
    for scores in t
        .control
        .values()
        .chain(t.heads.iter().flat_map(|h| h.scores.values()))
    {
        names.extend(scores.keys().filter(|k| !t.metrics.contains(*k)));
    }
    let mut out: Vec<Family> = vec![];
    for name in names {
        let Some((family, item)) = name.split_once('/') else {
            continue;
        };
        match out.iter_mut().find(|f| f.name == family) {
            Some(f) if !f.items.iter().any(|i| i == item) => f.items.push(item.to_string()),
            Some(_) => {}
            None => out.push(Family {
                name: family.to_string(),
                items: vec![item.to_string()],
                shape: Shape::Bars,
            }),
        }
    }
    for f in &mut out {
        f.shape = shape_of(&f.name, &f.items);
    }
    out
}

fn shape_of(family: &str, items: &[String]) -> Shape {
    if items.iter().all(|i| lead_index(i).is_some()) {
        return Shape::ByLead;
    }
    if family == "confusion" {
        let mut classes: Vec<String> = vec![];
        for item in items {
            let Some((t, _)) = item.split_once('/') else {
                return Shape::Bars;
            };
            if !classes.iter().any(|c| c == t) {
                classes.push(t.to_string());
            }
        }
        let complete = classes.len() * classes.len() == items.len()
            && classes.iter().all(|t| {
                classes
                    .iter()
                    .all(|p| items.iter().any(|i| *i == format!("{t}/{p}")))
            });
        if complete {
            return Shape::Confusion(classes);
        }
    }
    Shape::Bars
}

fn lead_index(item: &str) -> Option<u32> {
    item.strip_prefix("lead_")?.parse().ok()
}

/// Who a value belongs to: the control, then each head, with its colour.
fn sources<'a>(t: &'a TaskResult, split: &str) -> Vec<(String, &'a str, &'a super::Scores)> {
    let mut out = vec![];
    if let Some(s) = t.control.get(split) {
        out.push(("control".to_string(), CONTROL_COLOR, s));
    }
    for (i, hd) in t.heads.iter().enumerate() {
        if let (None, Some(s)) = (&hd.error, hd.scores.get(split)) {
            out.push((hd.head.clone(), PALETTE[i % PALETTE.len()], s));
        }
    }
    out
}

/// The report's figures for `split`: `<figure class="breakdown ...">` each.
pub fn figures(t: &TaskResult, split: &str) -> String {
    let mut html = String::new();
    for f in families(t) {
        let (class, svg, what) = match &f.shape {
            Shape::ByLead => ("lead", by_lead(t, split, &f), "by lead index"),
            Shape::Confusion(classes) => (
                "confusion",
                confusion(t, split, &f, classes),
                "rows: true class, columns: predicted (argmax), each row normalised",
            ),
            Shape::Bars => ("bars", bars(t, split, &f), "per item"),
        };
        if svg.is_empty() {
            continue;
        }
        let _ = write!(
            html,
            "<figure class=\"breakdown {class}\">{svg}<figcaption><b>{}</b> on <b>{}</b>, {what}</figcaption></figure>",
            esc(&f.name),
            esc(split)
        );
    }
    html
}

fn by_lead(t: &TaskResult, split: &str, f: &Family) -> String {
    let series: Vec<Line> = sources(t, split)
        .into_iter()
        .map(|(name, color, scores)| {
            let mut points: Vec<(f64, f64)> = f
                .items
                .iter()
                .filter_map(|i| Some((lead_index(i)? as f64, *scores.get(&f.metric(i))?)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Line {
                name,
                color,
                points,
            }
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    if series.is_empty() {
        return String::new();
    }
    line_chart(&series, "lead")
}

fn bars(t: &TaskResult, split: &str, f: &Family) -> String {
    let src = sources(t, split);
    let values: Vec<Vec<Option<f64>>> = f
        .items
        .iter()
        .map(|i| {
            src.iter()
                .map(|(_, _, s)| s.get(&f.metric(i)).copied().filter(|v| v.is_finite()))
                .collect()
        })
        .collect();
    let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    if all.is_empty() {
        return String::new();
    }
    let max = all.iter().fold(0.0f64, |a, &b| a.max(b)).max(1e-12);
    let ymax = bar_axis_max(max);
    let (left, bottom, top) = (50.0, 44.0, 12.0 + 14.0 * src.len() as f64);
    let group = (src.len() as f64 * 14.0 + 16.0).max(96.0);
    let w = left + 10.0 + group * f.items.len() as f64;
    let hgt = 260.0 + 14.0 * src.len() as f64;
    let plot_h = hgt - bottom - top;
    let y = |v: f64| top + plot_h * (1.0 - (v / ymax).clamp(0.0, 1.0));
    let mut s = format!("<svg width=\"{w:.0}\" height=\"{hgt:.0}\" role=\"img\">");
    y_grid(&mut s, ymax, left, w - 10.0, y);
    let bw = (group - 16.0) / src.len() as f64;
    for (g, (item, row)) in f.items.iter().zip(&values).enumerate() {
        let x0 = left + group * g as f64 + 8.0;
        for (k, v) in row.iter().enumerate() {
            let Some(v) = v else { continue };
            let (name, color, _) = &src[k];
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{} {}: {v:.4}</title></rect>",
                x0 + bw * k as f64,
                y(*v),
                bw * 0.9,
                (top + plot_h - y(*v)).max(0.0),
                esc(name),
                esc(item)
            );
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x0 + (group - 16.0) / 2.0,
            hgt - bottom + 16.0,
            esc(item)
        );
    }
    legend(&mut s, &src, w);
    s.push_str("</svg>");
    s
}

fn confusion(t: &TaskResult, split: &str, f: &Family, classes: &[String]) -> String {
    let cell = 34.0;
    let label = 8.0 * classes.iter().map(|c| c.len()).max().unwrap_or(4) as f64 + 8.0;
    let k = classes.len() as f64;
    let mut html = String::new();
    for (name, color, scores) in sources(t, split) {
        // Column labels are turned 45 degrees: they need ~0.7 of their length.
        let top = 22.0 + 0.7 * label;
        let (w, hgt) = (label + cell * k + 10.0, top + cell * k);
        let _ = write!(
            html,
            "<svg width=\"{w:.0}\" height=\"{hgt:.0}\" role=\"img\"><text x=\"0\" y=\"14\" font-size=\"12\" fill=\"{color}\">{}</text>",
            esc(&name)
        );
        let (x0, y0) = (label, top);
        for (j, p) in classes.iter().enumerate() {
            let x = x0 + cell * (j as f64 + 0.5);
            let _ = write!(
                html,
                "<text transform=\"translate({x:.1},{:.1}) rotate(-45)\" font-size=\"11\">{}</text>",
                y0 - 4.0,
                esc(p)
            );
        }
        for (i, tr) in classes.iter().enumerate() {
            let y = y0 + cell * i as f64;
            let _ = write!(
                html,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
                x0 - 4.0,
                y + cell / 2.0 + 4.0,
                esc(tr)
            );
            for (j, p) in classes.iter().enumerate() {
                let v = scores
                    .get(&f.metric(&format!("{tr}/{p}")))
                    .copied()
                    .unwrap_or(f64::NAN);
                let shade = if v.is_finite() {
                    v.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let ink = if shade > 0.5 { "#fff" } else { "#222" };
                let _ = write!(
                    html,
                    "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{cell}\" height=\"{cell}\" fill=\"#08519c\" fill-opacity=\"{:.3}\" stroke=\"#ccc\"><title>{}: {v:.3}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"{ink}\">{:.2}</text>",
                    x0 + cell * j as f64,
                    0.05 + 0.95 * shade,
                    esc(&format!("{name} {tr} -> {p}")),
                    x0 + cell * (j as f64 + 0.5),
                    y + cell / 2.0 + 4.0,
                    v
                );
            }
        }
        html.push_str("</svg>");
    }
    html
}

/// The sources' names in their colours, top right.
fn legend(s: &mut String, src: &[(String, &str, &super::Scores)], w: f64) {
    for (i, (name, color, _)) in src.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"{color}\">{}</text>",
            w - 12.0,
            12.0 + 14.0 * i as f64,
            esc(name)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(metrics: &[(&str, f64)]) -> TaskResult {
        let scores: super::super::Scores =
            metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        serde_json::from_value(serde_json::json!({
            "task": "t", "plugin": "p", "version": "1", "sha256": "", "dataset": "",
            "primary_metric": "m", "higher_is_better": true,
            "metrics": metrics.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "protocol": {}, "error": null, "features": {}, "splits": ["test"],
            "control": {"test": scores.clone()},
            "heads": [{"head": "linear", "plugin": "linear", "sha256": "", "config": {},
                       "error": null, "final_train_loss": null, "steps": 1,
                       "scores": {"test": scores}}],
        }))
        .unwrap()
    }

    #[test]
    fn families_take_their_shape_from_the_item_names() {
        let t = result(&[
            ("m", 0.5),
            ("rmse/lead_0", 1.0),
            ("rmse/lead_1", 2.0),
            ("AP/a", 0.3),
            ("AP/b", 0.4),
            ("confusion/a/a", 1.0),
            ("confusion/a/b", 0.0),
            ("confusion/b/a", 0.5),
            ("confusion/b/b", 0.5),
        ]);
        let f = families(&t);
        let shapes: Vec<(&str, &Shape)> = f.iter().map(|f| (f.name.as_str(), &f.shape)).collect();
        assert_eq!(
            shapes,
            [
                ("rmse", &Shape::ByLead),
                ("AP", &Shape::Bars),
                ("confusion", &Shape::Confusion(vec!["a".into(), "b".into()]))
            ]
        );
        let html = figures(&t, "test");
        assert_eq!(html.matches("class=\"breakdown lead\"").count(), 1);
        assert_eq!(html.matches("class=\"breakdown bars\"").count(), 1);
        // One heatmap for the control, one for the head; 4 cells each.
        assert_eq!(html.matches("class=\"breakdown confusion\"").count(), 1);
        assert_eq!(html.matches("fill=\"#08519c\"").count(), 8);
        assert!(html.contains("control a -&gt; b: 0.000"), "{html}");
    }

    #[test]
    fn an_incomplete_confusion_matrix_is_drawn_as_bars() {
        let t = result(&[("confusion/a/a", 1.0), ("confusion/a/b", 0.0)]);
        assert_eq!(families(&t)[0].shape, Shape::Bars);
        assert!(!is_breakdown("wrmse_z500") && is_breakdown("wrmse_z500/lead_0"));
    }
}
