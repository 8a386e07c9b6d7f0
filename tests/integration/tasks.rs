//! SciVid's five task plugins: metrics and losses against independent
//! references (fixtures written by tests/fixtures/task_metrics_reference.py:
//! scikit-learn, WeatherBench 2's latitude weights, STIR's metric), the
//! synthetic stand-ins checked and run end to end, and bad input named.

use crate::common::{Screenshot, repo_root};
use scivid::data::synth::{self, SynthSpec};
use scivid::pipeline::{self, HeadSpec, PluginRef, RunSpec, SCIVID_TASKS};
use scivid::runtime::{Budgets, Runtime, TaskPlugin};
use scivid::tensor::{DynTensor, default_device};
use std::path::Path;

fn task(rt: &Runtime, name: &str, data: Option<&Path>) -> TaskPlugin {
    let c = PluginRef::Builtin(name.into()).load(rt).unwrap();
    rt.instantiate_task(&c, data, 0, &Budgets::default())
        .unwrap()
}

fn tensor(v: &serde_json::Value, data: &str, shape: &str) -> DynTensor {
    let values: Vec<f32> = v[data]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let shape: Vec<usize> = v[shape]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    DynTensor::from_vec(values, &shape, &default_device()).unwrap()
}

#[test]
fn metrics_and_losses_match_independent_references() {
    let rt = Runtime::new(None).unwrap();
    for name in SCIVID_TASKS {
        let path = repo_root().join(format!("tests/fixtures/task-metrics/{name}.json"));
        let fixture: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // WeatherBench 2 takes its grid from the dataset directory.
        let dir = tempfile::tempdir().unwrap();
        if let Some([lat, lon]) = fixture["data"]["grid"].as_array().map(|g| [&g[0], &g[1]]) {
            std::fs::write(
                dir.path().join("grid.csv"),
                format!("lat,lon\n{lat},{lon}\n"),
            )
            .unwrap();
        }
        let mut t = task(&rt, name, Some(dir.path()));
        let (preds, targets) = (
            tensor(&fixture, "preds", "preds_shape"),
            tensor(&fixture, "targets", "targets_shape"),
        );
        // Two uneven chunks: the accumulator must reduce across them.
        let n = preds.shape()[0];
        let (a, b): (Vec<usize>, Vec<usize>) = ((0..n / 3).collect(), (n / 3..n).collect());
        let (pa, pb, ta, tb) = (
            preds.select_rows(&a),
            preds.select_rows(&b),
            targets.select_rows(&a),
            targets.select_rows(&b),
        );
        let got = t.evaluate("test", [(&pa, &ta), (&pb, &tb)]).unwrap();
        let want = fixture["metrics"].as_object().unwrap();
        assert_eq!(got.len(), want.len(), "{name}: {got:?}");
        for m in &got {
            let w = want[&m.name].as_f64().unwrap();
            assert!(
                (m.value - w).abs() <= 1e-6 * w.abs().max(1.0),
                "{name} {}: {} vs reference {w}",
                m.name,
                m.value
            );
        }
        let loss = t.loss(&preds, &targets).unwrap().to_vec()[0] as f64;
        let w = fixture["loss"].as_f64().unwrap();
        assert!(
            (loss - w).abs() <= 1e-5 * w.abs().max(1e-3),
            "{name} loss: {loss} vs reference {w}"
        );
    }
}

/// Small stand-ins of all five tasks in `dir`, one folder each.
fn stand_ins(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    SCIVID_TASKS
        .iter()
        .map(|name| {
            let d = dir.join(name);
            synth::write(
                name,
                &d,
                &SynthSpec {
                    train: 12,
                    val: 6,
                    test: 6,
                    seed: 1,
                },
            )
            .unwrap();
            (name.to_string(), d)
        })
        .collect()
}

