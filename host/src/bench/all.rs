//! `scivid bench all`: every speed figure issue 7 asks for, in one run,
//! and — given the peer benchmarks' folder and a Python that has JAX and
//! onnxruntime — the peers on the same computations in the same run,
//! printed as ratios (the machines are shared: absolute times drift, ratios
//! measured side by side much less). The forward passes' repetitions
//! alternate with the peers' (and batch 4's with batch 1's), so that both
//! sides of a ratio see the machine at the same moments.

use super::peer::{PeerStepper, run_peer};
use super::readout::{ReadoutBench, readout};
use super::{BackboneBench, ForwardTimer, in_turn, median};
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::time::Duration;

/// The flags of `scivid bench all`.
#[derive(Debug, Clone, clap::Args)]
pub struct AllBench {
    /// The peer benchmarks' folder (`onnx_vit.py`, `vit_jax.py`,
    /// `readout_jax.py`); without it only scivid's figures are printed.
    #[arg(long)]
    pub peers: Option<PathBuf>,
    /// The Python that runs the peers (a venv with jax, flax, optax,
    /// onnx, onnxruntime).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Timed repetitions of each figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Run every figure, peers included, this many times over; each
    /// round's ratio is taken side by side, and the table gives their
    /// median and range (a shared machine's slow spells hit one round).
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
}

/// One figure: scivid's value, the peer's, and what the ratio should reach.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    pub what: String,
    pub unit: &'static str,
    pub scivid: f64,
    pub peer: Option<(String, f64)>,
    /// What issue 7 asks for, in words (`>= 1.1x` of the peer, ...).
    pub target: Option<&'static str>,
    /// Over several rounds: the median round's ratio to the peer (or
    /// scivid's value, for a figure without one) and the lowest and
    /// highest round's.
    pub rounds: Option<(f64, f64, f64)>,
}

impl Figure {
    /// scivid over the peer: the median of the rounds' ratios when there
    /// were several.
    pub fn ratio(&self) -> Option<f64> {
        let (_, p) = self.peer.as_ref()?;
        Some(self.rounds.map_or(self.scivid / p, |(median, ..)| median))
    }
}

/// Every figure, `b.rounds` times over, combined round by round.
pub fn all(b: &AllBench) -> Result<Vec<Figure>> {
    let rounds = b.rounds.max(1);
    let mut all_rounds = vec![];
    let mut first_peak = None;
    let mut steppers = b.peers.as_ref().map(|dir| Steppers {
        python: b.python.clone(),
        dir: dir.clone(),
        running: vec![],
    });
    for round in 0..rounds {
        if rounds > 1 {
            eprintln!("bench: round {} of {rounds}", round + 1);
        }
        all_rounds.push(one_round(b, &mut steppers, &mut first_peak)?);
    }
    Ok(combine(all_rounds))
}

/// One figure per position: the medians of scivid's and the peer's values
/// over the rounds, and the median and range of the per-round ratio.
fn combine(mut rounds: Vec<Vec<Figure>>) -> Vec<Figure> {
    if rounds.len() == 1 {
        return rounds.pop().unwrap_or_default();
    }
    let first = rounds[0].clone();
    first
        .into_iter()
        .enumerate()
        .map(|(i, mut f)| {
            let each: Vec<&Figure> = rounds.iter().map(|r| &r[i]).collect();
            let compared: Vec<f64> = each
                .iter()
                .map(|g| g.peer.as_ref().map_or(g.scivid, |(_, p)| g.scivid / p))
                .collect();
            let lo = compared.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = compared.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            f.rounds = Some((median(&compared), lo, hi));
            f.scivid = median(&each.iter().map(|g| g.scivid).collect::<Vec<_>>());
            if let Some((_, p)) = &mut f.peer {
                *p = median(
                    &each
                        .iter()
                        .filter_map(|g| g.peer.as_ref().map(|x| x.1))
                        .collect::<Vec<_>>(),
                );
            }
            f
        })
        .collect()
}

/// The peers' forward passes, each started the first time a round needs
/// it and kept for the rounds after (JAX compiles for half a minute).
struct Steppers {
    python: PathBuf,
    dir: PathBuf,
    running: Vec<((&'static str, &'static str), PeerStepper)>,
}

