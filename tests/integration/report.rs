//! `scivid report`: a self-contained HTML page, rendered by a real browser
//! (Debian's headless Chromium) to check that the plots are drawn.

use crate::common::{Screenshot, quick_spec, scivid};

#[test]
fn report_renders_in_headless_chromium_with_its_plots_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let spec = quick_spec(
        &out,
        &[
            "flat=linear:pool=flatten",
            "attn=attention:width=16,heads=2",
        ],
        60,
    );
    scivid::pipeline::run(&spec).unwrap();
    let (code, stdout, err) = scivid(&["report", out.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("report.html"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "two score plots (val, test), the training loss and the minival curves"
    );
    assert_eq!(html.matches("<figure class=\"eval\">").count(), 1);
    assert!(html.contains("on the minival set (<b>val</b>)"));

    let shot = Screenshot::of(&out.join("report.html"), 1100, 1400);
    let count = |rgb| shot.count(rgb);
    let white = count([255, 255, 255]);
    assert!(white < shot.total() * 97 / 100, "the page is blank");
    // Bars: the control in grey and the first head in the first palette colour.
    assert!(count([0x7f, 0x7f, 0x7f]) > 2000, "no control bars drawn");
    assert!(count([0x1f, 0x77, 0xb4]) > 2000, "no readout bars drawn");
    assert!(count([0xd6, 0x27, 0x28]) > 500, "second head not drawn");
}

/// `scivid results table` over a sweep's folder: a row per run, and the
/// mean and sample sd over the seeds of a backbone.
#[test]
fn results_table_lists_runs_and_aggregates_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("sweep");
    let mut flat = vec![];
    for seed in [0, 1] {
        let out = sweep.join(format!("pixel8-seed{seed}"));
        let mut spec = crate::common::quick_spec(&out, &["flat=linear:pool=flatten"], 30);
        spec.seed = seed;
        spec.bootstrap = 0;
        let r = scivid::pipeline::run(&spec).unwrap();
        flat.push(r.tasks[0].heads[0].scores["test"]["accuracy"]);
    }
    let (code, out, err) =
        crate::common::scivid(&["results", "table", sweep.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("## motion: accuracy ↑ on `test`"), "{out}");
    assert_eq!(
        out.matches("| pixel8 |").count(),
        3,
        "two runs and their mean:\n{out}"
    );
    let mean = (flat[0] + flat[1]) / 2.0;
    let sd = (flat[0] - flat[1]).abs() / 2f64.sqrt();
    let row = out.lines().find(|l| l.contains("mean ± sd")).unwrap();
    assert!(row.contains("2 seeds"), "{row}");
    assert!(
        row.contains(&format!("{mean:.4} ± ")),
        "{row} (mean {mean})"
    );
    if sd >= 1e-2 {
        assert!(
            row.ends_with(&format!("{mean:.4} ± {sd:.4} |")),
            "{row} (sd {sd})"
        );
    }
    let (code, _, err) = crate::common::scivid(
        &[
            "results",
            "table",
            dir.path().join("nothing").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("nothing"), "{err}");
}
