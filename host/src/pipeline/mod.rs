//! One evaluation, end to end: for each task, index its splits, extract
//! frozen features with the backbone, train every readout head jointly on
//! them, score heads and the control baseline with the task's metrics, and
//! write the results after each task. A task or head that fails is recorded
//! with its error; the others go on.

mod bootstrap;
mod check;
mod checkpoint;
pub mod features;
mod inputs;
mod online;
mod trainer;

pub use check::{SplitCheck, check_dataset};

use crate::backbone::{self, Backbone};
use crate::data::synth;
use crate::report::{HeadResult, RunResults, Scores, TaskResult};
use crate::runtime::bindings::{FeatureSpec, SampledClip};
use crate::runtime::{Budgets, LoadedComponent, PluginKind, Runtime, TaskPlugin, builtin};
use crate::tensor::DynTensor;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A plugin named by the user: a built-in name or a `.wasm` path.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginRef {
    Builtin(String),
    File(PathBuf),
}

impl PluginRef {
    /// The name a user calls it by: the built-in name or the file stem.
    pub fn name(&self) -> String {
        match self {
            PluginRef::Builtin(n) => n.clone(),
            PluginRef::File(p) => p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("plugin")
                .to_string(),
        }
    }

    pub fn parse(s: &str) -> Self {
        if s.ends_with(".wasm") || s.contains('/') {
            PluginRef::File(PathBuf::from(s))
        } else {
            PluginRef::Builtin(s.to_string())
        }
    }

    pub fn load(&self, rt: &Runtime) -> Result<LoadedComponent> {
        match self {
            PluginRef::File(p) => {
                if !p.exists() {
                    bail!("plugin file {} not found", p.display());
                }
                rt.load_file(p)
            }
            PluginRef::Builtin(name) => {
                let bytes = builtin::get(name).with_context(|| {
                    format!(
                        "no built-in plugin `{name}` (built-ins: {}; or give a path to a .wasm file)",
                        builtin::names().collect::<Vec<_>>().join(", ")
                    )
                })?;
                rt.load_bytes(&format!("builtin:{name}"), bytes)
            }
        }
    }
}

/// A head of the run picked for one task: its place in the run's list
/// (which its seeds follow) and the head.
pub type RunHead<'a> = (usize, &'a (HeadSpec, LoadedComponent));

/// A readout head of the run: a label, its plugin and configuration, and
/// the tasks it is trained on (all when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadSpec {
    pub label: String,
    pub plugin: PluginRef,
    pub config: Vec<(String, String)>,
    /// Task names (as given to `--task`) it trains on, or `!NAME` for
    /// tasks it skips; empty: every task.
    pub tasks: Vec<String>,
}

impl HeadSpec {
    /// `[LABEL=]PLUGIN[@TASK+TASK...][:key=value,...]`, e.g.
    /// `flat=linear:pool=flatten`, `tracking@stir:width=128` (STIR only)
    /// or `linear@!stir` (every task but STIR).
    pub fn parse(s: &str) -> Result<Self> {
        let (head, config) = match s.split_once(':') {
            Some((h, c)) => (h, c),
            None => (s, ""),
        };
        let (head, tasks) = match head.rsplit_once('@') {
            Some((h, t)) => (h, t.split('+').map(|t| t.trim().to_string()).collect()),
            None => (head, vec![]),
        };
        if tasks.iter().any(|t| t.is_empty() || t == "!") {
            bail!("readout `{s}`: an empty task name after `@` (expected @TASK+TASK or @!TASK)");
        }
        let (label, plugin) = match head.split_once('=') {
            Some((l, p)) => (l.to_string(), p.to_string()),
            None => (String::new(), head.to_string()),
        };
        if plugin.is_empty() {
            bail!("readout `{s}`: no plugin named (expected [LABEL=]PLUGIN[:key=value,...])");
        }
        let mut cfg = vec![];
        for kv in config.split(',').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("readout `{s}`: `{kv}` is not key=value"))?;
            cfg.push((k.trim().to_string(), v.trim().to_string()));
        }
        let plugin = PluginRef::parse(&plugin);
        let label = if label.is_empty() {
            match &plugin {
                PluginRef::Builtin(n) => n.clone(),
                PluginRef::File(p) => p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("head")
                    .to_string(),
            }
        } else {
            label
        };
        Ok(HeadSpec {
            label,
            plugin,
            config: cfg,
            tasks,
        })
    }

    /// Whether this head is trained on the task called `task`.
    pub fn applies_to(&self, task: &str) -> bool {
        let (skip, only): (Vec<&String>, Vec<&String>) =
            self.tasks.iter().partition(|t| t.starts_with('!'));
        (only.is_empty() || only.iter().any(|t| *t == task))
            && !skip.iter().any(|t| &t[1..] == task)
    }
}

