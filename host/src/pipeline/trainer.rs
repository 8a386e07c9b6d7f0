//! Joint training of readout heads on one stream of feature batches: every
//! step, each head predicts, the task's loss scores it, the losses are summed
//! and one backward pass feeds every head's AdamW. After the first step the
//! trainer checks that every parameter received a gradient.

use super::checkpoint::{Checkpoints, HeadState, State, Tensors};
use super::inputs::Inputs;
use super::online::OnlineFeatures;
use super::{RunHead, RunSpec};
use crate::report::HeadResult;
use crate::runtime::bindings::{FeatureSpec, Protocol};
use crate::runtime::{PluginError, ReadoutPlugin, Runtime, TaskPlugin};
use crate::tensor::DynTensor;
use crate::train::{AdamW, WarmupCosine};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

/// The minival set heads are scored on during training.
pub struct Minival {
    pub split: String,
    pub feats: Inputs,
    pub targets: DynTensor,
    /// Every this many steps (and at the last).
    pub every: u32,
    /// The metric recorded in each head's eval curve.
    pub metric: String,
}

pub struct TrainedHead {
    /// The head's place in the run's list (its seeds follow it).
    index: usize,
    pub plugin: Option<ReadoutPlugin>,
    pub result: HeadResult,
    opt: AdamW,
}

/// Endless shuffled batches of row indices. Each epoch's order depends only
/// on (seed, epoch), so the position (epoch, pos) is the whole state and a
/// resumed run continues the same stream.
struct Sampler {
    n: usize,
    seed: u64,
    epoch: u64,
    pos: usize,
    order: Vec<usize>,
}

impl Sampler {
    fn new(n: usize, seed: u64, epoch: u64, pos: usize) -> Self {
        let mut s = Sampler {
            n,
            seed,
            epoch,
            pos,
            order: vec![],
        };
        s.shuffle();
        s
    }
    fn shuffle(&mut self) {
        self.order = (0..self.n).collect();
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ self.epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        self.order.shuffle(&mut rng);
    }
    fn next(&mut self, batch: usize) -> Vec<usize> {
        (0..batch)
            .map(|_| {
                if self.pos == self.n {
                    self.epoch += 1;
                    self.pos = 0;
                    self.shuffle();
                }
                self.pos += 1;
                self.order[self.pos - 1]
            })
            .collect()
    }
}

