//! Self-checks of a plugin, as a list of named [`Check`]s that each pass
//! or fail with a reason. Every check runs through the same runtime and
//! sandbox as a real run (nothing is granted beyond it), so a plugin that
//! passes here behaves the same way in an evaluation.

use crate::pipeline::{PluginRef, check_dataset};
use crate::runtime::bindings::{FeatureSpec, Grant, SampledClip, TaskKind};
use crate::runtime::{Budgets, LoadedComponent, PluginKind, Runtime, TaskPlugin};
use crate::tensor::{DynTensor, default_device};
use anyhow::{Context, Result};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::path::Path;

/// One named check and its outcome: `Ok(detail)` or `Err(reason)`.
pub struct Check {
    pub name: &'static str,
    pub outcome: Result<String, String>,
}

/// The checks of one plugin.
pub struct Report {
    pub plugin: String,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome.is_ok())
    }

    fn add(&mut self, name: &'static str, outcome: Result<String, String>) -> bool {
        let ok = outcome.is_ok();
        self.checks.push(Check { name, outcome });
        ok
    }

    /// A Markdown table, then one line: passed, or how many failed.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{}\n\n| check | result | detail |\n|---|---|---|\n",
            self.plugin
        );
        for c in &self.checks {
            let (mark, text) = match &c.outcome {
                Ok(d) => ("ok", d.as_str()),
                Err(e) => ("FAILED", e.as_str()),
            };
            out.push_str(&format!(
                "| {} | {mark} | {} |\n",
                c.name,
                text.replace('|', "\\|")
            ));
        }
        let failed = self.checks.iter().filter(|c| c.outcome.is_err()).count();
        if failed == 0 {
            out.push_str(&format!("\nall {} checks passed\n", self.checks.len()));
        } else {
            out.push_str(&format!(
                "\n{failed} of {} checks failed\n",
                self.checks.len()
            ));
        }
        out
    }
}

/// What a readout is exercised with by `plugins check`: the target shape
/// it is built for and the extra inputs it receives (per-clip shapes,
/// random values in [0, 1]).
#[derive(Debug, Clone)]
pub struct ReadoutProbe {
    pub output: Vec<u32>,
    pub extras: Vec<(String, Vec<usize>)>,
    /// The readout's configuration (its defaults where not given).
    pub config: Vec<(String, String)>,
}

impl Default for ReadoutProbe {
    fn default() -> Self {
        ReadoutProbe {
            output: vec![3],
            extras: vec![],
            config: vec![],
        }
    }
}

