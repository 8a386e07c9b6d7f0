//! Slurm: a run as three jobs. An extraction job array (one array task per
//! extraction shard), a training job array that starts `afterok` of it, and
//! a merge job `afterok` of training. Each array task runs
//! `scivid run --config OUT/slurm/run.toml --shard I/N`; the spec file is the
//! fully resolved spec with absolute paths, so every node runs the same run
//! whatever its working directory. Jobs are `--requeue`able: a preempted or
//! requeued shard resumes from the shared cache and its checkpoint.

use super::plan::Plan;
use super::shard::ShardRecord;
use crate::pipeline::{PluginRef, RunSpec};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Resources and options for the jobs (each becomes an `#SBATCH` line).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SlurmOptions {
    /// Partition to submit to.
    #[arg(long)]
    pub partition: Option<String>,
    /// Account to charge.
    #[arg(long)]
    pub account: Option<String>,
    /// Quality of service.
    #[arg(long)]
    pub qos: Option<String>,
    /// Time limit of each array task (Slurm syntax, e.g. 4:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// GPUs per array task.
    #[arg(long)]
    pub gpus_per_task: Option<u32>,
    /// CPUs per array task.
    #[arg(long)]
    pub cpus_per_task: Option<u32>,
    /// Memory per array task (Slurm syntax, e.g. 16G).
    #[arg(long)]
    pub mem: Option<String>,
    /// Most array tasks running at once (`--array=...%N`).
    #[arg(long)]
    pub max_running: Option<u32>,
    /// Any other sbatch option, e.g. `--constraint=a100` (repeatable).
    #[arg(long = "sbatch-arg", value_name = "OPTION")]
    pub extra: Vec<String>,
    /// The scivid binary the jobs run [default: this one].
    #[arg(long)]
    pub scivid: Option<PathBuf>,
}

/// The job ids of a submitted run (`OUT/slurm/jobs.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jobs {
    pub plan: String,
    pub shards: usize,
    pub extract_shards: usize,
    pub extract: Option<String>,
    pub train: String,
    pub merge: String,
}

/// The files a submission writes into `OUT/slurm/`.
pub struct Scripts {
    pub dir: PathBuf,
    /// (file name, contents)
    pub files: Vec<(String, String)>,
}

