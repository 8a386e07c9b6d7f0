//! The run spec file (`scivid run --config run.toml`): a TOML description of
//! a whole run. Values resolve in this order: built-in defaults, then the
//! file, then command-line flags. Relative paths in a file are relative to
//! the file's folder. `--print-config` writes the resolved spec back as TOML
//! that loads to the same run.

use crate::pipeline::{HeadSpec, PluginRef, ProtocolOverrides, RunSpec};
use crate::runtime::Budgets;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file's schema. Every field is optional; unknown keys are errors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub backbone: Option<String>,
    /// The backbone's checkpoint (`.safetensors`, Hugging Face names).
    pub weights: Option<PathBuf>,
    /// SciVid's readout depth fraction: features of block int(depth * f) - 1 (0.95).
    pub depth_fraction: Option<f64>,
    /// A trusted native backbone library (cdylib), used instead of `backbone`.
    pub backbone_lib: Option<PathBuf>,
    /// Where the backbone runs: `cpu` (default), `cuda`, `cuda:N` or `wgpu`.
    pub device: Option<String>,
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
    /// Dataset directory for every task without its own (`[[tasks]] data`);
    /// a built-in task with neither runs on its synthetic stand-in.
    pub data: Option<PathBuf>,
    /// `cached`: features extracted once, no augmentation; `online`:
    /// training features recomputed every step from augmented clips.
    pub mode: Option<String>,
    /// How the feature cache stores values: `f32` (default) or `f16`.
    pub cache_dtype: Option<String>,
    /// Scale every schedule down by 10 for a smoke run.
    pub quick: Option<bool>,
    /// Cluster-bootstrap resamples for 95% intervals (0: none).
    pub bootstrap: Option<usize>,
    /// Save a training checkpoint every this many steps (0: never).
    pub checkpoint_every: Option<u32>,
    /// Clips per feature-extraction shard of a cluster run (rounded up to
    /// a multiple of 16).
    pub shard_clips: Option<usize>,
    /// Unreadable clips a task may skip (recorded in its results) before it fails.
    pub skip_bad: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readouts: Vec<ReadoutEntry>,
    #[serde(default)]
    pub protocol: ProtocolOverrides,
    #[serde(default)]
    pub budgets: BudgetTable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEntry {
    /// A built-in name or a `.wasm` path.
    pub plugin: String,
    /// This task's dataset directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadoutEntry {
    /// The head's name in results (default: the plugin's name).
    pub label: Option<String>,
    /// A built-in name or a `.wasm` path.
    pub plugin: String,
    /// Options passed to the readout's `init`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, toml::Value>,
    /// Train this head only on these tasks (names as in `[[tasks]]`), or
    /// on every task but `!NAME`; default: every task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
}

/// Budget values by key (the keys of `--budget-for`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetKeys {
    pub fuel: Option<u64>,
    pub wall_ms: Option<u64>,
    pub memory: Option<u64>,
    pub tensor_bytes: Option<u64>,
    pub ops: Option<u64>,
    pub flops: Option<u64>,
}

impl BudgetKeys {
    fn pairs(&self) -> Vec<(String, String)> {
        [
            ("fuel", self.fuel),
            ("wall_ms", self.wall_ms),
            ("memory", self.memory),
            ("tensor_bytes", self.tensor_bytes),
            ("ops", self.ops),
            ("flops", self.flops),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
        .collect()
    }

    fn from_budgets(b: &Budgets) -> Self {
        BudgetKeys {
            fuel: Some(b.fuel_per_call),
            wall_ms: Some(b.wall_ms_per_call),
            memory: Some(b.memory_bytes as u64),
            tensor_bytes: Some(b.tensor_bytes),
            ops: Some(b.ops_per_call),
            flops: Some(b.flops_per_call),
        }
    }
}

/// `[budgets]` for every plugin, and `[budgets.for.NAME]` for one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetTable {
    #[serde(flatten)]
    pub all: BudgetKeys,
    #[serde(default, rename = "for", skip_serializing_if = "BTreeMap::is_empty")]
    pub per_plugin: BTreeMap<String, BudgetKeys>,
}

impl RunConfig {
    /// Read a spec file; errors name the file and the offending key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read run spec {}", path.display()))?;
        let mut c: RunConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("run spec {}: {}", path.display(), e.message()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        c.rebase(base);
        Ok(c)
    }

    /// Make relative paths relative to `base` (the spec file's folder).
    fn rebase(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.out.as_mut() {
            fix(p);
        }
        if let Some(p) = self.data.as_mut() {
            fix(p);
        }
        if let Some(p) = self.weights.as_mut() {
            fix(p);
        }
        if let Some(p) = self.backbone_lib.as_mut() {
            fix(p);
        }
        let fix_plugin = |s: &mut String| {
            if let PluginRef::File(p) = PluginRef::parse(s)
                && p.is_relative()
            {
                *s = base.join(p).display().to_string();
            }
        };
        for t in &mut self.tasks {
            fix_plugin(&mut t.plugin);
            if let Some(d) = t.data.as_mut() {
                fix(d);
            }
        }
        self.readouts
            .iter_mut()
            .for_each(|r| fix_plugin(&mut r.plugin));
    }