#[test]
fn stand_ins_pass_data_check_and_run_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(None).unwrap();
    let data = stand_ins(dir.path());
    for (name, d) in &data {
        let checks = pipeline::check_dataset(&rt, &PluginRef::Builtin(name.clone()), d, 2).unwrap();
        assert!(
            checks.iter().all(|c| c.clips > 0 && c.decoded == 2),
            "{name}: {checks:?}"
        );
        let (lo, hi) = checks[0].value_range;
        assert!(
            lo < hi && lo.is_finite() && hi.is_finite(),
            "{name}: {lo} {hi}"
        );
    }
    let mut spec = RunSpec::default_run(dir.path().join("out"));
    spec.task_data = data;
    spec.heads = vec![
        HeadSpec::parse("linear").unwrap(),
        HeadSpec::parse("dpt@weatherbench2:dims=4,intermediate=4").unwrap(),
    ];
    spec.protocol.steps = Some(8);
    spec.bootstrap = 0;
    spec.progress = false;
    spec.cache_dir = None;
    let results = pipeline::run(&spec).unwrap();
    assert_eq!(results.tasks.len(), 5);
    for t in &results.tasks {
        assert!(t.error.is_none(), "{}: {:?}", t.task, t.error);
        let last = t.splits.last().unwrap();
        for scores in [&t.control[last], &t.heads[0].scores[last]] {
            let v = scores[&t.primary_metric];
            assert!(v.is_finite(), "{} {}: {v}", t.task, t.primary_metric);
        }
        assert_eq!(t.metrics[0], t.primary_metric);
        // The dense decoder trains on the forecasting grid only.
        let heads: Vec<&str> = t.heads.iter().map(|h| h.head.as_str()).collect();
        if t.task == "weatherbench2" {
            assert_eq!(heads, ["linear", "dpt"]);
            let dpt = &t.heads[1];
            assert!(dpt.error.is_none(), "{:?}", dpt.error);
            assert!(dpt.final_train_loss.unwrap().is_finite());
            assert!(dpt.scores[last][&t.primary_metric].is_finite());
        } else {
            assert_eq!(heads, ["linear"], "{}", t.task);
        }
    }
    // Breakdowns (`FAMILY/ITEM` metrics) become the report's per-task plots
    // and stay out of the tables.
    let html = scivid::report::html::render(&results);
    let figures = |kind: &str| html.matches(&format!("class=\"breakdown {kind}\"")).count();
    // Typhoon's RMSE and WB2's three variables by lead; per-class AP of the
    // two behaviour tasks and STIR's accuracy per threshold; CalMS21's confusion.
    assert_eq!(figures("lead"), 4, "{html}");
    assert_eq!(figures("bars"), 3);
    assert_eq!(figures("confusion"), 1);
    // Examples of the last split: Typhoon's series (3 clips), a WB2 forecast
    // as maps, STIR's points drawn on the clip's last frame.
    let examples = |kind: &str| html.matches(&format!("class=\"example {kind}\"")).count();
    assert_eq!(
        (examples("series"), examples("maps"), examples("tracks")),
        (3, 1, 1)
    );
    // Drawn by a real browser, one task per page.
    let shot = |task: &str| {
        let mut one = results.clone();
        one.tasks.retain(|t| t.task == task);
        let page = dir.path().join(format!("{task}.html"));
        std::fs::write(&page, scivid::report::html::render(&one)).unwrap();
        Screenshot::of(&page, 1100, 2600)
    };
    let calms21 = shot("calms21");
    let heatmap = calms21.count_where(|[r, g, b]| b > 120 && b as i32 - r as i32 > 60 && g < 200);
    assert!(heatmap > 2000, "no confusion heatmap cells: {heatmap} px");
    let wb2 = shot("weatherbench2");
    let red = wb2.count_where(|[r, g, b]| r == 255 && g < 180 && b < 180);
    let blue = wb2.count_where(|[r, g, b]| b == 255 && r < 180 && g < 180);
    assert!(
        red > 200 && blue > 200,
        "maps not drawn: {red} red, {blue} blue px"
    );
    let stir = shot("stir");
    let linear = stir.count([0x1f, 0x77, 0xb4]);
    assert!(linear > 50, "no predicted points: {linear} px");
    let markdown = results.markdown();
    assert!(
        !markdown.contains("lead_") && !markdown.contains("AP/"),
        "{markdown}"
    );
    let summary = results.summary();
    for name in SCIVID_TASKS {
        assert!(summary.contains(&format!("| {name} |")), "{summary}");
    }
    assert!(
        summary.contains("rmse ↓") && summary.contains("mAP ↑"),
        "{summary}"
    );
}