impl ReadoutProbe {
    /// `--output 16,34,4`, `--extra NAME=34,2` and `--config KEY=VALUE` as typed.
    pub fn parse(output: &[u32], extras: &[String], config: &[String]) -> Result<Self> {
        let mut probe = ReadoutProbe::default();
        for kv in config {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--config `{kv}`: expected KEY=VALUE"))?;
            probe
                .config
                .push((k.trim().to_string(), v.trim().to_string()));
        }
        if !output.is_empty() {
            probe.output = output.to_vec();
        }
        for e in extras {
            let (name, shape) = e
                .split_once('=')
                .with_context(|| format!("--extra `{e}`: expected NAME=D1,D2,..."))?;
            let shape = shape
                .split(',')
                .map(|d| d.trim().parse::<usize>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .with_context(|| format!("--extra `{e}`: dimensions must be whole numbers"))?;
            probe.extras.push((name.to_string(), shape));
        }
        Ok(probe)
    }
}

/// `scivid plugins check`: the component against the SDK, without data.
pub fn check(rt: &Runtime, plugin: &PluginRef, probe: &ReadoutProbe) -> Result<Report> {
    let mut report = Report {
        plugin: plugin.name(),
        checks: vec![],
    };
    let component = match plugin.load(rt) {
        Ok(c) => c,
        Err(e) => {
            report.add("component", Err(format!("{e:#}")));
            return Ok(report);
        }
    };
    report.plugin = component.origin.clone();
    report.add(
        "component",
        Ok(format!(
            "a {} component built with SDK {} (host SDK {}), sha256 {}",
            component.kind,
            component.sdk_version,
            crate::runtime::sdk_version::HOST_SDK_VERSION,
            &component.sha256[..16]
        )),
    );
    match component.kind {
        PluginKind::Task => check_task(rt, &component, &mut report),
        PluginKind::Readout => check_readout(rt, &component, probe, &mut report),
    }
    Ok(report)
}

/// `scivid plugins test`: `check`, then a task's behaviour on `data`.
pub fn test(rt: &Runtime, plugin: &PluginRef, data: Option<&Path>) -> Result<Report> {
    let mut report = check(rt, plugin, &ReadoutProbe::default())?;
    if !report.passed() {
        return Ok(report);
    }
    let component = plugin.load(rt)?;
    match (component.kind, data) {
        (PluginKind::Task, Some(dir)) => test_task(rt, plugin, &component, dir, &mut report),
        (PluginKind::Task, None) => {
            report.add(
                "data",
                Err("testing a task needs its data: pass --data DIR".into()),
            );
        }
        (PluginKind::Readout, _) => {}
    }
    Ok(report)
}

fn random(shape: &[usize], rng: &mut StdRng) -> DynTensor {
    random_in(shape, -1.0..1.0, rng)
}

/// Values in [0, 1), as normalised coordinates are.
fn random_unit(shape: &[usize], rng: &mut StdRng) -> DynTensor {
    random_in(shape, 0.0..1.0, rng)
}

fn random_in(shape: &[usize], range: std::ops::Range<f32>, rng: &mut StdRng) -> DynTensor {
    let n = shape.iter().product();
    let data = (0..n).map(|_| rng.random_range(range.clone())).collect();
    DynTensor::from_vec(data, shape, &default_device()).expect("valid shape")
}

fn check_task(rt: &Runtime, c: &LoadedComponent, report: &mut Report) {
    let mut task = match rt.instantiate_task(c, None, 0, &Budgets::default()) {
        Ok(t) => t,
        Err(e) => {
            report.add("info", Err(format!("{e:#}")));
            return;
        }
    };
    let i = task.info.clone();
    report.add(
        "info",
        Ok(format!(
            "`{}` {} ({}): input {}x{}x{}x{}, target {:?}, primary metric {} ({} is better) among {:?}",
            i.name,
            i.version,
            format!("{:?}", i.kind).rsplit("::").next().unwrap_or("").to_lowercase(),
            i.input.frames,
            i.input.height,
            i.input.width,
            i.input.channels,
            i.target_shape,
            i.primary_metric,
            if i.higher_is_better {
                "higher"
            } else {
                "lower"
            },
            i.metrics
        )),
    );
    let grants: Vec<&str> = i
        .grants
        .iter()
        .map(|g| match g {
            Grant::DatasetRead => "dataset-read (its dataset directory, read-only)",
        })
        .collect();
    report.add(
        "grants",
        Ok(if grants.is_empty() {
            "none".into()
        } else {
            grants.join(", ")
        }),
    );
    let splits = match task.splits() {
        Ok(s) if s.len() < 2 => Err(format!(
            "{s:?}: a task needs a training split first and at least one split to evaluate on"
        )),
        Ok(s) => Ok(s),
        Err(e) => Err(e.to_string()),
    };
    let Ok(splits) = report_value(report, "splits", splits, |s| {
        format!("{} (trains on `{}`)", s.join(", "), s[0])
    }) else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(0);
    let mut shape = vec![8];
    shape.extend(i.target_shape.iter().map(|&d| d as usize));
    let targets = random(&shape, &mut rng).map(|t| t.abs());
    let preds = random(&shape, &mut rng).require_grad_leaf();
    let loss = task.loss(&preds, &targets).map_err(|e| e.to_string());
    report.add(
        "loss",
        loss.and_then(|l| {
            let v = l.to_vec()[0];
            if !v.is_finite() {
                return Err(format!("{v} on random predictions"));
            }
            if !l.is_tracked() {
                return Err(
                    "the loss does not depend on the predictions through host ops: nothing would train"
                        .into(),
                );
            }
            Ok(format!(
                "{v:.4} on random predictions, differentiable"
            ))
        }),
    );
    let metrics = task
        .evaluate(&splits[1], [(&preds.detached(), &targets)])
        .map_err(|e| e.to_string());
    report.add(
        "metrics",
        metrics.and_then(|m| {
            if let Some(bad) = m.iter().find(|m| !m.value.is_finite()) {
                return Err(format!(
                    "`{}` is {} on random predictions",
                    bad.name, bad.value
                ));
            }
            if !m.iter().any(|m| m.name == i.primary_metric) {
                return Err(format!(
                    "the primary metric `{}` is not among the returned {:?}",
                    i.primary_metric,
                    m.iter().map(|m| &m.name).collect::<Vec<_>>()
                ));
            }
            Ok(format!("{} metrics, finite on random predictions", m.len()))
        }),
    );
}

/// Record `r` under `name`, describing a success with `show`.
fn report_value<T>(
    report: &mut Report,
    name: &'static str,
    r: Result<T, String>,
    show: impl FnOnce(&T) -> String,
) -> Result<T, ()> {
    match r {
        Ok(v) => {
            report.add(name, Ok(show(&v)));
            Ok(v)
        }
        Err(e) => {
            report.add(name, Err(e));
            Err(())
        }
    }
}

/// A small feature spec to exercise a readout with (16 frames, as every
/// SciVid task reads).
const PROBE: FeatureSpec = FeatureSpec {
    time: 16,
    tokens: 16,
    dim: 32,
    grid_h: 4,
    grid_w: 4,
};

fn check_readout(rt: &Runtime, c: &LoadedComponent, probe: &ReadoutProbe, report: &mut Report) {
    let start = |seed| -> Result<crate::runtime::ReadoutPlugin, String> {
        let mut r = rt
            .instantiate_readout(c, seed, &Budgets::default())
            .map_err(|e| format!("{e:#}"))?;
        r.init(&probe.config, PROBE, &probe.output)
            .map_err(|e| e.to_string())?;
        Ok(r)
    };
    let mut readout = match rt.instantiate_readout(c, 0, &Budgets::default()) {
        Ok(r) => r,
        Err(e) => {
            report.add("info", Err(format!("{e:#}")));
            return;
        }
    };
    let i = readout.info.clone();
    report.add(
        "info",
        Ok(format!(
            "`{}` {}: options {}",
            i.name,
            i.version,
            if i.options.is_empty() {
                "none".to_string()
            } else {
                i.options
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )),
    );
    report.add("grants", Ok("none (readouts get no files)".into()));
    let init = readout
        .init(&probe.config, PROBE, &probe.output)
        .map_err(|e| {
            format!(
                "{e} (built for target shape {:?}; --output and --extra give a task's shapes)",
                probe.output
            )
        });
    if !report.add(
        "init",
        init.map(|_| {
            let total: usize = readout.params().iter().map(|p| p.value.numel()).sum();
            let config = if probe.config.is_empty() {
                "defaults".to_string()
            } else {
                let kv: Vec<String> = probe.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
                kv.join(", ")
            };
            format!(
                "{} parameters ({total} values) with {config}, for features [B, {}, {}, {}] -> [B, {}]",
                readout.params().len(),
                PROBE.time,
                PROBE.tokens,
                PROBE.dim,
                probe
                    .output
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
    ) {
        return;
    }
    let mut rng = StdRng::seed_from_u64(0);
    let features = random(
        &[
            2,
            PROBE.time as usize,
            PROBE.tokens as usize,
            PROBE.dim as usize,
        ],
        &mut rng,
    );
    let extras: Vec<(String, DynTensor)> = probe
        .extras
        .iter()
        .map(|(name, shape)| {
            let mut full = vec![2];
            full.extend(shape);
            (name.clone(), random_unit(&full, &mut rng))
        })
        .collect();
    let out = readout
        .forward(&features, &extras, true)
        .map_err(|e| e.to_string());
    let out = out.and_then(|o| {
        if o.to_vec().iter().all(|v| v.is_finite()) {
            Ok(o)
        } else {
            Err("predictions on random features are not finite (NaN or Inf)".into())
        }
    });
    let Ok(out) = report_value(report, "forward", out, |o| {
        format!("shape {:?}, finite", o.shape())
    }) else {
        return;
    };
    // d(sum(out * w))/d(param) must exist for every parameter.
    let w = random(out.shape(), &mut rng);
    let loss = DynTensor::from_burn(out.value().clone().mul(w.value().clone()).sum());
    let missing: Vec<String> = if loss.is_tracked() {
        let grads = loss.backward();
        readout
            .params()
            .iter()
            .filter(|p| p.value.grad(&grads).is_none())
            .map(|p| p.name.clone())
            .collect()
    } else {
        readout.params().iter().map(|p| p.name.clone()).collect()
    };
    report.add(
        "gradients",
        if missing.is_empty() {
            Ok("every parameter receives a gradient".into())
        } else {
            Err(format!(
                "no gradient reaches {} (values read out and rebuilt break the graph)",
                missing.join(", ")
            ))
        },
    );
    let again = start(0).and_then(|mut r| {
        let a = readout
            .forward(&features, &extras, false)
            .map_err(|e| e.to_string())?;
        let b = r
            .forward(&features, &extras, false)
            .map_err(|e| e.to_string())?;
        let bits = |t: &DynTensor| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        if bits(&a) == bits(&b) {
            Ok("two instances with one seed predict the same".to_string())
        } else {
            Err("two instances with the same seed predict differently".into())
        }
    });
    report.add("determinism", again);
}

/// Predictions a task should score perfectly on: the targets themselves,
/// as confident logits for classification.
fn perfect(kind: TaskKind, targets: &DynTensor) -> DynTensor {
    match kind {
        TaskKind::Classification | TaskKind::Multilabel => {
            targets.map(|t| t.mul_scalar(20.0).sub_scalar(10.0))
        }
        _ => targets.clone(),
    }
}

fn test_task(
    rt: &Runtime,
    plugin: &PluginRef,
    c: &LoadedComponent,
    dir: &Path,
    report: &mut Report,
) {
    let splits = check_dataset(rt, plugin, dir, 4).map_err(|e| format!("{e:#}"));
    let Ok(_) = report_value(report, "index and decode", splits, |s| {
        s.iter()
            .map(|c| {
                format!(
                    "{}: {} clips in {} groups, {} decoded in [{:.3}, {:.3}]",
                    c.split, c.clips, c.groups, c.decoded, c.value_range.0, c.value_range.1
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }) else {
        return;
    };
    let run = || -> Result<Indexed, String> {
        let mut task = rt
            .instantiate_task(c, Some(dir), 0, &Budgets::default())
            .map_err(|e| format!("{e:#}"))?;
        scores(&mut task)
    };
    let first = run();
    let Ok((clips, scored)) = first else {
        report.add("scores", Err(first.err().unwrap_or_default()));
        return;
    };
    let mut info_task = match rt.instantiate_task(c, Some(dir), 0, &Budgets::default()) {
        Ok(t) => t,
        Err(e) => {
            report.add("scores", Err(format!("{e:#}")));
            return;
        }
    };
    let info = info_task.info.clone();
    let mut rng = StdRng::seed_from_u64(1);
    let train_targets = match info_task.targets(&clips[0]) {
        Ok(t) => t,
        Err(e) => {
            report.add("scores", Err(format!("{e:#}")));
            return;
        }
    };
    let rows = train_targets.shape()[0].min(32);
    let batch = train_targets.select_rows(&(0..rows).collect::<Vec<_>>());
    let preds = random(batch.shape(), &mut rng);
    report.add(
        "loss on data",
        match info_task.loss(&preds, &batch) {
            Ok(l) if l.to_vec()[0].is_finite() => Ok(format!(
                "{:.4} on random predictions for {rows} training clips",
                l.to_vec()[0]
            )),
            Ok(l) => Err(format!("{} on random predictions", l.to_vec()[0])),
            Err(e) => Err(e.to_string()),
        },
    );
    let primary = info.primary_metric.clone();
    let mut ordered = Ok(vec![]);
    for (split, perfect, control) in &scored {
        let idx = info.metrics.iter().position(|m| *m == primary);
        let (Some(p), Some(c)) = (
            idx.and_then(|i| perfect.get(i)),
            idx.and_then(|i| control.get(i)),
        ) else {
            continue;
        };
        if perfect.iter().chain(control).any(|v| !v.is_finite()) {
            ordered = Err(format!("split `{split}`: a metric is not finite"));
            break;
        }
        let better = if info.higher_is_better {
            p >= c
        } else {
            p <= c
        };
        if !better {
            ordered = Err(format!(
                "split `{split}`: perfect predictions score {primary} = {p}, worse than the control's {c}: check the metric and its direction"
            ));
            break;
        }
        if let Ok(v) = ordered.as_mut() {
            v.push(format!("{split}: perfect {p:.4}, control {c:.4}"));
        }
    }
    report.add(
        "metrics on perfect and control predictions",
        ordered.map(|v| format!("{primary}: {}", v.join("; "))),
    );
    report.add(
        "determinism",
        match run() {
            // Debug text: clip specs have no PartialEq, and NaN == NaN there.
            Ok((clips2, scored2))
                if format!("{clips2:?}") == format!("{clips:?}")
                    && format!("{scored2:?}") == format!("{scored:?}") =>
            {
                Ok("a second instance indexes the same clips and scores the same".into())
            }
            Ok((clips2, _)) if format!("{clips2:?}") != format!("{clips:?}") => {
                Err("a second instance indexes different clips".into())
            }
            Ok(_) => Err("a second instance scores the same predictions differently".into()),
            Err(e) => Err(e),
        },
    );
}

/// Every split's clips, and per evaluation split (name, metrics of perfect
/// predictions, metrics of the control), metrics in the task's order.
type Indexed = (Vec<Vec<SampledClip>>, Vec<(String, Vec<f64>, Vec<f64>)>);

fn scores(task: &mut TaskPlugin) -> Result<Indexed, String> {
    let splits = task.splits().map_err(|e| e.to_string())?;
    let mut clips = vec![];
    for s in &splits {
        clips.push(task.index(s).map_err(|e| e.to_string())?);
    }
    let train = task.targets(&clips[0]).map_err(|e| format!("{e:#}"))?;
    let mut out = vec![];
    for (s, list) in splits.iter().zip(&clips).skip(1) {
        let targets = task.targets(list).map_err(|e| format!("{e:#}"))?;
        let order = |m: Vec<crate::runtime::bindings::Metric>, names: &[String]| {
            names
                .iter()
                .map(|n| {
                    m.iter()
                        .find(|x| x.name == *n)
                        .map_or(f64::NAN, |x| x.value)
                })
                .collect::<Vec<f64>>()
        };
        let names = task.info.metrics.clone();
        let p = perfect(task.info.kind, &targets);
        let perfect = task
            .evaluate(s, [(&p, &targets)])
            .map_err(|e| e.to_string())?;
        let control = task.control(&train, list).map_err(|e| e.to_string())?;
        let control = task
            .evaluate(s, [(&control, &targets)])
            .map_err(|e| e.to_string())?;
        out.push((s.clone(), order(perfect, &names), order(control, &names)));
    }
    Ok((clips, out))
}