impl Scripts {
    pub fn write(&self) -> Result<()> {
        for (name, text) in &self.files {
            let path = self.dir.join(name);
            crate::files::write_atomic(&path, text.as_bytes())?;
            if name.ends_with(".sh") || name.ends_with(".sbatch") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> &str {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
            .unwrap_or("")
    }
}

/// `spec` with every path absolute, so it means the same on every node.
pub fn absolute_spec(spec: &RunSpec) -> Result<RunSpec> {
    let abs = |p: &Path| {
        std::path::absolute(p).with_context(|| format!("cannot make {} absolute", p.display()))
    };
    let mut s = spec.clone();
    s.out = abs(&s.out)?;
    if let Some(p) = &s.data {
        s.data = Some(abs(p)?);
    }
    if let Some(p) = &s.weights {
        s.weights = Some(abs(p)?);
    }
    if let Some(p) = &s.backbone_lib {
        s.backbone_lib = Some(abs(p)?);
    }
    for (_, d) in &mut s.task_data {
        *d = abs(d)?;
    }
    for t in &mut s.tasks {
        if let PluginRef::File(p) = t {
            *p = abs(p)?;
        }
    }
    for h in &mut s.heads {
        if let PluginRef::File(p) = &h.plugin {
            h.plugin = PluginRef::File(abs(p)?);
        }
    }
    if let Some(p) = &s.cache_dir {
        s.cache_dir = Some(abs(p)?);
    }
    Ok(s)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The spec file, the three job scripts and `submit.sh` for `spec`.
pub fn scripts(spec: &RunSpec, plan: &Plan, opts: &SlurmOptions) -> Result<Scripts> {
    let spec = absolute_spec(spec)?;
    let dir = spec.out.join("slurm");
    let cache = spec
        .cache_dir
        .clone()
        .context("a cluster run needs the shared feature cache: set SCIVID_CACHE_DIR to a folder every node sees (do not pass --no-cache)")?;
    let scivid = match &opts.scivid {
        Some(p) => std::path::absolute(p)?,
        None => std::env::current_exe().context("cannot tell where the scivid binary is")?,
    };
    let config = dir.join("run.toml");
    let logs = dir.join("logs");
    let n = plan.len();
    let extract = plan.extract_count();
    let train = plan.train_indices().len();
    if train == 0 {
        bail!("the run has no training shards: give it at least one task and one readout");
    }
    let mut common = vec![];
    let mut opt = |key: &str, v: Option<String>| {
        if let Some(v) = v {
            common.push(format!("#SBATCH --{key}={v}"));
        }
    };
    opt("partition", opts.partition.clone());
    opt("account", opts.account.clone());
    opt("qos", opts.qos.clone());
    opt("time", opts.time.clone());
    opt("gpus-per-task", opts.gpus_per_task.map(|g| g.to_string()));
    opt("cpus-per-task", opts.cpus_per_task.map(|c| c.to_string()));
    opt("mem", opts.mem.clone());
    for e in &opts.extra {
        common.push(format!("#SBATCH {e}"));
    }
    let limit = opts
        .max_running
        .map(|m| format!("%{m}"))
        .unwrap_or_default();
    let env = format!(
        "set -euo pipefail\nexport SCIVID_CACHE_DIR={}\n",
        quote(&cache.display().to_string())
    );
    let run = |offset: usize| {
        format!(
            "exec {} run --config {} --shard \"$((SLURM_ARRAY_TASK_ID + {offset}))/{n}\"\n",
            quote(&scivid.display().to_string()),
            quote(&config.display().to_string())
        )
    };
    let array = |name: &str, count: usize, offset: usize| {
        format!(
            "#!/bin/bash\n# scivid {name} shards {offset}..{} of {n} (plan {})\n\
             #SBATCH --job-name=scivid-{name}\n#SBATCH --array=0-{}{limit}\n\
             #SBATCH --output={}/{name}-%A_%a.out\n#SBATCH --open-mode=append\n\
             #SBATCH --requeue\n#SBATCH --kill-on-invalid-dep=yes\n{}\n{env}{}",
            offset + count,
            &plan.id[..16],
            count - 1,
            logs.display(),
            common.join("\n"),
            run(offset)
        )
    };
    let merge = format!(
        "#!/bin/bash\n# scivid: merge the shard results of {}\n#SBATCH --job-name=scivid-merge\n\
         #SBATCH --output={}/merge-%j.out\n#SBATCH --kill-on-invalid-dep=yes\n{}\n{env}exec {} merge {}\n",
        spec.out.display(),
        logs.display(),
        common
            .iter()
            .filter(|l| !l.contains("gpus-per-task"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        quote(&scivid.display().to_string()),
        quote(&spec.out.display().to_string())
    );
    let q = |name: &str| quote(&dir.join(name).display().to_string());
    let mut submit = String::from(
        "#!/bin/bash\n# Submit the run: extraction -> training -> merge, each afterok of the one before.\nset -euo pipefail\n",
    );
    if extract > 0 {
        submit.push_str(&format!(
            "extract=$(sbatch --parsable {})\ntrain=$(sbatch --parsable --dependency=afterok:\"${{extract%%;*}}\" {})\n",
            q("extract.sbatch"),
            q("train.sbatch")
        ));
    } else {
        submit.push_str(&format!(
            "train=$(sbatch --parsable {})\n",
            q("train.sbatch")
        ));
    }
    submit.push_str(&format!(
        "merge=$(sbatch --parsable --dependency=afterok:\"${{train%%;*}}\" {})\necho \"extract ${{extract:-none}} train $train merge $merge\"\n",
        q("merge.sbatch")
    ));
    let mut files = vec![
        (
            "run.toml".to_string(),
            format!(
                "# The resolved run spec every array task runs (written by scivid slurm submit).\n{}",
                crate::spec::RunConfig::resolved(&spec).to_toml()
            ),
        ),
        ("train.sbatch".into(), array("train", train, extract)),
        ("merge.sbatch".into(), merge),
        ("submit.sh".into(), submit),
    ];
    if extract > 0 {
        files.insert(1, ("extract.sbatch".into(), array("extract", extract, 0)));
    }
    Ok(Scripts { dir, files })
}

/// The runs of a sweep: every backbone with every seed, each in its own
/// folder `OUT/BACKBONE-seedS` (just `spec` when neither list is given).
pub fn sweep(spec: &RunSpec, backbones: &[String], seeds: &[u64]) -> Result<Vec<RunSpec>> {
    if backbones.is_empty() && seeds.is_empty() {
        return Ok(vec![spec.clone()]);
    }
    if backbones.len() > 1 && spec.weights.is_some() {
        bail!(
            "--weights names one checkpoint; sweep backbones with weights as one submission each"
        );
    }
    let backbones = if backbones.is_empty() {
        vec![spec.backbone.clone()]
    } else {
        backbones.to_vec()
    };
    let seeds = if seeds.is_empty() {
        vec![spec.seed]
    } else {
        seeds.to_vec()
    };
    let mut runs = vec![];
    for b in &backbones {
        for &s in &seeds {
            let mut r = spec.clone();
            r.backbone = b.clone();
            r.seed = s;
            r.out = spec.out.join(format!("{b}-seed{s}"));
            runs.push(r);
        }
    }
    Ok(runs)
}

/// Write the scripts and submit the three jobs with `sbatch`; the first
/// waits (afterok) for `after` if given: a later seed of a backbone waits
/// for the first seed's extraction, then finds every feature in the cache.
pub fn submit(scripts: &Scripts, plan: &Plan, after: Option<&str>) -> Result<Jobs> {
    scripts.write()?;
    std::fs::create_dir_all(scripts.dir.join("logs"))?;
    let sbatch = |args: &[&str], file: &str| -> Result<String> {
        let out = Command::new("sbatch")
            .arg("--parsable")
            .args(args)
            .arg(scripts.dir.join(file))
            .output()
            .context("cannot run sbatch: is Slurm installed here (or is SLURM_CONF set)?")?;
        if !out.status.success() {
            bail!(
                "sbatch {file} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        // `--parsable` prints `jobid[;cluster]`.
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.trim().split(';').next().unwrap_or("").to_string())
    };
    let dep = |id: &str| format!("--dependency=afterok:{id}");
    let first: Vec<String> = after.map(dep).into_iter().collect();
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let extract = if plan.extract_count() > 0 {
        Some(sbatch(&first, "extract.sbatch")?)
    } else {
        None
    };
    let train = match &extract {
        Some(e) => sbatch(&[&dep(e)], "train.sbatch")?,
        None => sbatch(&first, "train.sbatch")?,
    };
    let merge = sbatch(&[&dep(&train)], "merge.sbatch")?;
    let jobs = Jobs {
        plan: plan.id.clone(),
        shards: plan.len(),
        extract_shards: plan.extract_count(),
        extract,
        train,
        merge,
    };
    crate::files::write_atomic(
        &scripts.dir.join("jobs.json"),
        serde_json::to_string_pretty(&jobs)?.as_bytes(),
    )?;
    Ok(jobs)
}

/// One line per shard: its work and its state (from its record, else from
/// `squeue`), then the merge job.
pub fn status(out: &Path) -> Result<String> {
    let jobs_path = out.join("slurm").join("jobs.json");
    let jobs: Jobs =
        serde_json::from_str(&std::fs::read_to_string(&jobs_path).with_context(|| {
            format!(
                "cannot read {}: was this run submitted with `scivid slurm submit`?",
                jobs_path.display()
            )
        })?)
        .with_context(|| format!("{}", jobs_path.display()))?;
    let plan = Plan::load(out).ok().filter(|p| p.id == jobs.plan);
    let queue = squeue(&jobs);
    let mut text = String::from("| shard | work | state |\n|---:|---|---|\n");
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..jobs.shards {
        let work = plan
            .as_ref()
            .map(|p| p.units[i].describe())
            .unwrap_or_else(|| "(plan not written yet)".into());
        let record = ShardRecord::load(&ShardRecord::path(out, i, jobs.shards))
            .ok()
            .flatten()
            .filter(|r| r.plan == jobs.plan);
        let job_task = if i < jobs.extract_shards {
            jobs.extract.as_ref().map(|e| format!("{e}_{i}"))
        } else {
            Some(format!("{}_{}", jobs.train, i - jobs.extract_shards))
        };
        let queued = job_task
            .as_ref()
            .and_then(|j| queue.as_ref().ok()?.get(j).cloned());
        let state = match (&record, queued) {
            (_, Some(q)) => q,
            (Some(r), None) if r.finished() => format!("done on {} in {:.1} s", r.host, r.seconds),
            (Some(_), None) => "done, with a failure in its results".into(),
            (None, None) => "not running, no record (failed or cancelled?)".into(),
        };
        *counts
            .entry(state.split_whitespace().next().unwrap_or("").to_string())
            .or_default() += 1;
        text.push_str(&format!("| {i}/{} | {work} | {state} |\n", jobs.shards));
    }
    let merge = match queue.as_ref().ok().and_then(|q| q.get(&jobs.merge)) {
        Some(s) => s.clone(),
        None if out.join("results.json").exists() && plan.is_some() => {
            "done (results.json written)".into()
        }
        None => "not in the queue".into(),
    };
    text.push_str(&format!("\nmerge job {}: {merge}\n", jobs.merge));
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    text.push_str(&format!("shards: {}\n", summary.join(", ")));
    if let Err(e) = queue {
        text.push_str(&format!("(squeue: {e:#})\n"));
    }
    Ok(text)
}

/// State of each queued job and array task: `JOBID[_TASK]` -> `STATE (reason)`.
fn squeue(jobs: &Jobs) -> Result<std::collections::HashMap<String, String>> {
    let ids: Vec<&str> = jobs
        .extract
        .iter()
        .map(String::as_str)
        .chain([jobs.train.as_str(), jobs.merge.as_str()])
        .collect();
    let out = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i|%T|%r", "-j", &ids.join(",")])
        .output()
        .context("cannot run squeue")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // Finished jobs leave the controller's memory after a while.
        if err.contains("Invalid job id") {
            return Ok(Default::default());
        }
        bail!("{}", err.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split('|');
            let (id, state, reason) = (parts.next()?, parts.next()?, parts.next()?);
            let state = state.to_lowercase();
            let text = if reason.is_empty() || reason == "None" {
                state
            } else {
                format!("{state} ({reason})")
            };
            Some((id.trim().to_string(), text))
        })
        .collect())
}
