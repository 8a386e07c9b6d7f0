//! The `scivid` command line: argument parsing (clap) and the commands.
//! Errors are reported once, on one line, at the edge (see `main.rs`).

use crate::pipeline::{self, HeadSpec, PluginRef, RunSpec};
use crate::runtime::{Budgets, PluginKind, Runtime, builtin};
use crate::spec::RunConfig;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "scivid",
    version,
    about = "Evaluate video foundation models on scientific tasks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Built once per process; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an evaluation (default: SciVid's five tasks on synthetic stand-ins, pixel backbone).
    Run(RunArgs),
    /// Tasks: list the built-in tasks.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Backbones: list the named models, inspect a checkpoint.
    #[command(subcommand)]
    Backbones(BackbonesCommand),
    /// Speed: forward throughput of a backbone (compare with shared/reference-bench).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Datasets: generate synthetic stand-ins, check a dataset directory.
    #[command(subcommand)]
    Data(DataCommand),
    /// Plugins: list the built-ins, inspect a component.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Results: show one run, compare two.
    #[command(subcommand)]
    Results(ResultsCommand),
    /// The on-disk cache: features, compiled plugins, generated data.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Start a plugin of your own: a crate that builds on its own, with a
    /// unit test, the SDK vendored in, and (tasks) a sample dataset.
    #[command(subcommand)]
    New(NewCommand),
    /// Split a run into independent shards (extraction by clip range, then
    /// training per task and head) and show them with the commands that run them.
    Plan {
        #[command(flatten)]
        run: RunArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Gather the shard results of a sharded run into its results (JSON, CSV, Markdown).
    Merge {
        /// The run's output directory (where the shards wrote).
        dir: PathBuf,
    },
    /// Run on a Slurm cluster: job arrays for extraction and training, then a merge.
    #[command(subcommand)]
    Slurm(SlurmCommand),
    /// Write a self-contained HTML report (plots and tables) of a run.
    Report {
        /// The run's output directory (or its results.json).
        dir: PathBuf,
        /// Where to write it [default: DIR/report.html].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ResultsCommand {
    /// Print a run's provenance and results table (DIR or DIR/results.json).
    Show { dir: PathBuf },
    /// Primary metrics of two runs side by side, with their differences in spec.
    Compare { a: PathBuf, b: PathBuf },
    /// Many runs in one table per task (e.g. a sweep): a row per run, then
    /// per backbone the mean and sd over its seeds. A folder without
    /// results.json stands for the runs in its subfolders.
    Table {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// A task plugin (with a sample dataset in sample-data/).
    Task {
        /// The plugin's name: a-z, 0-9 and `-`.
        name: String,
        /// Where to create it [default: ./NAME].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// A readout plugin.
    Readout {
        /// The plugin's name: a-z, 0-9 and `-`.
        name: String,
        /// Where to create it [default: ./NAME].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

// Built once per process; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum SlurmCommand {
    /// Write the sbatch scripts (extraction array -> training array ->
    /// merge, afterok) into OUT/slurm/ and submit them.
    Submit {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        slurm: crate::cluster::slurm::SlurmOptions,
        /// Sweep: one run per backbone (comma-separated names), each in OUT/BACKBONE-seedS.
        #[arg(long, value_delimiter = ',')]
        backbones: Vec<String>,
        /// Sweep: one run per seed (comma-separated), each in OUT/BACKBONE-seedS.
        #[arg(long, value_delimiter = ',')]
        seeds: Vec<u64>,
        /// Write and show the scripts without submitting.
        #[arg(long)]
        dry_run: bool,
    },
    /// The state of each shard of a submitted run.
    Status {
        /// The run's output directory [default: scivid-out].
        #[arg(default_value = "scivid-out")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Where the cache is and what it holds.
    Ls,
    /// Remove feature entries, least recently written first, until the
    /// features take at most --max-bytes (0 removes them all).
    Gc {
        #[arg(long)]
        max_bytes: u64,
    },
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Run spec file (TOML); flags given here override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the resolved run spec (TOML) and exit without running.
    #[arg(long)]
    pub print_config: bool,
    /// Task plugin: a built-in name or a .wasm file (repeatable).
    #[arg(long = "task")]
    pub tasks: Vec<String>,
    /// Readout head: [LABEL=]PLUGIN[@TASK+TASK][:key=value,...] (repeatable), e.g.
    /// `flat=linear:pool=flatten`; `@stir` trains it on that task only, `@!stir` on all others (`@!stir+!typhoon`: all but those two).
    #[arg(long = "readout")]
    pub readouts: Vec<String>,
    /// Backbone name (`scivid backbones list`) [default: pixel].
    #[arg(long)]
    pub backbone: Option<String>,
    /// The backbone's checkpoint: .safetensors with Hugging Face tensor names.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Which layer's features: block int(depth * F) - 1, SciVid's readout depth fraction [default: 0.95].
    #[arg(long)]
    pub depth_fraction: Option<f64>,
    /// A native backbone library (a trusted cdylib built with scivid-backbone-abi).
    #[arg(long)]
    pub backbone_lib: Option<PathBuf>,
    /// Where the backbone runs: cpu, cuda, cuda:N or wgpu (GPUs need a build with `--features cuda` or `wgpu`) [default: cpu].
    #[arg(long)]
    pub device: Option<crate::device::ComputeDevice>,
    /// Dataset directory for the tasks (granted read-only to each task
    /// plugin); without one, a built-in task runs on its synthetic stand-in.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Dataset directory of one task: TASK=DIR (repeatable).
    #[arg(long = "task-data")]
    pub task_data: Vec<String>,
    /// Output directory for results.json [default: scivid-out].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed for sampling, initialisation, dropout and the plugins' randomness [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the tasks' number of training steps.
    #[arg(long)]
    pub steps: Option<u32>,
    /// Override the tasks' batch size.
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Override the tasks' peak learning rate.
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// Score the heads on the minival set every N steps (0: never) [default: steps / 40].
    #[arg(long)]
    pub eval_every: Option<u32>,
    /// Smoke run: every schedule (steps, warmup) divided by 10.
    #[arg(long)]
    pub quick: bool,
    /// `cached`: features extracted once, no augmentation; `online`:
    /// training features recomputed every step from clips augmented as the
    /// task declares (SciVid's training) [default: cached].
    #[arg(long, value_name = "cached|online")]
    pub mode: Option<crate::pipeline::Mode>,
    /// How the feature cache stores values: f32, or f16 (half the disk and
    /// reads; features rounded to half precision) [default: f32].
    #[arg(long, value_name = "f32|f16")]
    pub cache_dtype: Option<crate::cache::Storage>,
    /// Cluster-bootstrap resamples for 95% intervals (0: none) [default: 1000].
    #[arg(long)]
    pub bootstrap: Option<usize>,
    /// Save a training checkpoint every N steps (0: never) [default: 500].
    #[arg(long)]
    pub checkpoint_every: Option<u32>,
    /// Skip up to N unreadable clips per task (each one recorded in the results) instead of failing.
    #[arg(long)]
    pub skip_bad: Option<usize>,
    /// Run only shard I of the N shards of `scivid plan` (a cluster job).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Clips per extraction shard for `scivid plan` and `--shard` [default: 4096].
    #[arg(long)]
    pub shard_clips: Option<usize>,
    #[command(flatten)]
    pub budgets: BudgetArgs,
    /// Do not cache compiled plugins or generated data on disk.
    #[arg(long)]
    pub no_cache: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Sandbox budgets per plugin (defaults let every built-in run).
#[derive(Debug, Args, Default)]
pub struct BudgetArgs {
    /// Wasm fuel per call into a plugin.
    #[arg(long)]
    pub budget_fuel: Option<u64>,
    /// Wall-clock milliseconds per call into a plugin.
    #[arg(long)]
    pub budget_wall_ms: Option<u64>,
    /// Linear memory per plugin, in bytes.
    #[arg(long)]
    pub budget_memory: Option<usize>,
    /// Live host-tensor bytes per plugin.
    #[arg(long)]
    pub budget_tensor_bytes: Option<u64>,
    /// Host tensor ops per call into a plugin.
    #[arg(long)]
    pub budget_ops: Option<u64>,
    /// Estimated FLOPs of host tensor ops per call into a plugin.
    #[arg(long)]
    pub budget_flops: Option<u64>,
    /// Budgets for one plugin: NAME:key=value,... with NAME a task or head
    /// label and keys fuel, wall_ms, memory, tensor_bytes, ops, flops (repeatable).
    #[arg(long = "budget-for", value_name = "NAME:KEY=VALUE,...")]
    pub budget_for: Vec<String>,
}

impl BudgetArgs {
    /// The budgets given on the command line, as `key=value` overrides.
    pub fn overrides(&self) -> Vec<(String, String)> {
        [
            ("fuel", self.budget_fuel),
            ("wall_ms", self.budget_wall_ms),
            ("memory", self.budget_memory.map(|m| m as u64)),
            ("tensor_bytes", self.budget_tensor_bytes),
            ("ops", self.budget_ops),
            ("flops", self.budget_flops),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
        .collect()
    }
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Clips/s, achieved GFLOP/s and peak memory of a backbone's full forward pass.
    Backbone {
        #[command(flatten)]
        what: crate::bench::BackboneBench,
        /// Append the result as one JSON line to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Every speed figure (backbone forward, readout step, Wasm overhead),
    /// with the peer benchmarks run in the same invocation when given.
    All {
        #[command(flatten)]
        what: crate::bench::all::AllBench,
        /// Append the figures as one JSON line to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The extraction pipeline (PNG frames read, decoded, resized, run
    /// through the backbone, cached) against the forward pass alone.
    Extract {
        #[command(flatten)]
        what: crate::bench::extract::ExtractBench,
        /// Append the result as one JSON line to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// One training step of a readout as a Wasm plugin and as its native
    /// twin, on the same features and weights: steps/s and their ratio.
    Readout {
        #[command(flatten)]
        what: crate::bench::readout::ReadoutBench,
        /// Append the result as one JSON line to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackbonesCommand {
    /// The backbones selectable by name, with their family and sizes.
    List,
    /// What a checkpoint holds: which family and size it is, and whether it loads.
    Inspect { weights: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// The built-in tasks: kind, input, target, metrics and their direction.
    List,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Write the synthetic stand-in of a built-in task (in the layout the task reads).
    Synth {
        /// flyvsfly, calms21, typhoon, weatherbench2, stir or motion.
        task: String,
        #[arg(long)]
        out: PathBuf,
        /// Training examples (clips, sequences, windows or videos); val and
        /// test get a quarter each [default: the stand-in's own].
        #[arg(long)]
        clips: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Validate a dataset directory against a task: counts per split, a
    /// few decoded clips, the first problem named.
    Check {
        /// A built-in task name or a task .wasm file.
        task: String,
        dir: PathBuf,
        /// Clips to decode per split.
        #[arg(long, default_value_t = 4)]
        samples: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the built-in plugins.
    List,
    /// Validate a component against the SDK without a dataset: world,
    /// version, info, grants, loss and metrics (tasks), init, forward and
    /// gradients (readouts), determinism. Exit code 1 if a check fails.
    Check {
        /// A .wasm file or a built-in name.
        file: String,
        /// For a readout: the target shape to build it for, e.g. `16,34,4` [default: 3].
        #[arg(long, value_delimiter = ',')]
        output: Vec<u32>,
        /// For a readout: an extra input and its per-clip shape, e.g.
        /// `queries=34,2` (random values in [0, 1]); repeatable.
        #[arg(long = "extra")]
        extras: Vec<String>,
        /// For a readout: its configuration, e.g. `dims=16,intermediate=16`
        /// (the readout's defaults otherwise).
        #[arg(long, value_delimiter = ',')]
        config: Vec<String>,
    },
    /// `check`, then a task's behaviour on its data: every split indexed,
    /// clips decoded, loss finite, metrics of perfect predictions at least
    /// as good as the control's, the same results twice.
    Test {
        /// A .wasm file or a built-in name.
        file: String,
        /// The task's dataset directory.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Show a plugin's name, kind, versions, sha256 and requested grants.
    Inspect {
        /// A .wasm file or a built-in name.
        file: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Run the command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        None => run_eval(RunArgs::default()),
        Some(Command::Run(args)) => run_eval(args),
        Some(Command::Plan { run, json }) => plan(run, json),
        Some(Command::New(cmd)) => {
            use crate::authoring::scaffold::{Kind, create};
            let (kind, name, dir) = match cmd {
                NewCommand::Task { name, dir } => (Kind::Task, name, dir),
                NewCommand::Readout { name, dir } => (Kind::Readout, name, dir),
            };
            let root = create(kind, &name, dir.as_deref())?;
            let wasm = format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            );
            let run = match kind {
                Kind::Task => format!("scivid run --task ./{wasm}"),
                Kind::Readout => "scivid run".to_string(),
            };
            println!(
                "created {}
next:
  cd {}
  cargo build --release --target wasm32-wasip2
  {run}",
                root.display(),
                root.display()
            );
            Ok(0)
        }
        Some(Command::Merge { dir }) => Ok(print_results(&crate::cluster::merge(&dir)?, &dir)),
        Some(Command::Slurm(cmd)) => slurm(cmd),
        Some(Command::Bench(BenchCommand::Backbone { what, json })) => {
            let r = crate::bench::backbone(&what)?;
            println!("| model | batch | clip | clips/s | GFLOP/clip | GFLOP/s | peak RSS |");
            println!("|---|---:|---|---:|---:|---:|---:|");
            println!(
                "| {} | {} | {}x{}x{} | {:.3} | {:.1} | {:.1} | {:.0} MiB |",
                r.model,
                r.batch,
                r.frames,
                r.size,
                r.size,
                r.clips_per_s,
                r.gflop_per_clip,
                r.gflop_per_s,
                r.peak_rss_mib
            );
            if let Some(path) = json {
                append_json_line(&path, &r)?;
            }
            Ok(0)
        }
        Some(Command::Bench(BenchCommand::All { what, json })) => {
            let figures = crate::bench::all::all(&what)?;
            print!("{}", crate::bench::all::table(&figures));
            if let Some(path) = json {
                append_json_line(&path, &figures)?;
            }
            Ok(0)
        }
        Some(Command::Bench(BenchCommand::Extract { what, json })) => {
            let r = crate::bench::extract::extract(&what)?;
            println!(
                "| model | clips | forward clips/s | decode clips/s | pipeline clips/s | pipeline / forward | peak RSS |"
            );
            println!("|---|---:|---:|---:|---:|---:|---:|");
            println!(
                "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} MiB |",
                r.model,
                r.clips,
                r.forward_clips_per_s,
                r.decode_clips_per_s,
                r.pipeline_clips_per_s,
                r.pipeline_over_forward,
                r.peak_rss_mib
            );
            if let Some(path) = json {
                append_json_line(&path, &r)?;
            }
            Ok(0)
        }
        Some(Command::Bench(BenchCommand::Readout { what, json })) => {
            let r = crate::bench::readout::readout(&what)?;
            println!(
                "| head | preset | batch | Wasm steps/s | native steps/s | Wasm / native time | max abs diff | peak RSS |"
            );
            println!("|---|---|---:|---:|---:|---:|---:|---:|");
            println!(
                "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.1e} | {:.0} MiB |",
                r.head,
                r.preset,
                r.batch,
                r.wasm_steps_per_s,
                r.native_steps_per_s,
                r.wasm_over_native,
                r.max_abs_diff,
                r.peak_rss_mib
            );
            if let Some(path) = json {
                append_json_line(&path, &r)?;
            }
            Ok(0)
        }
        Some(Command::Backbones(BackbonesCommand::List)) => {
            println!("| backbone | family | what |\n|---|---|---|");
            for n in crate::backbone::catalogue() {
                println!("| {} | {} | {} |", n.name, n.family, n.about);
            }
            Ok(0)
        }
        Some(Command::Backbones(BackbonesCommand::Inspect { weights })) => {
            print!("{}", crate::backbone::inspect(&weights)?);
            Ok(0)
        }
        Some(Command::Tasks(TasksCommand::List)) => {
            print!("{}", tasks_table()?);
            Ok(0)
        }
        Some(Command::Data(DataCommand::Synth {
            task,
            out,
            clips,
            seed,
        })) => {
            let stand_in = crate::data::synth::find(&task)?;
            let spec = crate::data::synth::SynthSpec::with_train(
                clips.unwrap_or(stand_in.default_train),
                seed,
            );
            crate::data::synth::write(&task, &out, &spec)?;
            println!(
                "wrote the `{task}` stand-in ({}/{}/{} train/val/test) to {}",
                spec.train,
                spec.val,
                spec.test,
                out.display()
            );
            Ok(0)
        }
        Some(Command::Data(DataCommand::Check { task, dir, samples })) => {
            let rt = Runtime::new(Runtime::default_cache_dir())?;
            let checks = pipeline::check_dataset(&rt, &PluginRef::parse(&task), &dir, samples)?;
            println!("| split | clips | groups | extras | decoded | value range |");
            println!("|---|---:|---:|---|---:|---|");
            for c in &checks {
                println!(
                    "| {} | {} | {} | {} | {} | [{:.3}, {:.3}] |",
                    c.split,
                    c.clips,
                    c.groups,
                    if c.extras.is_empty() {
                        "-".to_string()
                    } else {
                        c.extras.join(", ")
                    },
                    c.decoded,
                    c.value_range.0,
                    c.value_range.1
                );
            }
            println!("{}: ok for task `{task}`", dir.display());
            Ok(0)
        }
        Some(Command::Results(ResultsCommand::Show { dir })) => {
            let r = crate::report::RunResults::load(&dir)?;
            print!("{}\n{}", r.header(), r.markdown());
            Ok(0)
        }
        Some(Command::Results(ResultsCommand::Compare { a, b })) => {
            let (ra, rb) = (
                crate::report::RunResults::load(&a)?,
                crate::report::RunResults::load(&b)?,
            );
            println!("A: {}   {}", a.display(), ra.header().trim_end());
            println!("B: {}   {}\n", b.display(), rb.header().trim_end());
            print!("{}", crate::report::compare(&ra, &rb));
            Ok(0)
        }
        Some(Command::Results(ResultsCommand::Table { dirs })) => {
            let mut runs = vec![];
            for dir in &dirs {
                for run in run_dirs(dir)? {
                    runs.push(crate::report::table::Labelled {
                        label: run.display().to_string(),
                        results: crate::report::RunResults::load(&run)?,
                    });
                }
            }
            print!("{}", crate::report::table::table(&runs));
            Ok(0)
        }
        Some(Command::Report { dir, out }) => {
            let r = crate::report::RunResults::load(&dir)?;
            let base = if dir.is_dir() {
                dir.clone()
            } else {
                dir.parent().map(PathBuf::from).unwrap_or_default()
            };
            let path = out.unwrap_or_else(|| base.join("report.html"));
            crate::files::write_atomic(&path, crate::report::html::render(&r).as_bytes())?;
            println!("report: {}", path.display());
            Ok(0)
        }
        Some(Command::Cache(cmd)) => {
            let dir = Runtime::default_cache_dir()
                .context("no cache directory (set SCIVID_CACHE_DIR or HOME)")?;
            let features = crate::cache::FeatureCache::new(dir.join("features"));
            match cmd {
                CacheCommand::Ls => {
                    println!("cache: {}", dir.display());
                    let entries = features.entries();
                    let bytes: u64 = entries.iter().map(|(_, b)| b).sum();
                    println!(
                        "features    {:>8} entries {:>12} bytes",
                        entries.len(),
                        bytes
                    );
                    let comps = dir_usage(&dir.join("components"));
                    println!("components  {:>8} entries {:>12} bytes", comps.0, comps.1);
                    let data = dir_usage(&dir.join("data"));
                    println!("data        {:>8} files   {:>12} bytes", data.0, data.1);
                }
                CacheCommand::Gc { max_bytes } => {
                    let (removed, freed, kept) = features.gc(max_bytes)?;
                    println!(
                        "removed {removed} feature entries ({freed} bytes); {kept} bytes kept"
                    );
                }
            }
            Ok(0)
        }
        Some(Command::Plugins(PluginsCommand::List)) => {
            let rt = Runtime::new(Runtime::default_cache_dir())?;
            println!(
                "{:<10} {:<8} {:<8} {:<8} sha256",
                "name", "kind", "version", "sdk"
            );
            for name in builtin::names() {
                let d = describe(&rt, &PluginRef::Builtin(name.into()))?;
                println!(
                    "{:<10} {:<8} {:<8} {:<8} {}",
                    d["name"].as_str().unwrap_or(""),
                    d["kind"].as_str().unwrap_or(""),
                    d["version"].as_str().unwrap_or(""),
                    d["sdk_version"].as_str().unwrap_or(""),
                    &d["sha256"].as_str().unwrap_or("")[..16]
                );
            }
            Ok(0)
        }
        Some(Command::Plugins(PluginsCommand::Check {
            file,
            output,
            extras,
            config,
        })) => {
            let rt = Runtime::new(Runtime::default_cache_dir())?;
            let probe = crate::authoring::checks::ReadoutProbe::parse(&output, &extras, &config)?;
            let report = crate::authoring::checks::check(&rt, &PluginRef::parse(&file), &probe)?;
            print!("{}", report.table());
            Ok(if report.passed() { 0 } else { 1 })
        }
        Some(Command::Plugins(PluginsCommand::Test { file, data })) => {
            let rt = Runtime::new(Runtime::default_cache_dir())?;
            let report =
                crate::authoring::checks::test(&rt, &PluginRef::parse(&file), data.as_deref())?;
            print!("{}", report.table());
            Ok(if report.passed() { 0 } else { 1 })
        }
        Some(Command::Plugins(PluginsCommand::Inspect { file, json })) => {
            let rt = Runtime::new(Runtime::default_cache_dir())?;
            let d = describe(&rt, &PluginRef::parse(&file))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print_description(&d);
            }
            Ok(0)
        }
    }
}

/// The spec a folder carries for `scivid run` without `--config` (a plugin
/// crate made by `scivid new` has one naming its plugin and sample data).
pub const FOLDER_SPEC: &str = "scivid.toml";

/// Defaults, then the spec file (`--config`, else `./scivid.toml` if the
/// current folder has one), then the flags.
fn resolve_spec(args: &RunArgs) -> Result<RunSpec> {
    let config = match &args.config {
        Some(path) => RunConfig::load(path)?,
        None if std::path::Path::new(FOLDER_SPEC).is_file() => {
            eprintln!(
                "using the run spec ./{FOLDER_SPEC} of this folder (--config FILE for another)"
            );
            RunConfig::load(std::path::Path::new(FOLDER_SPEC))?
        }
        None => RunConfig::default(),
    };
    let mut spec = config.to_spec()?;
    if !args.tasks.is_empty() {
        spec.tasks = args.tasks.iter().map(|t| PluginRef::parse(t)).collect();
    }
    if !args.readouts.is_empty() {
        spec.heads = args
            .readouts
            .iter()
            .map(|r| HeadSpec::parse(r))
            .collect::<Result<_>>()?;
    }
    if let Some(b) = &args.backbone {
        spec.backbone = b.clone();
    }
    if let Some(w) = &args.weights {
        spec.weights = Some(w.clone());
    }
    if let Some(f) = args.depth_fraction {
        spec.depth_fraction = f;
    }
    if let Some(l) = &args.backbone_lib {
        spec.backbone_lib = Some(l.clone());
    }
    if let Some(d) = args.device {
        spec.device = d;
    }
    if let Some(d) = &args.data {
        spec.data = Some(d.clone());
    }
    for item in &args.task_data {
        let (task, dir) = item
            .split_once('=')
            .with_context(|| format!("--task-data `{item}`: expected TASK=DIR"))?;
        spec.task_data
            .push((PluginRef::parse(task).name(), PathBuf::from(dir)));
    }
    if let Some(o) = &args.out {
        spec.out = o.clone();
    }
    if let Some(s) = args.seed {
        spec.seed = s;
    }
    spec.protocol.steps = args.steps.or(spec.protocol.steps);
    spec.protocol.batch_size = args.batch_size.or(spec.protocol.batch_size);
    spec.protocol.learning_rate = args.learning_rate.or(spec.protocol.learning_rate);
    spec.protocol.eval_every = args.eval_every.or(spec.protocol.eval_every);
    spec.quick |= args.quick;
    if let Some(m) = args.mode {
        spec.mode = m;
    }
    if let Some(d) = args.cache_dtype {
        spec.cache_storage = d;
    }
    if let Some(n) = args.bootstrap {
        spec.bootstrap = n;
    }
    if let Some(n) = args.checkpoint_every {
        spec.checkpoint_every = n;
    }
    if let Some(n) = args.shard_clips {
        spec.shard_clips = n;
    }
    if let Some(n) = args.skip_bad {
        spec.skip_bad = n;
    }
    spec.budgets = spec.budgets.with_overrides(&args.budgets.overrides())?;
    for item in &args.budgets.budget_for {
        let (name, kvs) = item
            .split_once(':')
            .with_context(|| format!("--budget-for `{item}`: expected NAME:key=value,..."))?;
        let mut overrides = vec![];
        for kv in kvs.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--budget-for `{item}`: `{kv}` is not key=value"))?;
            overrides.push((k.trim().to_string(), v.trim().to_string()));
        }
        let b = spec
            .budgets
            .with_overrides(&overrides)
            .with_context(|| format!("--budget-for `{item}`"))?;
        spec.plugin_budgets.push((name.to_string(), b));
    }
    spec.progress = !args.quiet;
    if args.no_cache {
        spec.cache_dir = None;
    }
    Ok(spec)
}

fn run_eval(args: RunArgs) -> Result<i32> {
    let spec = resolve_spec(&args)?;
    if args.print_config {
        print!("{}", print_config(&spec)?);
        return Ok(0);
    }
    if let Some(shard) = &args.shard {
        let (i, n) = crate::cluster::parse_shard(shard)?;
        return run_shard(&spec, i, n);
    }
    let results = pipeline::run(&spec)?;
    Ok(print_results(&results, &spec.out))
}

/// The results table and summary; the exit code is 2 if anything failed.
fn print_results(results: &crate::report::RunResults, out: &std::path::Path) -> i32 {
    print!("{}", results.markdown());
    println!(
        "## Summary (primary metric on the last split)\n\n{}",
        results.summary()
    );
    println!("results: {}", out.join("results.json").display());
    let failed = results
        .tasks
        .iter()
        .any(|t| t.error.is_some() || t.heads.iter().any(|h| h.error.is_some()));
    if failed { 2 } else { 0 }
}

/// One shard of a cluster run. A shard that recorded a failed head or task
/// still exits 0: its work is done and the failure is in its record (the
/// merge reports it); it fails only when it could not do its work.
fn run_shard(spec: &RunSpec, i: usize, n: usize) -> Result<i32> {
    use crate::cluster::shard::Outcome;
    match crate::cluster::run_shard(spec, i, n)? {
        Outcome::AlreadyDone(r) => {
            println!(
                "shard {i}/{n} ({}) finished earlier; nothing to do",
                r.unit.describe()
            )
        }
        Outcome::Done(r) => {
            let failed = r
                .results
                .iter()
                .flat_map(|res| &res.tasks)
                .flat_map(|t| {
                    t.error
                        .iter()
                        .cloned()
                        .chain(t.heads.iter().filter_map(|h| h.error.clone()))
                })
                .collect::<Vec<_>>();
            println!(
                "shard {i}/{n} ({}): {} features computed, {} from the cache, {:.1} s{}",
                r.unit.describe(),
                r.computed,
                r.cached,
                r.seconds,
                if failed.is_empty() {
                    String::new()
                } else {
                    format!("; failed: {}", failed.join("; "))
                }
            );
        }
    }
    Ok(0)
}

/// `scivid plan`: the shards and how to run them.
fn plan(args: RunArgs, json: bool) -> Result<i32> {
    let spec = resolve_spec(&args)?;
    let prepared = pipeline::prepare(&spec)?;
    let plan = crate::cluster::Plan::build(&spec, &prepared)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(0);
    }
    print!("{}", plan.table());
    let n = plan.len();
    let config = args
        .config
        .as_ref()
        .map(|c| format!("--config {} ", c.display()))
        .unwrap_or_default();
    println!(
        "\n{} extraction shards ({} clips each), then {} training shards (plan {}).\n\
         Run each: scivid run {config}[flags] --shard I/{n}   (extraction first, for parallel training)\n\
         Then:     scivid merge {}\n\
         On Slurm: scivid slurm submit {config}[flags]",
        plan.extract_count(),
        plan.shard_clips,
        plan.train_indices().len(),
        &plan.id[..16],
        spec.out.display()
    );
    Ok(0)
}

fn slurm(cmd: SlurmCommand) -> Result<i32> {
    use crate::cluster::slurm;
    match cmd {
        SlurmCommand::Submit {
            run,
            slurm: opts,
            backbones,
            seeds,
            dry_run,
        } => {
            let base = slurm::absolute_spec(&resolve_spec(&run)?)?;
            let runs = slurm::sweep(&base, &backbones, &seeds)?;
            // Later seeds of a backbone wait for its first seed's extraction.
            let mut first_extract: Vec<(String, Option<String>)> = vec![];
            for spec in &runs {
                let prepared = pipeline::prepare(spec)?;
                let plan = crate::cluster::Plan::build(spec, &prepared)?;
                let scripts = slurm::scripts(spec, &plan, &opts)?;
                if dry_run {
                    scripts.write()?;
                    if runs.len() == 1 {
                        for (name, text) in &scripts.files {
                            println!("==> {} <==\n{text}", scripts.dir.join(name).display());
                        }
                    }
                    println!(
                        "dry run: nothing submitted; `bash {}` submits it",
                        scripts.dir.join("submit.sh").display()
                    );
                    continue;
                }
                let after = first_extract
                    .iter()
                    .find(|(b, _)| *b == spec.backbone)
                    .and_then(|(_, e)| e.clone());
                let jobs = slurm::submit(&scripts, &plan, after.as_deref())?;
                if !first_extract.iter().any(|(b, _)| *b == spec.backbone) {
                    first_extract.push((spec.backbone.clone(), jobs.extract.clone()));
                }
                println!(
                    "{} seed {}: {} shards: extraction array {} ({} tasks), training array {} ({} tasks), merge {}; \
                     status: scivid slurm status {}",
                    spec.backbone,
                    spec.seed,
                    jobs.shards,
                    jobs.extract.as_deref().unwrap_or("-"),
                    jobs.extract_shards,
                    jobs.train,
                    jobs.shards - jobs.extract_shards,
                    jobs.merge,
                    spec.out.display()
                );
            }
            Ok(0)
        }
        SlurmCommand::Status { dir } => {
            print!("{}", slurm::status(&dir)?);
            Ok(0)
        }
    }
}

/// The resolved spec as TOML, with each task's resolved protocol as comments.
fn print_config(spec: &RunSpec) -> Result<String> {
    let mut out =
        String::from("# scivid run spec, resolved (defaults, then the spec file, then flags)\n");
    out.push_str(&RunConfig::resolved(spec).to_toml());
    let rt = Runtime::new(spec.cache_dir.clone())?;
    for t in &spec.tasks {
        let c = t.load(&rt)?;
        let task = rt.instantiate_task(&c, None, spec.seed, &spec.budgets)?;
        let mut p = task.info.protocol;
        spec.protocol.apply(&mut p, spec.quick);
        out.push_str(&format!(
            "# task `{}` runs with: steps = {}, batch_size = {}, learning_rate = {}, warmup_steps = {}, \
             final_learning_rate = {}, weight_decay = {}, clip_norm = {}, eval_every = {}\n",
            task.info.name,
            p.steps,
            p.batch_size,
            p.learning_rate,
            p.warmup_steps,
            p.final_learning_rate,
            p.weight_decay,
            p.clip_norm.map(|c| c.to_string()).unwrap_or_else(|| "none".into()),
            spec.protocol.eval_every(p.steps)
        ));
    }
    Ok(out)
}

/// The built-in tasks as a Markdown table.
fn tasks_table() -> Result<String> {
    let rt = Runtime::new(Runtime::default_cache_dir())?;
    let mut out = String::from(
        "| task | kind | input (T x H x W x C) | target | primary metric | metrics | stand-in |\n|---|---|---|---|---|---|---|\n",
    );
    for name in builtin::names() {
        let c = PluginRef::Builtin(name.to_string()).load(&rt)?;
        if c.kind != PluginKind::Task {
            continue;
        }
        let t = rt.instantiate_task(&c, None, 0, &Budgets::default())?;
        let i = &t.info;
        out.push_str(&format!(
            "| {} | {:?} | {}x{}x{}x{} | {:?} | {} ({}) | {} | {} |\n",
            i.name,
            i.kind,
            i.input.frames,
            i.input.height,
            i.input.width,
            i.input.channels,
            i.target_shape,
            i.primary_metric,
            if i.higher_is_better {
                "higher is better"
            } else {
                "lower is better"
            },
            i.metrics.join(", "),
            crate::data::synth::find(&i.name)
                .map(|s| s.about)
                .unwrap_or("-"),
        ));
    }
    Ok(out)
}

/// The runs `dir` stands for: itself if it holds results.json, else its
/// subfolders that do (a sweep's root), in name order.
fn run_dirs(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    if dir.join("results.json").is_file() || dir.is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("results.json").is_file())
        .collect();
    runs.sort();
    if runs.is_empty() {
        anyhow::bail!(
            "{} holds no results.json, nor do its subfolders",
            dir.display()
        );
    }
    Ok(runs)
}

/// (files, bytes) under `dir`, recursively.
fn dir_usage(dir: &std::path::Path) -> (u64, u64) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    rd.flatten().fold((0, 0), |(n, b), e| match e.metadata() {
        Ok(m) if m.is_dir() => {
            let (n2, b2) = dir_usage(&e.path());
            (n + n2, b + b2)
        }
        Ok(m) => (n + 1, b + m.len()),
        Err(_) => (n, b),
    })
}

/// Everything `plugins inspect` shows, as JSON.
pub fn describe(rt: &Runtime, p: &PluginRef) -> Result<serde_json::Value> {
    let c = p.load(rt)?;
    let budgets = Budgets::default();
    let base = serde_json::json!({
        "file": c.origin, "kind": c.kind, "sdk_version": c.sdk_version.to_string(), "sha256": c.sha256,
    });
    let mut d = base;
    match c.kind {
        PluginKind::Task => {
            let t = rt
                .instantiate_task(&c, None, 0, &budgets)
                .context("cannot start the plugin")?;
            let i = &t.info;
            d["name"] = i.name.clone().into();
            d["version"] = i.version.clone().into();
            d["description"] = i.description.clone().into();
            d["grants"] = i
                .grants
                .iter()
                .map(|g| match g {
                    crate::runtime::bindings::Grant::DatasetRead => {
                        "dataset-read (its dataset directory, read-only, at /data)"
                    }
                })
                .collect::<Vec<_>>()
                .into();
            d["input"] = serde_json::json!({"frames": i.input.frames, "height": i.input.height, "width": i.input.width, "channels": i.input.channels});
            d["target_shape"] = i.target_shape.clone().into();
            d["metrics"] = i.metrics.clone().into();
            d["primary_metric"] = i.primary_metric.clone().into();
            d["higher_is_better"] = i.higher_is_better.into();
            let p = &i.protocol;
            d["protocol"] = serde_json::json!({"steps": p.steps, "batch_size": p.batch_size, "learning_rate": p.learning_rate,
                "warmup_steps": p.warmup_steps, "weight_decay": p.weight_decay, "clip_norm": p.clip_norm});
        }
        PluginKind::Readout => {
            let r = rt
                .instantiate_readout(&c, 0, &budgets)
                .context("cannot start the plugin")?;
            let i = &r.info;
            d["name"] = i.name.clone().into();
            d["version"] = i.version.clone().into();
            d["description"] = i.description.clone().into();
            d["grants"] = serde_json::Value::Array(vec![]);
            d["options"] = i
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .into();
        }
    }
    Ok(d)
}

fn print_description(d: &serde_json::Value) {
    let obj = d.as_object().expect("object");
    for key in [
        "name",
        "kind",
        "version",
        "sdk_version",
        "sha256",
        "file",
        "description",
        "grants",
    ] {
        if let Some(v) = obj.get(key) {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) if a.is_empty() => "none".into(),
                other => other.to_string(),
            };
            println!("{key:<16} {text}");
        }
    }
    for (k, v) in obj {
        if ![
            "name",
            "kind",
            "version",
            "sdk_version",
            "sha256",
            "file",
            "description",
            "grants",
        ]
        .contains(&k.as_str())
        {
            println!("{k:<16} {v}");
        }
    }
}

/// Append `value` as one JSON line to `path` (benchmark records).
fn append_json_line(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(f, "{}", serde_json::to_string(value)?)?;
    Ok(())
}
