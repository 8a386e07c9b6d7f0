//! `scivid bench readout --head attention`: one training step (forward,
//! softmax cross-entropy, backward, AdamW) of SciVid's attention readout on
//! frozen random features, timed twice on the same features and weights:
//! the built-in Wasm plugin, and [`AttentionTwin`], the same head written
//! natively against the host's op set. Their ratio is the cost of the Wasm
//! boundary; the twin's outputs must equal the plugin's. The shapes follow
//! the JAX peer's presets (`readout_jax.py --preset brief|flyvsfly|calms21`).

use super::median;
use crate::runtime::bindings::FeatureSpec;
use crate::runtime::{Budgets, ReadoutPlugin, Runtime};
use crate::tensor::ops::{BinaryOp, UnaryOp};
use crate::tensor::{DynTensor, Ops, default_device};
use crate::train::adamw::AdamW;
use anyhow::{Context, Result, bail};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// What to measure (also the flags of `scivid bench readout`).
#[derive(Debug, Clone, clap::Args)]
pub struct ReadoutBench {
    /// The head to time: `attention` (the only one with a native twin).
    #[arg(long, default_value = "attention")]
    pub head: String,
    /// Shapes as the JAX peer's presets: brief (T 8, N 196, D 768, 16
    /// queries, width 768, 12 heads, 10 classes), flyvsfly, calms21; and
    /// many-queries (64 queries x 8 heads over width 128).
    #[arg(long, default_value = "brief")]
    pub preset: String,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Timed steps of each (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
}

/// The JAX peer's presets: (time, tokens, dim, queries, width, heads, classes).
fn preset(name: &str) -> Result<(usize, usize, usize, u32, u32, u32, usize)> {
    Ok(match name {
        "brief" => (8, 196, 768, 16, 768, 12, 10),
        "flyvsfly" => (16, 196, 768, 1, 128, 16, 10),
        "calms21" => (16, 196, 768, 1, 1024, 16, 10),
        // No JAX twin: heads x queries above the width, so the probe forms
        // keys and values (the tracking head's regime).
        "many-queries" => (8, 49, 192, 64, 128, 8, 10),
        other => bail!("preset `{other}`: expected brief, flyvsfly, calms21 or many-queries"),
    })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadoutBenchResult {
    pub runtime: &'static str,
    pub head: String,
    pub preset: String,
    pub batch: usize,
    pub wasm_steps_per_s: f64,
    pub native_steps_per_s: f64,
    /// The median over pairs of steps of Wasm's time over native's (1.0: no
    /// overhead).
    pub wasm_over_native: f64,
    /// Largest |plugin - twin| over the first forward pass.
    pub max_abs_diff: f64,
    pub wasm_step_seconds: Vec<f64>,
    pub native_step_seconds: Vec<f64>,
    pub peak_rss_mib: f64,
}

pub fn readout(b: &ReadoutBench) -> Result<ReadoutBenchResult> {
    if b.head != "attention" {
        bail!(
            "head `{}`: only `attention` has a native twin to compare with",
            b.head
        );
    }
    let (t, n, d, queries, width, heads, classes) = preset(&b.preset)?;
    let device = default_device();
    let mut rng = StdRng::seed_from_u64(0);
    let features = DynTensor::from_vec(
        (0..b.batch * t * n * d)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect(),
        &[b.batch, t, n, d],
        &device,
    )?;
    let mut onehot = vec![0.0f32; b.batch * classes];
    for row in onehot.chunks_mut(classes) {
        row[rng.random_range(0..classes)] = 1.0;
    }
    let labels = DynTensor::from_vec(onehot, &[b.batch, classes], &device)?;
    let ops = Ops::new(device, usize::MAX);

    let rt = Runtime::new(None)?;
    let component = crate::pipeline::PluginRef::Builtin("attention".into()).load(&rt)?;
    let mut plugin = rt.instantiate_readout(&component, 0, &Budgets::default())?;
    let config = [
        ("width", width.to_string()),
        ("heads", heads.to_string()),
        ("queries", queries.to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let spec = FeatureSpec {
        time: t as u32,
        tokens: n as u32,
        dim: d as u32,
        grid_h: 14,
        grid_w: (n / 14) as u32,
    };
    plugin
        .init(&config, spec, &[classes as u32])
        .context("initialising the attention plugin")?;
    let mut twin = AttentionTwin::from_plugin(&plugin, width as usize, heads as usize)?;

    // Same weights, same numbers: the twin is the plugin's computation.
    let a = plugin.forward(&features, &[], false)?.to_vec();
    let z = twin.forward(&ops, &features)?.to_vec();
    let max_abs_diff = a
        .iter()
        .zip(&z)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max);
    let scale = a.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    if max_abs_diff > 1e-4 * scale.max(1.0) {
        bail!("the native twin disagrees with the plugin by {max_abs_diff:.3e}");
    }

    let mut wasm_opt = AdamW::new(1e-4, None);
    let mut wasm_step = || -> Result<()> {
        let pred = plugin.forward(&features, &[], true)?;
        let loss = ops.softmax_cross_entropy(&pred, &labels)?;
        let grads = loss.backward();
        let values: Vec<DynTensor> = plugin.params().iter().map(|p| p.value.clone()).collect();
        let gs = gradients(&values, &grads)?;
        let new = wasm_opt.step(3e-4, &values, &gs);
        plugin.set_param_values(new);
        Ok(())
    };
    let mut native_opt = AdamW::new(1e-4, None);
    let mut native_step = || -> Result<()> {
        let pred = twin.forward(&ops, &features)?;
        let loss = ops.softmax_cross_entropy(&pred, &labels)?;
        let grads = loss.backward();
        let gs = gradients(&twin.values, &grads)?;
        twin.values = native_opt.step(3e-4, &twin.values, &gs);
        Ok(())
    };
    let (wasm, native) = time_alternately(b, &mut wasm_step, &mut native_step)?;
    let (w, nt) = (median(&wasm), median(&native));
    // Step by step (the two steps of a pair ran back to back): a slow
    // spell of the machine moves both sides of a pair's ratio.
    let pairs: Vec<f64> = wasm.iter().zip(&native).map(|(w, n)| w / n).collect();
    Ok(ReadoutBenchResult {
        runtime: "scivid",
        head: b.head.clone(),
        preset: b.preset.clone(),
        batch: b.batch,
        wasm_steps_per_s: 1.0 / w,
        native_steps_per_s: 1.0 / nt,
        wasm_over_native: median(&pairs),
        max_abs_diff,
        wasm_step_seconds: wasm,
        native_step_seconds: native,
        peak_rss_mib: super::peak_rss_mib().unwrap_or(f64::NAN),
    })
}

fn gradients(values: &[DynTensor], grads: &burn::tensor::Gradients) -> Result<Vec<DynTensor>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.grad(grads)
                .with_context(|| format!("parameter {i} received no gradient"))
        })
        .collect()
}