/// Overrides of a task's protocol defaults (unset fields keep the task's).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolOverrides {
    pub steps: Option<u32>,
    pub batch_size: Option<u32>,
    pub learning_rate: Option<f32>,
    pub warmup_steps: Option<u32>,
    pub final_learning_rate: Option<f32>,
    pub weight_decay: Option<f32>,
    pub clip_norm: Option<f32>,
    /// Score every head on the minival set every this many steps (SciVid:
    /// 1000 of 40000); default steps / 40; 0: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_every: Option<u32>,
    /// Clips of the first evaluation split in the minival set (SciVid: 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minival: Option<usize>,
}

impl ProtocolOverrides {
    /// The evaluation cadence for a schedule of `steps`: `eval_every`, or
    /// SciVid's 40 evaluations per run; 0 means never.
    pub fn eval_every(&self, steps: u32) -> u32 {
        self.eval_every.unwrap_or(steps.div_ceil(40).max(1))
    }
}

impl ProtocolOverrides {
    /// The protocol a task runs with: its defaults, these overrides, then
    /// `quick` (steps and warmup divided by 10, at least 1).
    pub fn apply(&self, p: &mut crate::runtime::bindings::Protocol, quick: bool) {
        if let Some(v) = self.steps {
            p.steps = v;
        }
        if let Some(v) = self.batch_size {
            p.batch_size = v;
        }
        if let Some(v) = self.learning_rate {
            p.learning_rate = v;
        }
        if let Some(v) = self.warmup_steps {
            p.warmup_steps = v;
        }
        if let Some(v) = self.final_learning_rate {
            p.final_learning_rate = v;
        }
        if let Some(v) = self.weight_decay {
            p.weight_decay = v;
        }
        if self.clip_norm.is_some() {
            p.clip_norm = self.clip_norm;
        }
        if quick {
            p.steps = p.steps.div_ceil(10).max(1);
            p.warmup_steps = p.warmup_steps.div_ceil(10);
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub tasks: Vec<PluginRef>,
    pub heads: Vec<HeadSpec>,
    pub backbone: String,
    /// The backbone's checkpoint (safetensors with Hugging Face names).
    pub weights: Option<PathBuf>,
    /// SciVid's `readout_depth_fraction`: which layer's features are read.
    pub depth_fraction: f64,
    /// A trusted native backbone library used instead of `backbone`.
    pub backbone_lib: Option<PathBuf>,
    /// Where the backbone runs (`--device cpu|cuda[:N]|wgpu`).
    pub device: crate::device::ComputeDevice,
    /// Dataset directory for every task that has none of its own; a
    /// built-in task with neither runs on its synthetic stand-in.
    pub data: Option<PathBuf>,
    /// Dataset directory per task (by the name the user calls it).
    pub task_data: Vec<(String, PathBuf)>,
    pub out: PathBuf,
    pub seed: u64,
    /// How training gets its features: extracted once, or recomputed with
    /// the task's augmentation every step.
    pub mode: Mode,
    /// Overrides of every task's protocol defaults.
    pub protocol: ProtocolOverrides,
    /// Scale the schedule down (steps and warmup / 10) for a smoke run.
    pub quick: bool,
    /// Cluster-bootstrap resamples for confidence intervals (0: none).
    pub bootstrap: usize,
    /// Save a training checkpoint every this many steps (0: never).
    pub checkpoint_every: u32,
    pub budgets: Budgets,
    /// Budgets for one plugin, by task name or head label (override `budgets`).
    pub plugin_budgets: Vec<(String, Budgets)>,
    pub cache_dir: Option<PathBuf>,
    /// How the feature cache stores values (f16: half the disk, features
    /// rounded to half precision).
    pub cache_storage: crate::cache::Storage,
    /// Clips per feature-extraction shard of a cluster run (`scivid plan`).
    pub shard_clips: usize,
    /// Unreadable clips a task may skip (each recorded in its results)
    /// before it fails.
    pub skip_bad: usize,
    /// Show progress bars.
    pub progress: bool,
}

/// SciVid's two protocol modes, named in every result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Features extracted once (and cached), no augmentation.
    Cached,
    /// Training features recomputed every step from augmented clips, as
    /// upstream; evaluation on the frozen, unaugmented features.
    Online,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Cached => "cached",
            Mode::Online => "online",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cached" => Ok(Mode::Cached),
            "online" => Ok(Mode::Online),
            other => bail!(
                "mode `{other}`: `cached` (features extracted once, no augmentation) or `online` (features recomputed each training step with the task's augmentation)"
            ),
        }
    }
}