#[test]
fn bad_dataset_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(None).unwrap();
    let check = |task: &str, d: &Path| {
        pipeline::check_dataset(&rt, &PluginRef::Builtin(task.into()), d, 100)
            .map(|_| ())
            .unwrap_err()
    };
    let spec = SynthSpec {
        train: 4,
        val: 2,
        test: 2,
        seed: 2,
    };

    // A truncated PNG frame.
    let fly = dir.path().join("fly");
    synth::write("flyvsfly", &fly, &spec).unwrap();
    let frame = fly.join("val/val-v0000/00003.png");
    let bytes = std::fs::read(&frame).unwrap();
    std::fs::write(&frame, &bytes[..bytes.len() / 2]).unwrap();
    let e = format!("{:#}", check("flyvsfly", &fly));
    assert!(
        e.contains("val-v0000/00003.png") && e.contains("cannot decode"),
        "{e}"
    );

    // A label the task does not know: the file and line are named.
    let csv = fly.join("train/clips.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let first = text.lines().nth(1).unwrap().to_string();
    let (head, _) = first.rsplit_once(',').unwrap();
    std::fs::write(&csv, text.replace(&first, &format!("{head},dancing"))).unwrap();
    let e = format!("{:#}", check("flyvsfly", &fly));
    assert!(
        e.contains("/data/train/clips.csv line 2") && e.contains("unknown label `dancing`"),
        "{e}"
    );

    // Frames of the wrong dtype (float64 where float32 kelvin are expected).
    let ty = dir.path().join("ty");
    synth::write("typhoon", &ty, &spec).unwrap();
    let npy = ty.join("test/test-0000.npy");
    let mut bytes = std::fs::read(&npy).unwrap();
    let at = bytes.windows(4).position(|w| w == b"'<f4").unwrap();
    bytes[at + 3] = b'8';
    std::fs::write(&npy, bytes).unwrap();
    let e = format!("{:#}", check("typhoon", &ty));
    assert!(e.contains("test-0000.npy") && e.contains("<f8"), "{e}");

    // A missing split.
    std::fs::remove_dir_all(ty.join("val")).unwrap();
    let e = format!("{:#}", check("typhoon", &ty));
    assert!(e.contains("val/sequences.csv"), "{e}");
}

#[test]
fn stir_targets_come_from_whole_tracks_and_the_tracking_head_trains_only_on_stir() {
    let dir = tempfile::tempdir().unwrap();
    let small = SynthSpec {
        train: 8,
        val: 4,
        test: 4,
        seed: 3,
    };
    let (stir, fly) = (dir.path().join("stir"), dir.path().join("fly"));
    synth::write("stir", &stir, &small).unwrap();
    synth::write("flyvsfly", &fly, &small).unwrap();

    // Targets are [16 frames, 34 points, (x, y, visible, known)]: the
    // synthetic training split knows every frame (and some occlusions by
    // the instrument), the STIR-like test split the queries (frame 0) and
    // the last frame.
    let rt = Runtime::new(None).unwrap();
    let mut t = task(&rt, "stir", Some(&stir));
    let mut known_frames = |split: &str| -> Vec<usize> {
        let clips = t.index(split).unwrap();
        let target = values(&clips[0].target);
        (0..16)
            .filter(|f| (0..34).any(|p| target[(f * 34 + p) * 4 + 3] == 1.0))
            .collect()
    };
    assert_eq!(known_frames("train"), (0..16).collect::<Vec<_>>());
    assert_eq!(known_frames("test"), vec![0, 15]);
    let hidden: usize = t
        .index("train")
        .unwrap()
        .iter()
        .map(|c| {
            values(&c.target)
                .chunks(4)
                .filter(|v| v[3] == 1.0 && v[2] == 0.0)
                .count()
        })
        .sum();
    assert!(hidden > 0, "the instrument hides some tracked points");

    // A bad visibility flag is named with its file and line.
    let tracks = stir.join("train/train-v0000/tracks.csv");
    let text = std::fs::read_to_string(&tracks).unwrap();
    std::fs::write(&tracks, text.replacen(",1\n", ",2\n", 1)).unwrap();
    let e = t.index("train").unwrap_err().to_string();
    assert!(
        e.contains("train-v0000/tracks.csv line") && e.contains("not 0 or 1"),
        "{e}"
    );
    std::fs::write(&tracks, text).unwrap();

    let mut spec = RunSpec::default_run(dir.path().join("out"));
    spec.tasks = vec![
        PluginRef::Builtin("flyvsfly".into()),
        PluginRef::Builtin("stir".into()),
    ];
    spec.task_data = vec![("flyvsfly".into(), fly), ("stir".into(), stir)];
    spec.heads = vec![
        HeadSpec::parse("linear").unwrap(),
        HeadSpec::parse("flat=linear@!stir:pool=flatten").unwrap(),
        HeadSpec::parse("tracking@stir:width=16,heads=2,tiles=2,embed=8").unwrap(),
    ];
    spec.protocol.steps = Some(4);
    spec.bootstrap = 0;
    spec.progress = false;
    spec.cache_dir = None;
    let results = pipeline::run(&spec).unwrap();
    let heads = |i: usize| -> Vec<&str> {
        results.tasks[i]
            .heads
            .iter()
            .map(|h| h.head.as_str())
            .collect()
    };
    assert_eq!(heads(0), ["linear", "flat"], "flyvsfly has no query points");
    assert_eq!(heads(1), ["linear", "tracking"]);
    let tracking = &results.tasks[1].heads[1];
    assert!(tracking.error.is_none(), "{:?}", tracking.error);
    assert!(tracking.final_train_loss.unwrap().is_finite());
    assert!(tracking.scores["test"]["accuracy"].is_finite());
}