/// Seconds of each timed step of `a` and of `b`, after `warmup` untimed
/// ones each, their steps taken in turn ([`super::in_turn`]). A step ends
/// when its parameters are updated (AdamW reads every gradient back).
fn time_alternately(
    bench: &ReadoutBench,
    a: &mut impl FnMut() -> Result<()>,
    b: &mut impl FnMut() -> Result<()>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    for _ in 0..bench.warmup {
        a()?;
        b()?;
    }
    let timed = |step: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let start = std::time::Instant::now();
        step()?;
        Ok(start.elapsed().as_secs_f64())
    };
    let pairs = super::in_turn(bench.steps.max(1), || timed(a), || timed(b))?;
    Ok(pairs.into_iter().unzip())
}

/// The attention readout written natively against [`Ops`]: the same
/// computation as the plugin (`scivid_sdk::nn::CrossAttention` with learned
/// queries, both of its ways to attend, averaged over queries), with the
/// plugin's parameters copied in by name. Used only to measure what the
/// Wasm boundary costs; the bench checks that both give the same outputs.
pub struct AttentionTwin {
    names: Vec<String>,
    values: Vec<DynTensor>,
    width: usize,
    heads: usize,
    eps: f32,
}

impl AttentionTwin {
    fn from_plugin(plugin: &ReadoutPlugin, width: usize, heads: usize) -> Result<Self> {
        let (names, values) = plugin
            .params()
            .iter()
            .map(|p| (p.name.clone(), p.value.detached().require_grad()))
            .unzip();
        Ok(AttentionTwin {
            names,
            values,
            width,
            heads,
            eps: 1e-6,
        })
    }