impl RunSpec {
    /// The default run: SciVid's five tasks on their synthetic stand-ins,
    /// the pixel control backbone, and the default heads.
    pub fn default_run(out: PathBuf) -> Self {
        RunSpec {
            tasks: SCIVID_TASKS
                .iter()
                .map(|t| PluginRef::Builtin(t.to_string()))
                .collect(),
            heads: Self::default_heads(),
            backbone: "pixel".into(),
            weights: None,
            depth_fraction: backbone::DEFAULT_DEPTH_FRACTION,
            backbone_lib: None,
            device: Default::default(),
            data: None,
            task_data: vec![],
            out,
            seed: 0,
            mode: Mode::Cached,
            protocol: ProtocolOverrides::default(),
            quick: false,
            bootstrap: 1000,
            checkpoint_every: 500,
            budgets: Budgets::default(),
            plugin_budgets: vec![],
            cache_dir: Runtime::default_cache_dir(),
            cache_storage: Default::default(),
            shard_clips: 4096,
            skip_bad: 0,
            progress: true,
        }
    }

    /// The budgets of the plugin called `name` (a task name or head label).
    pub fn budgets_for(&self, name: &str) -> &Budgets {
        self.plugin_budgets
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b)
            .unwrap_or(&self.budgets)
    }

    /// SciVid's heads: the linear probe on every task but STIR; the
    /// attention probe on the classification and Typhoon tasks (at
    /// FlyVsFly's width 128 with 16 heads, which keeps the default run
    /// small); the DPT decoder alone on WeatherBench 2 and the tracking
    /// head alone on STIR, as upstream. The costliest heads run narrower
    /// than SciVid's on a CPU: tracking at width 128 with one attention
    /// head and one temporal tile (SciVid: 1024, 8 and 8; its 34 x tiles
    /// queries over 16 x 196 tokens), DPT with 16 channels (SciVid: 1024
    /// and 512; it decodes at 8x the token grid). The linear probe also
    /// runs on WeatherBench 2 as a cheap reference.
    pub fn default_heads() -> Vec<HeadSpec> {
        [
            "linear=linear@!stir:pool=mean",
            "attention=attention@!stir+!weatherbench2:width=128,heads=16",
            "dpt=dpt@weatherbench2:dims=16,intermediate=16",
            "tracking=tracking@stir:width=128,heads=1,tiles=1",
        ]
        .iter()
        .map(|h| HeadSpec::parse(h).expect("valid"))
        .collect()
    }
}

/// SciVid's five tasks, the run without arguments.
pub const SCIVID_TASKS: [&str; 5] = ["flyvsfly", "calms21", "typhoon", "weatherbench2", "stir"];

/// The dataset directory for `task`: its own, the run's, or (for a built-in
/// task) its synthetic stand-in, generated once into the cache. The second
/// value is the stand-in when one is used.
fn dataset_for(
    spec: &RunSpec,
    task: &PluginRef,
) -> Result<(PathBuf, Option<&'static synth::StandIn>)> {
    let own = spec
        .task_data
        .iter()
        .rev()
        .find(|(n, _)| *n == task.name())
        .map(|(_, d)| d);
    if let Some(d) = own.or(spec.data.as_ref()) {
        if !d.is_dir() {
            bail!("dataset directory {} does not exist", d.display());
        }
        return Ok((d.clone(), None));
    }
    let PluginRef::Builtin(name) = task else {
        bail!(
            "task {} needs a dataset directory: pass --data DIR",
            task.name()
        )
    };
    let stand_in = synth::find(name)
        .with_context(|| format!("task `{name}` needs a dataset directory: pass --data DIR"))?;
    let base = spec
        .cache_dir
        .clone()
        .unwrap_or_else(|| spec.out.join("cache"));
    let synth_spec = stand_in.default_spec();
    let dir = base.join("data").join(format!(
        "{name}-v{}-seed{}",
        synth::GENERATOR_VERSION,
        synth_spec.seed
    ));
    if !synth::is_complete(&dir, name, &synth_spec) {
        eprintln!(
            "generating the synthetic stand-in for `{name}` in {}",
            dir.display()
        );
        // Written aside and renamed into place: shards of a cluster run
        // may generate it at the same time into a shared cache.
        let tmp = dir.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
        synth::write(name, &tmp, &synth_spec)?;
        if dir.exists() && !synth::is_complete(&dir, name, &synth_spec) {
            let _ = std::fs::remove_dir_all(&dir);
        }
        if std::fs::rename(&tmp, &dir).is_err() {
            // Another process got there first; theirs is the same data.
            let _ = std::fs::remove_dir_all(&tmp);
            if !synth::is_complete(&dir, name, &synth_spec) {
                bail!("cannot move the generated stand-in into {}", dir.display());
            }
        }
    }
    Ok((dir, Some(stand_in)))
}