#[allow(clippy::too_many_arguments)]
pub fn train(
    spec: &RunSpec,
    rt: &Runtime,
    task: &mut TaskPlugin,
    heads: &[RunHead<'_>],
    features: FeatureSpec,
    protocol: &Protocol,
    feats: &Inputs,
    targets: &DynTensor,
    minival: Option<&Minival>,
    checkpoints: &Checkpoints,
    online: Option<&OnlineFeatures<'_>>,
) -> Result<(Vec<TrainedHead>, Option<u32>)> {
    let mut trained: Vec<TrainedHead> = vec![];
    // Seeds follow a head's place in the run's list, so a head trained
    // alone (one shard of a cluster run) gets the numbers it gets jointly.
    for &(i, (h, c)) in heads {
        let mut result = HeadResult {
            head: h.label.clone(),
            plugin: c.origin.clone(),
            sha256: c.sha256.clone(),
            config: h.config.iter().cloned().collect(),
            error: None,
            ci: Default::default(),
            final_train_loss: None,
            loss_curve: vec![],
            eval_curve: vec![],
            steps: 0,
            scores: Default::default(),
        };
        let seed = spec.seed.wrapping_add(1 + i as u64);
        let plugin = rt
            .instantiate_readout(c, seed, spec.budgets_for(&h.label))
            .map_err(|e| format!("{e:#}"))
            .and_then(|mut p| {
                p.init(&h.config, features, &task.info.target_shape)
                    .map(|_| p)
                    .map_err(|e| e.to_string())
            });
        let plugin = match plugin {
            Ok(p) => Some(p),
            Err(e) => {
                result.error = Some(e);
                None
            }
        };
        let opt = AdamW::new(
            protocol.weight_decay as f64,
            protocol.clip_norm.map(|c| c as f64),
        );
        trained.push(TrainedHead {
            index: i,
            plugin,
            result,
            opt,
        });
    }

    let schedule = WarmupCosine {
        peak: protocol.learning_rate as f64,
        warmup_steps: protocol.warmup_steps as u64,
        total_steps: protocol.steps as u64,
        end: protocol.final_learning_rate as f64,
    };
    let n = feats.rows();
    let batch = (protocol.batch_size as usize).min(n).max(1);
    // Continue from the newest checkpoint of this exact spec, if any.
    let mut start = 0;
    let mut sampler = Sampler::new(n, spec.seed, 0, 0);
    if let Some((state, tensors)) = checkpoints.load()? {
        restore(&mut trained, &state, tensors)?;
        start = state.step;
        sampler = Sampler::new(n, spec.seed, state.sampler_epoch, state.sampler_pos);
    }
    let resumed_from = (start > 0).then_some(start);
    let bar = if spec.progress {
        ProgressBar::new(protocol.steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} steps {per_sec} ETA {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("train {}", task.name()));

    bar.set_position(start as u64);
    for step in start..protocol.steps {
        let rows = sampler.next(batch);
        for h in trained.iter_mut() {
            if let Some(p) = h.plugin.as_mut() {
                // Dropout masks depend on (seed, head, step) only.
                p.reseed(spec.seed ^ ((h.index as u64 + 1) << 40) ^ step as u64);
            }
        }
        let t = targets.select_rows(&rows);
        let f = match online {
            Some(o) => Inputs {
                features: o.features(&rows, step)?,
                extras: feats.select_extras(&rows),
            },
            None => feats.select_rows(&rows),
        };
        let mut losses: Vec<(usize, DynTensor)> = vec![];
        for (i, h) in trained.iter_mut().enumerate() {
            let Some(p) = h.plugin.as_mut() else { continue };
            match p.forward(&f.features, &f.extras, true) {
                Ok(pred) => losses.push((i, task.loss(&pred, &t)?)),
                Err(e) => fail(h, e),
            }
        }
        if losses.is_empty() {
            break;
        }
        let total = losses
            .iter()
            .skip(1)
            .fold(losses[0].1.clone(), |acc, (_, l)| acc.add_native(l));
        if !total.is_tracked() {
            // No head's loss reaches any parameter: nothing can learn.
            for (i, _) in &losses {
                let h = &mut trained[*i];
                let names: Vec<String> = h
                    .plugin
                    .as_ref()
                    .map(|p| p.params().iter().map(|p| p.name.clone()).collect())
                    .unwrap_or_default();
                let plugin = h
                    .plugin
                    .as_ref()
                    .map(|p| p.name().to_string())
                    .unwrap_or_default();
                h.result.error = Some(no_gradient_message(&plugin, &names));
                h.plugin = None;
            }
            break;
        }
        let grads = total.backward();
        let lr = schedule.at(step as u64);
        let mut shown = vec![];
        for (i, loss) in &losses {
            let h = &mut trained[*i];
            let value = loss.to_vec()[0] as f64;
            if !value.is_finite() {
                let plugin = h
                    .plugin
                    .as_ref()
                    .map(|p| p.name().to_string())
                    .unwrap_or_default();
                h.result.error = Some(format!(
                    "plugin `{plugin}`: training loss is {value} at step {step} (its predictions, or the task's \
                     loss on them, are not finite)"
                ));
                h.plugin = None;
                continue;
            }
            let p = h.plugin.as_mut().expect("active head");
            let mut values = vec![];
            let mut gs = vec![];
            let mut missing = vec![];
            for param in p.params() {
                match param.value.grad(&grads) {
                    Some(g) => gs.push(g),
                    None => missing.push(param.name.clone()),
                }
                values.push(param.value.clone());
            }
            if !missing.is_empty() {
                h.result.error = Some(no_gradient_message(p.name(), &missing));
                h.plugin = None;
                continue;
            }
            let new = h.opt.step(lr, &values, &gs);
            p.set_param_values(new);
            h.result.final_train_loss = Some(value);
            h.result.steps = step + 1;
            let every = protocol.steps.div_ceil(200).max(1);
            if step % every == 0 || step + 1 == protocol.steps {
                h.result.loss_curve.push((step + 1, value));
            }
            shown.push(format!("{} {value:.3}", h.result.head));
        }
        bar.set_message(shown.join("  "));
        bar.inc(1);
        let done = step + 1;
        if let Some(m) = minival
            && (done % m.every == 0 || done == protocol.steps)
        {
            evaluate_minival(task, &mut trained, m, protocol.batch_size as usize, done)?;
        }
        // The last step too: a run killed during evaluation resumes with
        // training done, not from the checkpoint before.
        if spec.checkpoint_every > 0
            && (done % spec.checkpoint_every == 0 || done == protocol.steps)
        {
            save(checkpoints, &trained, done, &sampler)?;
        }
    }
    bar.finish_and_clear();
    Ok((trained, resumed_from))
}

/// Score every active head on the minival set; a trap in the task fails the
/// task, a head's own failure fails that head.
fn evaluate_minival(
    task: &mut TaskPlugin,
    trained: &mut [TrainedHead],
    m: &Minival,
    batch: usize,
    step: u32,
) -> Result<()> {
    for h in trained.iter_mut().filter(|h| h.plugin.is_some()) {
        let preds = match predict(h, &m.feats, batch) {
            Ok(p) => p,
            Err(e) => {
                fail(h, e);
                continue;
            }
        };
        let chunks = super::chunk_rows(&m.targets, batch);
        match task.evaluate(&m.split, preds.iter().zip(chunks.iter())) {
            Ok(scores) => {
                if let Some(s) = scores.iter().find(|s| s.name == m.metric) {
                    h.result.eval_curve.push((step, s.value));
                }
            }
            Err(e) if e.trapped => return Err(e.into()),
            Err(e) => fail(h, e),
        }
    }
    Ok(())
}

fn save(
    checkpoints: &Checkpoints,
    trained: &[TrainedHead],
    step: u32,
    sampler: &Sampler,
) -> Result<()> {
    let mut heads = vec![];
    let mut tensors = vec![];
    for h in trained {
        let (adam_steps, m, v) = h.opt.state();
        heads.push(HeadState {
            label: h.result.head.clone(),
            error: h.result.error.clone(),
            final_train_loss: h.result.final_train_loss,
            loss_curve: h.result.loss_curve.clone(),
            eval_curve: h.result.eval_curve.clone(),
            steps: h.result.steps,
            adam_steps,
        });
        if let Some(p) = &h.plugin {
            for param in p.params() {
                tensors.push((
                    format!("{}/param/{}", h.result.head, param.name),
                    param.value.inner(),
                ));
            }
            for (k, (mk, vk)) in m.iter().zip(v).enumerate() {
                tensors.push((format!("{}/m/{k}", h.result.head), mk.clone()));
                tensors.push((format!("{}/v/{k}", h.result.head), vk.clone()));
            }
        }
    }
    let state = State {
        step,
        sampler_epoch: sampler.epoch,
        sampler_pos: sampler.pos,
        heads,
        tensors: vec![],
    };
    checkpoints.save(state, tensors)
}

fn restore(trained: &mut [TrainedHead], state: &State, tensors: Tensors) -> Result<()> {
    let find = |name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
    };
    for (h, s) in trained.iter_mut().zip(&state.heads) {
        anyhow::ensure!(
            h.result.head == s.label,
            "checkpoint heads differ from the run's"
        );
        h.result.error = s.error.clone();
        h.result.final_train_loss = s.final_train_loss;
        h.result.loss_curve = s.loss_curve.clone();
        h.result.eval_curve = s.eval_curve.clone();
        h.result.steps = s.steps;
        if s.error.is_some() {
            h.plugin = None;
            continue;
        }
        let Some(p) = h.plugin.as_mut() else { continue };
        let names: Vec<String> = p.params().iter().map(|q| q.name.clone()).collect();
        for name in &names {
            let value = find(&format!("{}/param/{name}", s.label))
                .with_context(|| format!("checkpoint lacks {}/{name}", s.label))?;
            p.set_param(name, value)?;
        }
        if s.adam_steps > 0 {
            let m = (0..names.len())
                .map(|k| find(&format!("{}/m/{k}", s.label)))
                .collect::<Option<Vec<_>>>();
            let v = (0..names.len())
                .map(|k| find(&format!("{}/v/{k}", s.label)))
                .collect::<Option<Vec<_>>>();
            let (m, v) = m
                .zip(v)
                .with_context(|| format!("checkpoint lacks the optimiser state of {}", s.label))?;
            h.opt.restore(s.adam_steps, m, v);
        }
    }
    Ok(())
}

fn no_gradient_message(plugin: &str, params: &[String]) -> String {
    format!(
        "plugin `{plugin}`: parameter(s) {} received no gradient: their values do not reach the loss through host tensor ops \
         (did the plugin read a tensor out and build a new one?)",
        params.join(", ")
    )
}

fn fail(h: &mut TrainedHead, e: PluginError) {
    h.result.error = Some(e.to_string());
    h.plugin = None;
}

/// Predictions in chunks of `batch` rows (no gradient kept).
pub fn predict(
    h: &mut TrainedHead,
    feats: &Inputs,
    batch: usize,
) -> Result<Vec<DynTensor>, PluginError> {
    let p = h.plugin.as_mut().expect("only called on trained heads");
    feats
        .chunks(batch)
        .iter()
        .map(|f| {
            p.forward(&f.features, &f.extras, false)
                .map(|t| t.detached())
        })
        .collect()
}