impl Steppers {
    /// The peers `runtimes` on ViT-`model`, in that order.
    fn for_model(
        &mut self,
        model: &'static str,
        runtimes: &[&'static str],
    ) -> Result<Vec<&mut PeerStepper>> {
        for &runtime in runtimes {
            if !self.running.iter().any(|(key, _)| *key == (runtime, model)) {
                let peer = PeerStepper::start(&self.python, &self.dir, runtime, model, 1)?;
                self.running.push(((runtime, model), peer));
            }
        }
        let mut found: Vec<_> = self
            .running
            .iter_mut()
            .filter(|((runtime, m), _)| *m == model && runtimes.contains(runtime))
            .collect();
        found.sort_by_key(|((runtime, _), _)| runtimes.iter().position(|r| r == runtime));
        Ok(found.into_iter().map(|(_, peer)| peer).collect())
    }
}

/// Before each timed repetition: the runtime that ran last goes quiet
/// (onnxruntime's workers spin on for about 50 ms of CPU after a run).
fn settle() {
    std::thread::sleep(Duration::from_millis(200));
}

/// Every figure once. `first_peak`: ViT-B's peak memory as the first
/// round measured it (a process's peak only grows: later rounds repeat it).
fn one_round(
    b: &AllBench,
    steppers: &mut Option<Steppers>,
    first_peak: &mut Option<f64>,
) -> Result<Vec<Figure>> {
    if let Some(dir) = &b.peers
        && !dir.join("readout_jax.py").is_file()
    {
        bail!(
            "{} has no readout_jax.py: --peers takes the reference benchmarks' folder",
            dir.display()
        );
    }
    let reps = b.reps.max(1);
    let mut figures = vec![];
    // (model, the peers' name for it, (peer runtime, its name, target) ...).
    let onnx = ("onnxruntime", "onnxruntime", ">= 1.1x");
    let jax = ("jax", "JAX", ">= 1.7x");
    for (model, peer_model, peers) in [
        ("videomae-b", "B", vec![onnx, jax]),
        ("videomae-s", "S", vec![onnx]),
    ] {
        let (peers, mut running) = match steppers {
            Some(steppers) => {
                let runtimes: Vec<_> = peers.iter().map(|(runtime, ..)| *runtime).collect();
                (peers, steppers.for_model(peer_model, &runtimes)?)
            }
            None => (vec![], vec![]),
        };
        eprintln!("bench: {model} forward, batch 1");
        let bench = BackboneBench {
            model: model.into(),
            weights: None,
            frames: 16,
            size: 224,
            batch: 1,
            reps,
            warmup: 1,
            device: Default::default(),
        };
        // scivid's repetitions and the peers' in turn, so that each figure
        // sees the machine at the same moments (its speed drifts by the
        // minute: run one after the other, the ratios of three rounds
        // spread from 0.77 to 1.36).
        let timer = ForwardTimer::new(&bench)?;
        let mut ours = vec![];
        let mut theirs = vec![vec![]; peers.len()];
        for rep in 0..reps {
            // scivid first, then the peers first, and so on.
            if rep % 2 == 0 {
                settle();
                ours.push(timer.rep()?);
            }
            for (peer, times) in running.iter_mut().zip(&mut theirs) {
                settle();
                times.push(peer.rep()?);
            }
            if rep % 2 == 1 {
                settle();
                ours.push(timer.rep()?);
            }
        }
        let r = timer.result(ours);
        for ((_, name, target), times) in peers.iter().zip(&theirs) {
            figures.push(Figure {
                what: format!("{model} forward (16x224x224, batch 1) vs {name}"),
                unit: "clips/s",
                scivid: r.clips_per_s,
                peer: Some((name.to_string(), 1.0 / median(times))),
                target: Some(target),
                rounds: None,
            });
        }
        if peers.is_empty() {
            figures.push(Figure {
                what: format!("{model} forward (16x224x224, batch 1)"),
                unit: "clips/s",
                scivid: r.clips_per_s,
                peer: None,
                target: None,
                rounds: None,
            });
        }
        if model == "videomae-b" {
            // In the first round the process's peak so far is this
            // forward pass's: nothing larger has run yet.
            let peak = *first_peak.get_or_insert(r.peak_rss_mib);
            figures.push(Figure {
                what: "videomae-b forward (batch 1), peak resident memory".into(),
                unit: "GiB",
                scivid: peak / 1024.0,
                peer: None,
                target: Some("<= 1.5"),
                rounds: None,
            });
            eprintln!("bench: {model} forward, batch 4 and batch 1 in turn");
            let four = ForwardTimer::new(&BackboneBench {
                batch: 4,
                ..bench.clone()
            })?;
            // Per clip, each pair's batch 4 over its batch 1: the median of
            // 2 x reps + 1 pairs (with the medians of three repetitions
            // each, the ratio moved by 4% from run to run). Both sides of a
            // pair run the same four clips, batch 1 as four passes back to
            // back, so that both are exposed alike to the machine's slow
            // spells (a batch 1 pass lasts a quarter of a batch 4 pass).
            let four_clips = |t: &ForwardTimer, passes: usize| -> Result<f64> {
                settle();
                (0..passes).map(|_| t.rep()).sum()
            };
            let ratios: Vec<f64> = in_turn(
                2 * reps + 1,
                || four_clips(&timer, 4),
                || four_clips(&four, 1),
            )?
            .into_iter()
            .map(|(one, four)| one / four)
            .collect();
            figures.push(Figure {
                what: format!(
                    "videomae-b clips/s at batch 4 over batch 1 (median of {} pairs)",
                    ratios.len()
                ),
                unit: "ratio",
                scivid: median(&ratios),
                peer: None,
                target: Some(">= 1.0"),
                rounds: None,
            });
        }
    }
    eprintln!("bench: extraction pipeline (videomae-s, 32 PNG clips)");
    let r = super::extract::extract(&super::extract::ExtractBench {
        model: "videomae-s".into(),
        clips: 32,
        frames: 16,
        size: 224,
        stored: 256,
        reps,
    })?;
    figures.push(Figure {
        what: format!(
            "extraction pipeline over the forward pass alone (videomae-s, 32 PNG clips, median of {reps} pairs; decoding alone {:.2} clips/s)",
            r.decode_clips_per_s
        ),
        unit: "ratio",
        scivid: r.pipeline_over_forward,
        peer: None,
        target: Some(">= 0.9"),
        rounds: None,
    });
    eprintln!("bench: attention readout training step (brief)");
    let r = readout(&ReadoutBench {
        head: "attention".into(),
        preset: "brief".into(),
        batch: 32,
        // The Wasm boundary costs well under 1% of a step; three steps
        // each moved the ratio by 4%.
        steps: 2 * reps + 1,
        warmup: 1,
    })?;
    figures.push(Figure {
        what: "attention readout step (brief preset, batch 32) vs JAX".into(),
        unit: "steps/s",
        scivid: r.wasm_steps_per_s,
        // One after the other: a training step is compiled per process,
        // and this ratio's margin is wide (2.2-2.7x against 1.5x).
        peer: match &b.peers {
            Some(dir) => {
                let steps = reps.to_string();
                let args = ["--preset", "brief", "--batch", "32", "--steps", &steps];
                let value = run_peer(&b.python, dir, "readout_jax.py", &args, "steps_per_s")?;
                Some(("JAX".into(), value))
            }
            None => None,
        },
        target: Some(">= 1.5x"),
        rounds: None,
    });
    figures.push(Figure {
        what: format!(
            "the same step's time, Wasm plugin over its native twin (median of {} pairs)",
            r.wasm_step_seconds.len()
        ),
        unit: "ratio",
        scivid: r.wasm_over_native,
        peer: None,
        target: Some("<= 1.03"),
        rounds: None,
    });
    Ok(figures)
}

/// The figures as a Markdown table.
pub fn table(figures: &[Figure]) -> String {
    let mut out = String::from(
        "| figure | unit | scivid | peer | peer value | scivid / peer | target |\n|---|---|---:|---|---:|---:|---:|\n",
    );
    for f in figures {
        let (peer, value) = match &f.peer {
            Some((name, v)) => (name.clone(), format!("{v:.3}")),
            None => ("-".into(), "-".into()),
        };
        let mut ratio = f.ratio().map_or("-".into(), |r| format!("{r:.2}x"));
        let mut scivid = format!("{:.3}", f.scivid);
        // Over several rounds: the range of what the target is about.
        match (f.rounds, &f.peer) {
            (Some((_, lo, hi)), Some(_)) => ratio += &format!(" ({lo:.2}-{hi:.2})"),
            (Some((median, lo, hi)), None) => {
                scivid = format!("{median:.3} ({lo:.3}-{hi:.3})");
            }
            (None, _) => {}
        }
        out.push_str(&format!(
            "| {} | {} | {scivid} | {peer} | {value} | {ratio} | {} |\n",
            f.what,
            f.unit,
            f.target.unwrap_or("-")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(scivid: f64, peer: Option<f64>) -> Figure {
        Figure {
            what: "x".into(),
            unit: "clips/s",
            scivid,
            peer: peer.map(|p| ("peer.py".into(), p)),
            target: None,
            rounds: None,
        }
    }

    /// The ratio is the median of the rounds' own ratios (each measured
    /// side by side), not the ratio of the medians.
    #[test]
    fn rounds_combine_into_the_median_of_side_by_side_ratios() {
        let rounds = vec![
            vec![fig(1.0, Some(1.0)), fig(0.9, None)],
            vec![fig(0.5, Some(0.4)), fig(1.1, None)],
            vec![fig(2.0, Some(1.0)), fig(1.0, None)],
        ];
        let f = combine(rounds);
        assert_eq!(f[0].rounds, Some((1.25, 1.0, 2.0)));
        assert_eq!(f[0].ratio(), Some(1.25));
        assert_eq!((f[0].scivid, f[0].peer.as_ref().unwrap().1), (1.0, 1.0));
        assert_eq!(f[1].rounds, Some((1.0, 0.9, 1.1)));
        let t = table(&f);
        assert!(t.contains("| 1.25x (1.00-2.00) |"), "{t}");
        assert!(t.contains("| 1.000 (0.900-1.100) |"), "{t}");
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
    }
}