/// What a run loads before any long work: the runtime, the backbone and
/// every plugin, checked, so a typo fails in a second.
pub struct Prepared {
    pub rt: Runtime,
    pub backbone: Box<dyn Backbone>,
    pub tasks: Vec<(PluginRef, LoadedComponent)>,
    pub heads: Vec<(HeadSpec, LoadedComponent)>,
}

/// Load and check everything `spec` names.
pub fn prepare(spec: &RunSpec) -> Result<Prepared> {
    let rt = Runtime::new(spec.cache_dir.clone())?;
    let backbone = backbone::build(&backbone::BackboneSpec {
        name: spec.backbone.clone(),
        weights: spec.weights.clone(),
        depth_fraction: spec.depth_fraction,
        layer: None,
        random_weights: false,
        library: spec.backbone_lib.clone(),
        device: spec.device,
    })?;
    if let Some(d) = &spec.data
        && !d.is_dir()
    {
        bail!("dataset directory {} does not exist", d.display());
    }
    let mut tasks = vec![];
    for t in &spec.tasks {
        let c = t.load(&rt)?;
        if c.kind != PluginKind::Task {
            bail!("{} is a {} plugin, not a task", c.origin, c.kind);
        }
        tasks.push((t.clone(), c));
    }
    for (i, h) in spec.heads.iter().enumerate() {
        if spec.heads[..i].iter().any(|o| o.label == h.label) {
            bail!(
                "readout label `{}` is given twice; give each head its own label (LABEL=PLUGIN)",
                h.label
            );
        }
    }
    let mut heads = vec![];
    for h in &spec.heads {
        let c = h.plugin.load(&rt)?;
        if c.kind != PluginKind::Readout {
            bail!("{} is a {} plugin, not a readout", c.origin, c.kind);
        }
        heads.push((h.clone(), c));
    }
    Ok(Prepared {
        rt,
        backbone,
        tasks,
        heads,
    })
}

impl Prepared {
    /// The provenance header of this run's results, with no task yet.
    pub fn results_header(&self, spec: &RunSpec) -> Result<RunResults> {
        Ok(RunResults {
            schema: crate::report::SCHEMA_VERSION,
            scivid_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: option_env!("SCIVID_GIT_COMMIT").map(String::from),
            sdk_version: crate::runtime::sdk_version::HOST_SDK_VERSION.into(),
            wasmtime_version: "48.0.8".into(),
            backbone: self.backbone.describe(),
            seed: spec.seed,
            mode: spec.mode.name().into(),
            spec: serde_json::to_value(crate::spec::RunConfig::resolved(spec))?,
            tasks: vec![],
        })
    }

    /// Hash of everything that determines task `task`'s result.
    pub fn fingerprint(&self, spec: &RunSpec, task: usize) -> String {
        fingerprint(
            spec,
            self.backbone.as_ref(),
            &self.tasks[task].1,
            &self.heads_for(task, 0..self.heads.len()),
        )
    }