/// A target the task gave as values.
fn values(t: &scivid::runtime::bindings::ClipTarget) -> &[f32] {
    match t {
        scivid::runtime::bindings::ClipTarget::Values(v) => v,
        other => panic!("expected target values, found {other:?}"),
    }
}

/// FlyVsFly on SciVid's released layout: ArrayRecord shards of
/// SequenceExamples written by Google's writer
/// (`tests/fixtures/array_record_fixtures.py`). The plugin indexes each
/// record's labels, the host decodes its PNG frames, and a run trains on them.
#[test]
fn flyvsfly_reads_scivids_released_array_record_shards() {
    use scivid::runtime::bindings::{FrameSampling, MediaSource};
    let data = crate::common::repo_root().join("tests/fixtures/array-record/flyvsfly");
    let rt = Runtime::new(None).unwrap();
    let mut t = task(&rt, "flyvsfly", Some(&data));
    let train = t.index("train").unwrap();
    assert_eq!(train.len(), 28, "two shards of 14");
    for c in &train {
        let MediaSource::SequenceExample(s) = &c.source else {
            panic!("{}: {:?}", c.id, c.source);
        };
        // The fixture writes record i of shard k as example 2i + k, label (2i + k) % 7.
        let shard: u64 = if s.shard.contains("-00001-of-") { 1 } else { 0 };
        let label = ((2 * s.index + shard) % 7) as usize;
        let target = values(&c.target);
        assert_eq!(target[label], 1.0, "{}", c.id);
        assert_eq!(target.iter().sum::<f32>(), 1.0, "{}", c.id);
        let FrameSampling::Indices(frames) = &c.sampling else {
            panic!("{}: {:?}", c.id, c.sampling);
        };
        assert_eq!(frames.len(), 8, "the records hold 8 frames");
    }
    assert_eq!(clip_counts(&rt, "flyvsfly", &data), [28, 14, 14]);

    let dir = tempfile::tempdir().unwrap();
    let mut spec = crate::common::quick_spec(dir.path(), &["linear"], 60);
    spec.tasks = vec![PluginRef::Builtin("flyvsfly".into())];
    spec.data = Some(data.clone());
    spec.bootstrap = 0;
    let r = scivid::pipeline::run(&spec).unwrap();
    let t = &r.tasks[0];
    assert!(t.error.is_none(), "{:?}", t.error);
    assert!(t.heads[0].error.is_none(), "{:?}", t.heads[0].error);
    let map = t.heads[0].scores.get("test").and_then(|s| s.get("mAP"));
    assert!(
        map.is_some_and(|v| v.is_finite()),
        "{:?}",
        t.heads[0].scores
    );

    // A damaged shard: the error names the file and the record.
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    for e in std::fs::read_dir(data.join("full/fly_vs_fly")).unwrap() {
        let e = e.unwrap();
        let mut bytes = std::fs::read(e.path()).unwrap();
        if e.file_name().to_string_lossy().starts_with("val_") {
            bytes[5000] ^= 0x10;
        }
        std::fs::write(bad.join(e.file_name()), bytes).unwrap();
    }
    let e = check_dataset_error(&rt, &bad);
    assert!(
        e.contains("val_fly_split_ids_shuffle")
            && e.contains("record ")
            && e.contains("hash mismatch"),
        "{e}"
    );
    // A truncated shard (a download cut short): named, with what is missing.
    let name = "test_fly_split_ids_shuffle.array_record-00000-of-00001";
    let bytes = std::fs::read(data.join("full/fly_vs_fly").join(name)).unwrap();
    std::fs::write(bad.join(name), &bytes[..bytes.len() - 70_000]).unwrap();
    let val = "val_fly_split_ids_shuffle.array_record-00000-of-00001";
    std::fs::copy(data.join("full/fly_vs_fly").join(val), bad.join(val)).unwrap();
    let e = check_dataset_error(&rt, &bad);
    assert!(e.contains(name) && e.contains("truncated"), "{e}");
}