    /// The run this spec describes, on top of the defaults.
    pub fn to_spec(&self) -> Result<RunSpec> {
        let mut spec = RunSpec::default_run(
            self.out
                .clone()
                .unwrap_or_else(|| PathBuf::from("scivid-out")),
        );
        if let Some(m) = &self.mode {
            spec.mode = m.parse().context("run spec `mode`")?;
        }
        if let Some(b) = &self.backbone {
            spec.backbone = b.clone();
        }
        spec.weights = self.weights.clone();
        spec.backbone_lib = self.backbone_lib.clone();
        if let Some(d) = &self.device {
            spec.device = d.parse().context("run spec `device`")?;
        }
        if let Some(f) = self.depth_fraction {
            spec.depth_fraction = f;
        }
        if let Some(s) = self.seed {
            spec.seed = s;
        }
        spec.data = self.data.clone();
        spec.quick = self.quick.unwrap_or(false);
        if let Some(n) = self.bootstrap {
            spec.bootstrap = n;
        }
        if let Some(n) = self.checkpoint_every {
            spec.checkpoint_every = n;
        }
        if let Some(n) = self.shard_clips {
            spec.shard_clips = n;
        }
        if let Some(n) = self.skip_bad {
            spec.skip_bad = n;
        }
        if let Some(d) = &self.cache_dtype {
            spec.cache_storage = d.parse().context("run spec `cache_dtype`")?;
        }
        if !self.tasks.is_empty() {
            spec.tasks = self
                .tasks
                .iter()
                .map(|t| PluginRef::parse(&t.plugin))
                .collect();
            spec.task_data = self
                .tasks
                .iter()
                .filter_map(|t| {
                    t.data
                        .as_ref()
                        .map(|d| (PluginRef::parse(&t.plugin).name(), d.clone()))
                })
                .collect();
        }
        if !self.readouts.is_empty() {
            spec.heads = self
                .readouts
                .iter()
                .map(|r| {
                    let plugin = PluginRef::parse(&r.plugin);
                    let label = r.label.clone().unwrap_or_else(|| plugin.name());
                    let config = r
                        .config
                        .iter()
                        .map(|(k, v)| (k.clone(), toml_scalar(v)))
                        .collect();
                    HeadSpec {
                        label,
                        plugin,
                        config,
                        tasks: r.tasks.clone(),
                    }
                })
                .collect();
        }
        spec.protocol = self.protocol.clone();
        spec.budgets = Budgets::default()
            .with_overrides(&self.budgets.all.pairs())
            .context("[budgets]")?;
        for (name, keys) in &self.budgets.per_plugin {
            let b = spec
                .budgets
                .with_overrides(&keys.pairs())
                .with_context(|| format!("[budgets.for.{name}]"))?;
            spec.plugin_budgets.push((name.clone(), b));
        }
        Ok(spec)
    }

    /// The fully resolved spec of `spec`, as a file would state it.
    pub fn resolved(spec: &RunSpec) -> RunConfig {
        let name = |p: &PluginRef| match p {
            PluginRef::Builtin(n) => n.clone(),
            PluginRef::File(f) => f.display().to_string(),
        };
        RunConfig {
            backbone: Some(spec.backbone.clone()),
            weights: spec.weights.clone(),
            depth_fraction: Some(spec.depth_fraction),
            backbone_lib: spec.backbone_lib.clone(),
            device: Some(spec.device.to_string()),
            seed: Some(spec.seed),
            out: Some(spec.out.clone()),
            data: spec.data.clone(),
            mode: Some(spec.mode.name().into()),
            quick: Some(spec.quick),
            bootstrap: Some(spec.bootstrap),
            checkpoint_every: Some(spec.checkpoint_every),
            shard_clips: Some(spec.shard_clips),
            skip_bad: Some(spec.skip_bad),
            cache_dtype: Some(spec.cache_storage.name().into()),
            tasks: spec
                .tasks
                .iter()
                .map(|t| TaskEntry {
                    plugin: name(t),
                    data: spec
                        .task_data
                        .iter()
                        .rev()
                        .find(|(n, _)| *n == t.name())
                        .map(|(_, d)| d.clone()),
                })
                .collect(),
            readouts: spec
                .heads
                .iter()
                .map(|h| ReadoutEntry {
                    label: Some(h.label.clone()),
                    plugin: name(&h.plugin),
                    config: h
                        .config
                        .iter()
                        .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                        .collect(),
                    tasks: h.tasks.clone(),
                })
                .collect(),
            protocol: spec.protocol.clone(),
            budgets: BudgetTable {
                all: BudgetKeys::from_budgets(&spec.budgets),
                per_plugin: spec
                    .plugin_budgets
                    .iter()
                    .map(|(n, b)| (n.clone(), BudgetKeys::from_budgets(b)))
                    .collect(),
            },
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a run spec serialises")
    }
}

/// A TOML value as the string a readout's config parser receives.
fn toml_scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