    /// The heads among `heads` (indices into the run's heads) that train
    /// on task `task`.
    pub fn heads_for(&self, task: usize, heads: std::ops::Range<usize>) -> Vec<RunHead<'_>> {
        let name = self.tasks[task].0.name();
        heads
            .map(|i| (i, &self.heads[i]))
            .filter(|(_, (h, _))| h.applies_to(&name))
            .collect()
    }

    /// Task `task` started on its dataset directory (generating a
    /// stand-in if it has none), and that directory.
    fn task_on_data(&self, spec: &RunSpec, task: usize) -> Result<(TaskPlugin, PathBuf)> {
        let (task_ref, component) = &self.tasks[task];
        let (data, _) = dataset_for(spec, task_ref)?;
        let plugin = self.rt.instantiate_task(
            component,
            Some(&data),
            spec.seed,
            spec.budgets_for(&task_ref.name()),
        )?;
        Ok((plugin, data))
    }

    /// The splits of task `task` and how many clips each holds.
    pub fn split_sizes(&self, spec: &RunSpec, task: usize) -> Result<Vec<(String, usize)>> {
        let (mut plugin, _) = self.task_on_data(spec, task)?;
        let mut sizes = vec![];
        for split in plugin.splits()? {
            let n = plugin.index(&split)?.len();
            sizes.push((split, n));
        }
        Ok(sizes)
    }

    /// Extract (into the feature cache) the features of clips `range` of
    /// one split of task `task`; returns (computed, cached).
    pub fn extract_clips(
        &self,
        spec: &RunSpec,
        task: usize,
        split: &str,
        range: std::ops::Range<usize>,
    ) -> Result<(usize, usize)> {
        let cache = spec
            .cache_dir
            .as_ref()
            .map(|d| {
                crate::cache::FeatureCache::new(d.join("features")).with_storage(spec.cache_storage)
            })
            .context(
                "extracting features on their own needs the feature cache (do not pass --no-cache)",
            )?;
        let (mut plugin, data) = self.task_on_data(spec, task)?;
        let task_ref = &self.tasks[task].0;
        let clips = plugin.index(split)?;
        if range.end > clips.len() {
            bail!(
                "split `{split}` of task `{}` has {} clips, fewer than the plan's {}: the dataset changed since the plan was made",
                task_ref.name(),
                clips.len(),
                range.end
            );
        }
        let got = features::extract(
            self.backbone.as_ref(),
            Some(&cache),
            &data,
            &clips[range],
            &plugin.info.input,
            spec.seed,
            split,
            spec.progress,
            &mut spec.skip_bad.clone(),
        )
        .with_context(|| format!("extracting features of split `{split}`"))?;
        Ok((got.computed, got.cached))
    }

    /// Train heads `heads` (indices into the run's heads) of task `task`
    /// and score them. Never fails: a failure is recorded in the result.
    pub fn run_task(
        &self,
        spec: &RunSpec,
        task: usize,
        heads: std::ops::Range<usize>,
    ) -> TaskResult {
        let (task_ref, component) = &self.tasks[task];
        let fingerprint = self.fingerprint(spec, task);
        // Heads trained apart (cluster shards) keep apart checkpoints.
        let checkpoint_dir = if heads == (0..self.heads.len()) {
            fingerprint[..16].to_string()
        } else {
            format!("{}-heads{}-{}", &fingerprint[..16], heads.start, heads.end)
        };
        // A bug on the host side must not take the other tasks down either.
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_task(
                spec,
                &self.rt,
                self.backbone.as_ref(),
                task_ref,
                component,
                &self.heads_for(task, heads.clone()),
                &spec.out.join("checkpoints").join(&checkpoint_dir),
            )
        }));
        let mut result = match attempt {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => failed_task(component, format!("{e:#}")),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failed_task(component, format!("internal error (please report): {msg}"))
            }
        };
        result.fingerprint = fingerprint;
        if let Some(e) = &result.error {
            eprintln!("task {} failed: {e}", result.task);
        }
        result
    }
}

/// Run every task; failures are recorded per task and per head.
pub fn run(spec: &RunSpec) -> Result<RunResults> {
    let prepared = prepare(spec)?;
    std::fs::create_dir_all(&spec.out)
        .with_context(|| format!("cannot create output directory {}", spec.out.display()))?;
    let results_path = spec.out.join("results.json");
    let mut results = prepared.results_header(spec)?;
    let earlier = earlier_results(&results_path);
    for i in 0..prepared.tasks.len() {
        let fingerprint = prepared.fingerprint(spec, i);
        if let Some(done) = earlier
            .iter()
            .find(|t| t.fingerprint == fingerprint && finished(t))
        {
            if spec.progress {
                eprintln!(
                    "task {}: finished earlier with the same spec, reused from {}",
                    done.task,
                    results_path.display()
                );
            }
            results.tasks.push(done.clone());
            results.write_all(&spec.out)?;
            continue;
        }
        let result = prepared.run_task(spec, i, 0..prepared.heads.len());
        results.tasks.push(result);
        results.write_all(&spec.out)?;
    }
    Ok(results)
}

/// Task results of an earlier run in the same output directory.
fn earlier_results(path: &Path) -> Vec<TaskResult> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    match serde_json::from_str::<RunResults>(&text) {
        Ok(r) => r.tasks,
        Err(e) => {
            eprintln!(
                "warning: ignoring unreadable earlier results {}: {e}",
                path.display()
            );
            vec![]
        }
    }
}