/// Clips per split as `scivid data check` counts them (it also decodes a few).
fn clip_counts(rt: &Runtime, task: &str, data: &Path) -> Vec<usize> {
    let checks = scivid::pipeline::check_dataset(rt, &PluginRef::Builtin(task.into()), data, 2);
    checks.unwrap().iter().map(|c| c.clips).collect()
}

fn check_dataset_error(rt: &Runtime, data: &Path) -> String {
    let r = scivid::pipeline::check_dataset(rt, &PluginRef::Builtin("flyvsfly".into()), data, 2);
    match r {
        Ok(_) => panic!("a damaged shard passed the check"),
        Err(e) => format!("{e:#}"),
    }
}

/// STIR on SciVid's released layout (`tests/fixtures/array_record_fixtures.py`):
/// STIR videos (JPEG frames, normalised start and end key points in the
/// context) give `val` and `test`, 16 frames spread over each whole video
/// by the host; MOVi videos (per-frame tracks as TensorFlow's serialized
/// tensors) give `train`, one clip per 16-frame window. A run trains the
/// tracking head on MOVi and is scored on STIR, the control's score equal
/// to one computed here from the records.
#[test]
fn stir_reads_scivids_released_stir_and_movi_shards() {
    use scivid::runtime::bindings::{FrameSampling, MediaSource};
    use scivid_records::{ArrayRecord, SequenceExample};
    let data = crate::common::repo_root().join("tests/fixtures/array-record/stir");
    let rt = Runtime::new(None).unwrap();
    let mut t = task(&rt, "stir", Some(&data));
    assert_eq!(t.splits().unwrap(), ["train", "val", "test"]);
    let slot = |target: &[f32], frame: usize, point: usize| -> [f32; 4] {
        target[(frame * 34 + point) * 4..][..4].try_into().unwrap()
    };

    // STIR: queries and end points straight from the records' context.
    let mut control_distances = vec![];
    for split in ["val", "test"] {
        let clips = t.index(split).unwrap();
        assert_eq!(clips.len(), 3, "{split}");
        for c in &clips {
            assert!(
                matches!(c.sampling, FrameSampling::Linspace(16)),
                "{}: {:?}",
                c.id,
                c.sampling
            );
            let MediaSource::SequenceExample(s) = &c.source else {
                panic!("{}: {:?}", c.id, c.source);
            };
            let record = ArrayRecord::open(&data.join(&s.shard))
                .unwrap()
                .get(s.index)
                .unwrap();
            let ex = SequenceExample::parse_context(&record).unwrap();
            let points = |p: &str| -> Vec<[f32; 2]> {
                let axis = |a: &str| {
                    let f = ex.context(&format!("{p}/object/keypoint/{a}")).unwrap();
                    f.floats().unwrap().to_vec()
                };
                axis("x")
                    .into_iter()
                    .zip(axis("y"))
                    .map(|(x, y)| [x, y])
                    .collect()
            };
            let (start, end) = (points("startir"), points("endir"));
            let target = values(&c.target);
            let queries = &c.extras[0].data;
            for (i, q) in start.iter().enumerate() {
                assert_eq!(&queries[2 * i..2 * i + 2], q, "{} query {i}", c.id);
                assert_eq!(slot(target, 0, i), [q[0], q[1], 1.0, 1.0], "{}", c.id);
            }
            assert!(queries[2 * start.len()..].iter().all(|&v| v == -1.0));
            for i in 0..34 {
                let want = match end.get(i) {
                    Some(e) => [e[0], e[1], 1.0, 1.0],
                    None => [-1.0, -1.0, 0.0, 0.0],
                };
                assert_eq!(slot(target, 15, i), want, "{} end point {i}", c.id);
            }
            if split == "val" {
                // The control predicts each query where it started.
                let px = |p: &[f32; 2]| {
                    [
                        (p[0] as f64 * 1280.0).round(),
                        (p[1] as f64 * 1024.0).round(),
                    ]
                };
                for q in &start {
                    let d = end
                        .iter()
                        .map(|e| {
                            let (a, b) = (px(q), px(e));
                            ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
                        })
                        .fold(f64::INFINITY, f64::min);
                    control_distances.push(d);
                }
            }
        }
        if split == "val" {
            assert!(
                clips.iter().any(|c| {
                    let t = values(&c.target);
                    (0..34).any(|i| slot(t, 0, i)[3] == 1.0 && slot(t, 15, i)[3] == 0.0)
                }),
                "the fixture has a video with fewer end points than queries"
            );
        }
    }
    let input = scivid::runtime::bindings::InputSpec {
        frames: 16,
        height: 32,
        width: 40,
        channels: 3,
    };
    let val = t.index("val").unwrap();
    let frames = scivid::data::clips::decode(&data, &val[0], &input, 0).unwrap();
    assert_eq!(frames.len(), 16 * 32 * 40 * 3);

    // MOVi: each known slot follows one track of the record through the
    // window, visible where it is queried.
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("movi_expected.json")).unwrap())
            .unwrap();
    let train = t.index("train").unwrap();
    assert_eq!(train.len(), 4 * 9, "4 videos of 24 frames, 9 windows each");
    for c in &train {
        let MediaSource::SequenceExample(s) = &c.source else {
            panic!("{}: {:?}", c.id, c.source);
        };
        let shard = s.shard.contains("-00001-of-") as u64;
        let video = expected
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["shard"] == shard && v["index"] == s.index)
            .unwrap();
        let FrameSampling::Indices(frames) = &c.sampling else {
            panic!("{}: {:?}", c.id, c.sampling);
        };
        let first = frames[0] as usize;
        assert_eq!(
            *frames,
            (first as u32..first as u32 + 16).collect::<Vec<_>>()
        );
        let at = |k: usize, j: usize| -> [f32; 3] {
            let p = &video["tracks"][first + k][j];
            let v = video["visible"][first + k][j].as_f64().unwrap() as f32;
            [
                p[0].as_f64().unwrap() as f32,
                p[1].as_f64().unwrap() as f32,
                v,
            ]
        };
        let target = values(&c.target);
        let mut used = std::collections::BTreeSet::new();
        for i in (0..34).filter(|&i| slot(target, 0, i)[3] == 1.0) {
            let q = slot(target, 0, i);
            let j = (0..40)
                .find(|&j| !used.contains(&j) && at(0, j) == [q[0], q[1], 1.0])
                .unwrap_or_else(|| panic!("{} slot {i}: no visible track at {q:?}", c.id));
            used.insert(j);
            for k in 0..16 {
                let [x, y, v] = at(k, j);
                assert_eq!(
                    slot(target, k, i),
                    [x, y, v, 1.0],
                    "{} slot {i} frame {k}",
                    c.id
                );
            }
            assert_eq!(&c.extras[0].data[2 * i..2 * i + 2], &[q[0], q[1]]);
        }
        assert!(
            !used.is_empty() && used.len() <= 34,
            "{}: {}",
            c.id,
            used.len()
        );
    }

    assert_eq!(clip_counts(&rt, "stir", &data), [36, 3, 3]);

    let dir = tempfile::tempdir().unwrap();
    let mut spec = crate::common::quick_spec(dir.path(), &[], 20);
    spec.heads = vec![HeadSpec::parse("tracking:width=16,heads=2,tiles=2,embed=8").unwrap()];
    spec.tasks = vec![PluginRef::Builtin("stir".into())];
    spec.data = Some(data.clone());
    spec.bootstrap = 0;
    spec.cache_dir = None;
    let r = scivid::pipeline::run(&spec).unwrap();
    let t = &r.tasks[0];
    assert!(t.error.is_none(), "{:?}", t.error);
    assert!(t.heads[0].error.is_none(), "{:?}", t.heads[0].error);
    assert!(t.heads[0].scores["test"]["accuracy"].is_finite());
    let thresholds = [4.0, 8.0, 16.0, 32.0, 64.0];
    let want = thresholds
        .iter()
        .map(|&th| {
            control_distances.iter().filter(|&&d| d <= th).count() as f64
                / control_distances.len() as f64
        })
        .sum::<f64>()
        / 5.0;
    let got = t.control["val"]["accuracy"];
    assert!(
        (got - want).abs() < 1e-9,
        "control accuracy {got}, by hand {want}"
    );

    // STIR without MOVi beside it: the train split says what is missing.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(bare.join("full")).unwrap();
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    };
    copy(&data.join("full/stir"), &bare.join("full/stir"));
    let mut t = task(&rt, "stir", Some(&bare));
    let e = t.index("train").unwrap_err().to_string();
    assert!(e.contains("full/movi") && e.contains("MOVi"), "{e}");
}