    fn p(&self, name: &str) -> Result<&DynTensor> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.values[i])
            .with_context(|| format!("the attention plugin has no parameter `{name}`"))
    }

    fn dense(&self, ops: &Ops, x: &DynTensor, name: &str) -> Result<DynTensor> {
        let y = ops.matmul(x, self.p(&format!("{name}.weight"))?)?;
        Ok(ops.binary(BinaryOp::Add, &y, self.p(&format!("{name}.bias"))?)?)
    }

    /// features [B, T, N, D] -> logits [B, classes].
    pub fn forward(&self, ops: &Ops, features: &DynTensor) -> Result<DynTensor> {
        let add = |a: &DynTensor, b: &DynTensor| ops.binary(BinaryOp::Add, a, b);
        let mul = |a: &DynTensor, b: &DynTensor| ops.binary(BinaryOp::Mul, a, b);
        let s = features.shape();
        let (b, t, n, d) = (s[0] as i64, s[1] as i64, s[2] as i64, s[3] as i64);
        let (w, h) = (self.width as i64, self.heads as i64);
        let hd = w / h;
        let plain = ops.layer_norm(features, None, None, self.eps)?;
        let shift = add(self.p("norm_in.bias")?, self.p("pos_time")?)?; // [T, 1, D]
        let scale = ops.reshape(self.p("norm_in.scale")?, &[-1, 1])?; // [D, 1]
        let query = self.p("query")?;
        let q = query.shape()[0] as i64;
        let query = ops.reshape(query, &[1, q, w])?;
        let qh = ops.mul_scalar(
            &ops.permute(&ops.reshape(&query, &[1, q, h, hd])?, &[0, 2, 1, 3])?,
            1.0 / (hd as f32).sqrt(),
        );
        let weight = |name: &str| self.p(&format!("{name}.weight"));
        // ((bias + pos) @ W + b) as [H, T, hd].
        let offset = |name: &str| -> Result<DynTensor> {
            let c = add(
                &ops.matmul(&shift, weight(name)?)?,
                self.p(&format!("{name}.bias"))?,
            )?;
            Ok(ops.permute(&ops.reshape(&c, &[t, h, hd])?, &[1, 0, 2])?)
        };
        let per_head = |x: &DynTensor| -> Result<DynTensor> {
            Ok(ops.permute(&ops.reshape(x, &[d, h, hd])?, &[1, 0, 2])?)
        };
        let att = if h * q < w {
            // As the plugin: queries folded into the key weights, p @ x̂ first.
            let folded = ops.matmul(
                &per_head(&mul(weight("key")?, &scale)?)?,
                &ops.permute(&qh, &[0, 1, 3, 2])?,
            )?;
            let folded = ops.reshape(&ops.permute(&folded, &[0, 2, 1, 3])?, &[1, d, h * q])?;
            let x = ops.reshape(&plain, &[b, t * n, d])?;
            let scores = ops.permute(
                &ops.reshape(&ops.matmul(&x, &folded)?, &[b, t, n, h, q])?,
                &[0, 3, 4, 1, 2],
            )?;
            let ck = ops.matmul(&qh, &ops.permute(&offset("key")?, &[0, 2, 1])?)?;
            let ck = ops.reshape(&ck, &[1, h, q, t, 1])?;
            let p = ops.softmax(&ops.reshape(&add(&scores, &ck)?, &[b, h, q, t * n])?, 3)?;
            let px = ops.matmul(&ops.reshape(&p, &[b, h * q, t * n])?, &x)?;
            let pv = ops.matmul(
                &ops.reshape(&px, &[b, h, q, d])?,
                &per_head(&mul(weight("value")?, &scale)?)?,
            )?;
            let per_step = ops.sum(&ops.reshape(&p, &[b, h, q, t, n])?, &[4], false)?;
            add(&pv, &ops.matmul(&per_step, &offset("value")?)?)?
        } else {
            let project = |name: &str| -> Result<DynTensor> {
                let y = ops.matmul(&plain, &mul(weight(name)?, &scale)?)?;
                let c = add(
                    &ops.matmul(&shift, weight(name)?)?,
                    self.p(&format!("{name}.bias"))?,
                )?;
                let y = ops.reshape(&add(&y, &c)?, &[b, -1, h, hd])?;
                Ok(ops.permute(&y, &[0, 2, 1, 3])?)
            };
            let (k, v) = (project("key")?, project("value")?);
            let scores = ops.matmul(&qh, &ops.permute(&k, &[0, 1, 3, 2])?)?;
            ops.matmul(&ops.softmax(&scores, 3)?, &v)?
        };
        let o = ops.reshape(&ops.permute(&att, &[0, 2, 1, 3])?, &[b, q, w])?;
        let o = add(&self.dense(ops, &o, "proj")?, &query)?;
        let normed = ops.layer_norm(
            &o,
            Some(self.p("norm_mlp.scale")?),
            Some(self.p("norm_mlp.bias")?),
            self.eps,
        )?;
        let hidden = ops.unary(UnaryOp::Gelu, &self.dense(ops, &normed, "mlp_in")?);
        let o = add(&o, &self.dense(ops, &hidden, "mlp_out")?)?;
        Ok(ops.mean(&self.dense(ops, &o, "head")?, &[1], false)?)
    }
}