/// sha256 over what defines the dataset for this task: every clip spec.
fn dataset_fingerprint(splits: &[(String, Vec<SampledClip>, inputs::Inputs, DynTensor)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (split, clips, _, _) in splits {
        h.update(split.as_bytes());
        for c in clips {
            h.update(
                format!(
                    "\0{}\0{:?}\0{:?}\0{:?}\0{}\0{:?}",
                    c.id, c.source, c.sampling, c.target, c.group, c.extras
                )
                .as_bytes(),
            );
        }
    }
    crate::files::hex(&h.finalize())
}

/// A result worth reusing: the task and every head finished.
pub fn finished(t: &TaskResult) -> bool {
    t.error.is_none() && t.heads.iter().all(|h| h.error.is_none())
}

/// Hash of everything that determines a task's result.
fn fingerprint(
    spec: &RunSpec,
    backbone: &dyn Backbone,
    task: &LoadedComponent,
    heads: &[RunHead<'_>],
) -> String {
    let what = serde_json::json!({
        "scivid": env!("CARGO_PKG_VERSION"),
        "task": task.sha256,
        "data": spec.data.as_ref().map(|d| d.display().to_string()),
        "task_data": spec.task_data,
        "backbone": backbone.describe(),
        "heads": heads.iter().map(|(_, (h, c))| serde_json::json!({"label": h.label, "plugin": c.sha256, "config": h.config})).collect::<Vec<_>>(),
        "protocol": spec.protocol,
        "quick": spec.quick,
        "seed": spec.seed,
        "mode": spec.mode.name(),
        "cache_storage": spec.cache_storage.name(),
        "skip_bad": spec.skip_bad,
    });
    crate::files::sha256_hex(what.to_string().as_bytes())
}

fn failed_task(c: &LoadedComponent, error: String) -> TaskResult {
    TaskResult {
        task: c.origin.clone(),
        resumed_from_step: None,
        fingerprint: String::new(),
        plugin: c.origin.clone(),
        version: String::new(),
        sha256: c.sha256.clone(),
        dataset: String::new(),
        dataset_fingerprint: String::new(),
        primary_metric: String::new(),
        higher_is_better: true,
        metrics: vec![],
        protocol: serde_json::Value::Null,
        error: Some(error),
        features: serde_json::Value::Null,
        splits: vec![],
        skipped: vec![],
        control: BTreeMap::new(),
        control_ci: BTreeMap::new(),
        heads: vec![],
        examples: None,
    }
}

fn to_scores(m: Vec<crate::runtime::bindings::Metric>) -> Scores {
    m.into_iter().map(|m| (m.name, m.value)).collect()
}

#[allow(clippy::too_many_arguments)]
fn run_task(
    spec: &RunSpec,
    rt: &Runtime,
    backbone: &dyn Backbone,
    task_ref: &PluginRef,
    component: &LoadedComponent,
    heads: &[RunHead<'_>],
    checkpoint_dir: &Path,
) -> Result<TaskResult> {
    let (data, stand_in) = dataset_for(spec, task_ref)?;
    let mut task = rt.instantiate_task(
        component,
        Some(&data),
        spec.seed,
        spec.budgets_for(&task_ref.name()),
    )?;
    let info = task.info.clone();
    let splits = task.splits()?;
    let mut protocol = info.protocol;
    if let Some(s) = stand_in {
        // A stand-in is small: its own short schedule, unless the run says otherwise.
        s.demo_protocol().apply(&mut protocol, false);
    }
    spec.protocol.apply(&mut protocol, spec.quick);
    let input = info.input;
    let fshape = backbone.feature_shape(
        input.frames as usize,
        input.height as usize,
        input.width as usize,
    )?;

    // Index and extract every split before training.
    let cache = spec.cache_dir.as_ref().map(|d| {
        crate::cache::FeatureCache::new(d.join("features")).with_storage(spec.cache_storage)
    });
    let (mut features_computed, mut features_cached) = (0, 0);
    let mut split_data = vec![];
    let mut skip_left = spec.skip_bad;
    let mut skipped = vec![];
    for split in &splits {
        let clips = task.index(split)?;
        let got = features::extract(
            backbone,
            cache.as_ref(),
            &data,
            &clips,
            &input,
            spec.seed,
            split,
            spec.progress,
            &mut skip_left,
        )
        .with_context(|| format!("extracting features of split `{split}`"))?;
        features_computed += got.computed;
        features_cached += got.cached;
        for (i, why) in &got.skipped {
            eprintln!(
                "warning: skipped clip `{}` of split `{split}`: {why}",
                clips[*i].id
            );
            skipped.push(crate::report::SkippedClip {
                split: split.clone(),
                clip: clips[*i].id.clone(),
                error: why.clone(),
            });
        }
        let clips: Vec<SampledClip> = got.kept.iter().map(|&i| clips[i].clone()).collect();
        if clips.is_empty() {
            bail!("split `{split}`: every clip was skipped as unreadable");
        }
        let feats = inputs::Inputs::new(got.features, &clips)
            .with_context(|| format!("extras of split `{split}`"))?;
        let targets = task
            .targets(&clips)
            .with_context(|| format!("targets of split `{split}`"))?;
        split_data.push((split.clone(), clips, feats, targets));
    }
    let (_, _, train_feats, train_targets) = &split_data[0];
    // The minival set: the first clips of the first evaluation split.
    let every = spec.protocol.eval_every(protocol.steps);
    let minival = split_data
        .get(1)
        .filter(|_| every > 0)
        .map(|(split, clips, feats, targets)| {
            let rows: Vec<usize> =
                (0..clips.len().min(spec.protocol.minival.unwrap_or(4096))).collect();
            trainer::Minival {
                split: split.clone(),
                feats: feats.select_rows(&rows),
                targets: targets.select_rows(&rows),
                every,
                metric: info.primary_metric.clone(),
            }
        });

    let feature_spec = FeatureSpec {
        time: fshape.time as u32,
        tokens: fshape.tokens() as u32,
        dim: fshape.dim as u32,
        grid_h: fshape.grid_h as u32,
        grid_w: fshape.grid_w as u32,
    };
    let online = match spec.mode {
        Mode::Cached => None,
        Mode::Online => Some(online::OnlineFeatures {
            backbone,
            clips: online::TrainingClips {
                root: &data,
                clips: &split_data[0].1,
                input,
                augmentations: task.augmentations()?,
                seed: spec.seed,
            },
        }),
    };
    let train_start = std::time::Instant::now();
    let checkpoints = checkpoint::Checkpoints::new(checkpoint_dir.to_path_buf());
    let (trained, resumed_from) = trainer::train(
        spec,
        rt,
        &mut task,
        heads,
        feature_spec,
        &protocol,
        train_feats,
        train_targets,
        minival.as_ref(),
        &checkpoints,
        online.as_ref(),
    )?;
    if spec.progress {
        let resumed = resumed_from
            .map(|s| format!(", resumed at step {s}"))
            .unwrap_or_default();
        let losses: Vec<String> = trained
            .iter()
            .map(|h| match (&h.result.error, h.result.final_train_loss) {
                (Some(_), _) => format!("{} failed", h.result.head),
                (None, Some(l)) => format!("{} loss {l:.4}", h.result.head),
                (None, None) => format!("{} untrained", h.result.head),
            })
            .collect();
        eprintln!(
            "train {}: {} steps in {:.1} s{resumed}; {}",
            info.name,
            protocol.steps,
            train_start.elapsed().as_secs_f64(),
            losses.join(", ")
        );
    }
    let eval_start = std::time::Instant::now();

    let mut control = BTreeMap::new();
    let mut head_results: Vec<HeadResult> = trained.iter().map(|h| h.result.clone()).collect();
    let mut trained = trained;
    let mut control_ci = BTreeMap::new();
    let metric = info.primary_metric.clone();
    let target_shape: Vec<usize> = info.target_shape.iter().map(|&d| d as usize).collect();
    let view = crate::report::examples::view_for(info.kind, &target_shape);
    let last_split = split_data.last().map(|s| s.0.clone());
    // The last split's example rows: ("control" or head, its predictions).
    let mut shown: Vec<(String, DynTensor)> = vec![];
    let mut example_rows = vec![];
    for (split, clips, feats, targets) in split_data.iter().skip(1) {
        let groups: Vec<String> = clips.iter().map(|c| c.group.clone()).collect();
        let preds = task.control(train_targets, clips)?;
        let showing = view.is_some() && last_split.as_ref() == Some(split);
        if let Some(v) = view.as_ref().filter(|_| showing) {
            example_rows = crate::report::examples::rows_for(v, clips.len());
            shown.push(("control".into(), preds.select_rows(&example_rows)));
        }
        control.insert(
            split.clone(),
            to_scores(task.evaluate(split, [(&preds, targets)])?),
        );
        let ci = bootstrap::interval(
            &mut task,
            split,
            &preds,
            targets,
            &groups,
            &metric,
            spec.bootstrap,
            spec.seed,
        )?;
        if let Some(ci) = ci {
            control_ci.insert(split.clone(), ci);
        }
        for (h, result) in trained.iter_mut().zip(head_results.iter_mut()) {
            if result.error.is_some() {
                continue;
            }
            match trainer::predict(h, feats, protocol.batch_size as usize) {
                Ok(preds) => match task.evaluate(
                    split,
                    preds
                        .iter()
                        .zip(chunk_rows(targets, protocol.batch_size as usize).iter()),
                ) {
                    Ok(m) => {
                        result.scores.insert(split.clone(), to_scores(m));
                        let all = DynTensor::cat_rows(&preds);
                        if showing {
                            shown.push((result.head.clone(), all.select_rows(&example_rows)));
                        }
                        let ci = bootstrap::interval(
                            &mut task,
                            split,
                            &all,
                            targets,
                            &groups,
                            &metric,
                            spec.bootstrap,
                            spec.seed,
                        );
                        match ci {
                            Ok(Some(ci)) => {
                                result.ci.insert(split.clone(), ci);
                            }
                            Ok(None) => {}
                            Err(e) if e.trapped => return Err(e.into()),
                            Err(e) => result.error = Some(e.to_string()),
                        }
                    }
                    Err(e) if e.trapped => return Err(e.into()),
                    Err(e) => result.error = Some(e.to_string()),
                },
                Err(e) => result.error = Some(e.to_string()),
            }
        }
    }
    let examples = match (view, split_data.last()) {
        (Some(view), Some((split, clips, _, targets))) if !example_rows.is_empty() => {
            Some(examples(
                view,
                split,
                clips,
                targets,
                &example_rows,
                &shown,
                &data,
                &input,
                spec.seed,
            ))
        }
        _ => None,
    };
    checkpoints.clear();
    if spec.progress {
        eprintln!(
            "evaluate {}: {} splits, control and {} heads, {} bootstrap resamples, in {:.1} s",
            info.name,
            splits.len() - 1,
            heads.len(),
            spec.bootstrap,
            eval_start.elapsed().as_secs_f64()
        );
    }
    Ok(TaskResult {
        task: info.name.clone(),
        resumed_from_step: resumed_from,
        fingerprint: String::new(),
        plugin: component.origin.clone(),
        version: info.version.clone(),
        sha256: component.sha256.clone(),
        dataset: data.display().to_string(),
        dataset_fingerprint: dataset_fingerprint(&split_data),
        primary_metric: info.primary_metric.clone(),
        higher_is_better: info.higher_is_better,
        metrics: info.metrics.clone(),
        protocol: serde_json::json!({
            "steps": protocol.steps, "batch_size": protocol.batch_size, "learning_rate": protocol.learning_rate,
            "warmup_steps": protocol.warmup_steps, "final_learning_rate": protocol.final_learning_rate,
            "weight_decay": protocol.weight_decay, "clip_norm": protocol.clip_norm,
            "eval_every": minival.as_ref().map(|m| m.every),
            "minival": minival.as_ref().map(|m| serde_json::json!({"split": m.split, "clips": m.feats.rows()})),
        }),
        error: None,
        features: serde_json::json!({
            "computed": features_computed,
            "cached": features_cached,
            "storage": spec.cache_storage.name(),
        }),
        splits: splits[1..].to_vec(),
        skipped,
        control,
        control_ci,
        heads: head_results,
        examples,
    })
}

/// The report's examples of the last split; for tracks, with the first
/// example clip's last frame (decoded again: features were all we kept).
#[allow(clippy::too_many_arguments)]
fn examples(
    mut view: crate::report::examples::View,
    split: &str,
    clips: &[SampledClip],
    targets: &DynTensor,
    rows: &[usize],
    shown: &[(String, DynTensor)],
    data: &Path,
    input: &crate::runtime::bindings::InputSpec,
    seed: u64,
) -> crate::report::examples::Examples {
    use crate::report::examples::{Examples, View, frame_png};
    if let View::Tracks { frame_png: png, .. } = &mut view {
        let clip = &clips[rows[0]];
        let (t, h, w) = (
            input.frames as usize,
            input.height as usize,
            input.width as usize,
        );
        *png = crate::data::clips::decode(data, clip, input, seed)
            .and_then(|frames| frame_png(&frames[(t - 1) * h * w * 3..], h, w))
            .map_err(|e| {
                eprintln!(
                    "warning: no frame for the report's example `{}`: {e:#}",
                    clip.id
                )
            })
            .ok();
    }
    let ids = rows.iter().map(|&r| clips[r].id.clone()).collect();
    Examples::new(view, split, ids, &targets.select_rows(rows), shown)
}

/// Split the first axis into chunks of `size` rows.
pub(crate) fn chunk_rows(t: &DynTensor, size: usize) -> Vec<DynTensor> {
    let n = t.shape()[0];
    (0..n)
        .step_by(size.max(1))
        .map(|s| t.select_rows(&(s..(s + size).min(n)).collect::<Vec<_>>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_heads_go_to_the_tasks_scivid_trains_them_on() {
        let heads = RunSpec::default_heads();
        let on = |task: &str| -> Vec<&str> {
            heads
                .iter()
                .filter(|h| h.applies_to(task))
                .map(|h| h.label.as_str())
                .collect()
        };
        for task in ["flyvsfly", "calms21", "typhoon"] {
            assert_eq!(on(task), ["linear", "attention"], "{task}");
        }
        assert_eq!(on("weatherbench2"), ["linear", "dpt"]);
        assert_eq!(on("stir"), ["tracking"]);
        // `@a+b` lists tasks to train on; `@!a+!b` tasks to skip.
        let h = HeadSpec::parse("x=linear@!stir+!typhoon").unwrap();
        assert!(h.applies_to("flyvsfly") && !h.applies_to("stir") && !h.applies_to("typhoon"));
        let h = HeadSpec::parse("x=linear@stir+typhoon").unwrap();
        assert!(!h.applies_to("flyvsfly") && h.applies_to("stir") && h.applies_to("typhoon"));
    }
}