/// WeatherBench 2 on SciVid's own store layout (written by xarray,
/// `tests/fixtures/wb2_scivid_store.py`): the plugin reads the CF `time`
/// coordinate and takes SciVid's date-range splits; the windows equal those
/// SciVid's reader arithmetic takes through xarray's selection (730 of
/// 2018, 732 of 2020, as SciVid counts them), and the host reads inputs and
/// targets from the [time, lat, lon] arrays.
#[test]
fn weatherbench2_takes_scivids_windows_from_its_store() {
    use scivid::runtime::bindings::{ClipTarget, FrameSampling, InputSpec};
    let data = crate::common::repo_root().join("tests/fixtures/weatherbench2-scivid");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("expected.json")).unwrap())
            .unwrap();
    let indices = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    let rt = Runtime::new(None).unwrap();
    let mut t = task(&rt, "weatherbench2", Some(&data));
    assert_eq!(t.info.target_shape, [16, 3, 3, 4], "the store's 3 x 4 grid");
    let mut test = vec![];
    for split in ["train", "val", "test"] {
        let clips = t.index(split).unwrap();
        let want = &expected[split];
        assert_eq!(
            clips.len() as u64,
            want["count"].as_u64().unwrap(),
            "{split}"
        );
        for (clip, which) in [(&clips[0], "first"), (clips.last().unwrap(), "last")] {
            let frames = indices(&want[which]);
            let FrameSampling::Indices(got) = &clip.sampling else {
                panic!("{}: {:?}", clip.id, clip.sampling);
            };
            assert_eq!(got[..], frames[..16], "{split} {which} window's inputs");
            let ClipTarget::Frames(target) = &clip.target else {
                panic!("{}: {:?}", clip.id, clip.target);
            };
            assert_eq!(
                target.frames[..],
                frames[16..],
                "{split} {which} window's targets"
            );
            assert_eq!(target.minus_frame, Some(frames[15]));
            assert_eq!(clip.id, want[format!("{which}_times")][0].as_str().unwrap());
        }
        if split == "test" {
            test = clips;
        }
    }

    // The host's reading: z500 of the last input frame z-scored, and the
    // first target frame as a residual over z500's residual std.
    let input = InputSpec {
        frames: 16,
        height: 3,
        width: 4,
        channels: 3,
    };
    let frames = scivid::data::clips::decode(&data, &test[0], &input, 0).unwrap();
    let target = scivid::data::clips::read_target(&data, &test[0]).unwrap();
    let floats = |k: &str| -> Vec<f64> {
        expected[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (last, next) = (
        floats("test_z500_last_input"),
        floats("test_z500_first_target"),
    );
    for cell in 0..12 {
        let z = frames[(15 * 12 + cell) * 3] as f64;
        let want = (last[cell] - 54088.7) / 3358.65;
        assert!((z - want).abs() < 1e-4, "cell {cell}: {z} vs {want}");
        let r = target[cell] as f64;
        let want = (next[cell] - last[cell]) / 404.19;
        assert!((r - want).abs() < 1e-4, "cell {cell}: {r} vs {want}");
    }
    assert_eq!(clip_counts(&rt, "weatherbench2", &data), [62, 730, 732]);

    // A time axis without its CF units: named, not guessed.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir
        .path()
        .join("full/weatherbench/weatherbench2_3variable_dataset.zarr");
    let from = data.join("full/weatherbench/weatherbench2_3variable_dataset.zarr");
    for e in walk(&from) {
        let to = copy.join(e.strip_prefix(&from).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&e, &to).unwrap();
    }
    std::fs::write(
        copy.join("time/.zattrs"),
        r#"{"_ARRAY_DIMENSIONS": ["time"]}"#,
    )
    .unwrap();
    let mut t = task(&rt, "weatherbench2", Some(dir.path()));
    let e = t.index("test").unwrap_err().to_string();
    assert!(
        e.contains("weatherbench2_3variable_dataset.zarr/time") && e.contains("units"),
        "{e}"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// CalMS21 on SciVid's released layout (`calms21_slim`, grayscale frames):
/// indexed from the records' labels, decoded by the host.
#[test]
fn calms21_reads_scivids_released_array_record_shards() {
    let data = crate::common::repo_root().join("tests/fixtures/array-record/calms21");
    let rt = Runtime::new(None).unwrap();
    let mut t = task(&rt, "calms21", Some(&data));
    let train = t.index("train").unwrap();
    assert_eq!(train.len(), 16);
    for (i, c) in train.iter().enumerate() {
        assert_eq!(values(&c.target)[i % 4], 1.0, "{}", c.id);
        assert!(c.id.contains("downsample16"), "{}", c.id);
    }
    assert_eq!(clip_counts(&rt, "calms21", &data), [16, 8, 8]);
}

/// Digital Typhoon windows as SciVid's `process_idx` takes them: a
/// 27-step training sequence gives the starts SciVid draws (below
/// min(27, 32) - 24 = 3), a 20-step test sequence one window whose steps
/// past the end repeat the last one (frames and pressures alike).
#[test]
fn typhoon_windows_follow_scivids_sampling_and_padding() {
    let dir = tempfile::tempdir().unwrap();
    for (split, steps) in [("train", 27usize), ("val", 40), ("test", 20)] {
        std::fs::create_dir_all(dir.path().join(split)).unwrap();
        let frames: Vec<f32> = (0..steps * 4).map(|i| 200.0 + i as f32).collect();
        scivid::data::npy::write_f32(
            &dir.path().join(split).join("s.npy"),
            &[steps, 2, 2, 1],
            &frames,
        )
        .unwrap();
        let pressures: Vec<String> = (0..steps).map(|t| format!("{}", 1000 - t)).collect();
        std::fs::write(
            dir.path().join(split).join("sequences.csv"),
            format!("id,file,pressures\ns,s.npy,{}\n", pressures.join(";")),
        )
        .unwrap();
    }
    let rt = Runtime::new(None).unwrap();
    let mut t = task(&rt, "typhoon", Some(dir.path()));
    let ids: Vec<String> = t
        .index("train")
        .unwrap()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(ids, ["s@0", "s@1", "s@2"]);
    assert_eq!(
        t.index("val").unwrap().len(),
        1,
        "evaluation starts at 0 only"
    );
    let test = t.index("test").unwrap();
    let scivid::runtime::bindings::FrameSampling::Indices(frames) = &test[0].sampling else {
        panic!("{:?}", test[0].sampling);
    };
    assert_eq!(*frames, (0..12).collect::<Vec<u32>>());
    let want: Vec<f32> = (12..24)
        .map(|k: usize| (1000 - k.min(19)) as f32 - 983.91)
        .collect();
    assert_eq!(
        values(&test[0].target),
        want.as_slice(),
        "the last pressure repeats"
    );
}

/// Digital Typhoon on SciVid's released layout: per-step float lists of
/// infrared (kelvin) decoded by the host with the task's value map, targets
/// and the control's last pressure from the `pressure` list.
#[test]
fn typhoon_reads_scivids_released_array_record_shards() {
    use scivid::runtime::bindings::InputSpec;
    use scivid_records::{ArrayRecord, SequenceExample};
    let data = crate::common::repo_root().join("tests/fixtures/array-record/typhoon");
    let rt = Runtime::new(None).unwrap();
    let mut t = task(&rt, "typhoon", Some(&data));
    let train = t.index("train").unwrap();
    // SciVid draws a start below min(26, 32) - 24 = 2: starts 0 and 1.
    assert_eq!(train.len(), 6, "3 sequences x 2 starts (26 steps)");
    let shard = data.join(
        "full/digital_typhoon_slim/train_imsize_256_max_frames_32.array_record-00000-of-00001",
    );
    let record = ArrayRecord::open(&shard).unwrap().get(1).unwrap();
    let ex = SequenceExample::parse(&record).unwrap();
    let pressures: Vec<f32> = ex
        .list("pressure")
        .unwrap()
        .iter()
        .map(|f| f.floats().unwrap()[0])
        .collect();
    let clip = train.iter().find(|c| c.id == "train-storm1@1").unwrap();
    let want: Vec<f32> = pressures[13..25].iter().map(|p| p - 983.91).collect();
    assert_eq!(values(&clip.target), want.as_slice());
    assert_eq!(clip.extras[0].data, vec![pressures[12] - 983.91]);

    let input = InputSpec {
        frames: 12,
        height: 8,
        width: 8,
        channels: 1,
    };
    let frames = scivid::data::clips::decode(&data, clip, &input, 0).unwrap();
    let infrared = ex.list("image/infrared").unwrap();
    for k in 0..12 {
        let raw = infrared[1 + k].floats().unwrap();
        for (i, v) in raw.iter().enumerate() {
            let want = (v.clamp(170.0, 300.0) - 170.0) / 130.0;
            let got = &frames[(k * 64 + i) * 3..][..3];
            assert!(
                got.iter().all(|g| (g - want).abs() < 1e-6),
                "frame {k} pixel {i}"
            );
        }
    }
}
