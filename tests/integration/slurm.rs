//! A real Slurm: a single-node cluster on localhost (Debian's slurmctld,
//! slurmd and munge, with a private munge key and config in a temporary
//! folder), a sharded run submitted with `scivid slurm submit`, one training
//! array task requeued (killed) mid-way, and the merged results checked;
//! then a two-seed sweep whose second seed waits for the first's features.
//!
//! Needs root and Slurm installed (`.ci/run` installs it). Where Slurm cannot
//! start at all, the test says so and skips, unless SCIVID_REQUIRE_SLURM=1
//! (set by `.ci/run`) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The daemons of a single-node cluster; stopped on drop.
struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Cluster {
    /// Start munged, slurmctld and slurmd; `Err` says why Slurm cannot run here.
    fn start() -> Result<Cluster, String> {
        for bin in [
            "munged",
            "slurmctld",
            "slurmd",
            "sbatch",
            "squeue",
            "scontrol",
        ] {
            if which(bin).is_none() {
                return Err(format!(
                    "`{bin}` is not installed (apt-get install slurmctld slurmd munge slurm-client)"
                ));
            }
        }
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("slurmd must run as root".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("scivid-slurm")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        let munge = d.join("munge");
        for sub in ["munge", "state", "spool"] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| e.to_string())?;
        }
        set_mode(&munge, 0o700);
        let key: Vec<u8> = (0..1024).map(|_| rand::random::<u8>()).collect();
        std::fs::write(munge.join("munge.key"), key).map_err(|e| e.to_string())?;
        set_mode(&munge.join("munge.key"), 0o400);
        let socket = munge.join("munge.socket");
        let status = Command::new("munged")
            .arg("--force")
            .arg(format!("--key-file={}", munge.join("munge.key").display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", munge.join("munged.pid").display()))
            .arg(format!("--log-file={}", munge.join("munged.log").display()))
            .arg(format!("--seed-file={}", munge.join("seed").display()))
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!(
                "munged did not start: {}",
                tail(&munge.join("munged.log"))
            ));
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_err(|e| e.to_string())?
            .trim()
            .split('.')
            .next()
            .unwrap_or("localhost")
            .to_string();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let conf = d.join("slurm.conf");
        let p = |name: &str| d.join(name).display().to_string();
        let text = format!(
            "ClusterName=scivid\nSlurmctldHost={host}\nSlurmUser=root\nAuthType=auth/munge\n\
             AuthInfo=socket={socket}\nCredType=cred/munge\nProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\nSchedulerType=sched/backfill\nSelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core\nStateSaveLocation={state}\nSlurmdSpoolDir={spool}\n\
             SlurmctldLogFile={ctld_log}\nSlurmdLogFile={d_log}\nSlurmctldPidFile={ctld_pid}\n\
             SlurmdPidFile={d_pid}\nSlurmctldPort={ctld_port}\nSlurmdPort={d_port}\n\
             ReturnToService=2\nJobAcctGatherType=jobacct_gather/none\nMpiDefault=none\n\
             NodeName={host} CPUs={cpus} RealMemory=1000 State=UNKNOWN\n\
             PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            socket = socket.display(),
            state = p("state"),
            spool = p("spool"),
            ctld_log = p("ctld.log"),
            d_log = p("d.log"),
            ctld_pid = p("ctld.pid"),
            d_pid = p("d.pid"),
            ctld_port = free_port(),
            d_port = free_port(),
        );
        std::fs::write(&conf, text).map_err(|e| e.to_string())?;
        std::fs::write(d.join("cgroup.conf"), "ConstrainCores=no\n").map_err(|e| e.to_string())?;
        let cluster = Cluster { dir, conf };
        for daemon in ["slurmctld", "slurmd"] {
            let status = cluster.cmd(daemon).status().map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("{daemon} did not start:\n{}", cluster.logs()));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = cluster.cmd("sinfo").args(["-h", "-o", "%T"]).output();
            if let Ok(o) = out
                && String::from_utf8_lossy(&o.stdout).trim() == "idle"
            {
                return Ok(cluster);
            }
            if Instant::now() > deadline {
                return Err(format!("the node never became idle:\n{}", cluster.logs()));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// A Slurm command (or any command) pointed at this cluster.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn logs(&self) -> String {
        let d = self.dir.path();
        format!(
            "--- slurmctld ---\n{}\n--- slurmd ---\n{}",
            tail(&d.join("ctld.log")),
            tail(&d.join("d.log"))
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.cmd("scancel").args(["--user", "root"]).status();
        let d = self.dir.path();
        for pid in ["d.pid", "ctld.pid", "munge/munged.pid"] {
            if let Ok(p) = std::fs::read_to_string(d.join(pid)) {
                let _ = Command::new("kill").arg(p.trim()).status();
            }
        }
    }
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.is_file())
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The newest checkpoint step of the training shard of head `h`, if any.
fn checkpoint_step(out: &Path, h: usize) -> Option<u32> {
    let suffix = format!("-heads{h}-{}", h + 1);
    let dir = std::fs::read_dir(out.join("checkpoints"))
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(&suffix))?
        .path();
    let latest = std::fs::read_to_string(dir.join("LATEST")).ok()?;
    latest.trim().strip_prefix("step-")?.parse().ok()
}

#[test]
fn sharded_run_on_a_real_slurm_with_a_requeued_shard() {
    let cluster = match Cluster::start() {
        Ok(c) => c,
        Err(why) => {
            assert!(
                std::env::var("SCIVID_REQUIRE_SLURM").as_deref() != Ok("1"),
                "SCIVID_REQUIRE_SLURM=1 but Slurm cannot start: {why}"
            );
            eprintln!(
                "SKIPPED sharded_run_on_a_real_slurm_with_a_requeued_shard: Slurm cannot start here: {why}"
            );
            return;
        }
    };
    let work = tempfile::tempdir().unwrap();
    // Long enough training that the attention shard can be caught mid-way.
    let spec = crate::cluster::write_spec_with(work.path(), 1500, 25, 20);
    let out = work.path().join("out");
    let cache = work.path().join("cache");
    let started = Instant::now();
    let submitted = cluster
        .cmd(env!("CARGO_BIN_EXE_scivid"))
        .args(["slurm", "submit", "--config"])
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--partition", "debug", "--time", "30:00"])
        .env("SCIVID_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&submitted.stdout).into_owned();
    assert!(
        submitted.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let jobs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("slurm/jobs.json")).unwrap())
            .unwrap();
    assert_eq!(jobs["shards"], 8, "{text}");
    assert_eq!(jobs["extract_shards"], 6);
    let (train, merge) = (
        jobs["train"].as_str().unwrap().to_string(),
        jobs["merge"].as_str().unwrap().to_string(),
    );

    // Preempt the attention head's training shard once it has checkpointed.
    let victim = format!("{train}_1");
    let deadline = Instant::now() + Duration::from_secs(600);
    while checkpoint_step(&out, 1).is_none_or(|s| s < 50) {
        assert!(
            Instant::now() < deadline,
            "the training shard never checkpointed\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "slurm test: {victim} checkpointed after {:?}",
        started.elapsed()
    );
    let requeue = cluster
        .cmd("scontrol")
        .args(["requeue", &victim])
        .output()
        .unwrap();
    assert!(
        requeue.status.success(),
        "scontrol requeue {victim}: {}",
        String::from_utf8_lossy(&requeue.stderr)
    );
    // Slurm holds a requeued job (BeginTime two minutes ahead) once it is
    // pending again; let it start now.
    loop {
        let show = cluster
            .cmd("scontrol")
            .args(["show", "job", &victim])
            .output()
            .unwrap();
        let show = String::from_utf8_lossy(&show.stdout).into_owned();
        assert!(show.contains("Restarts=1"), "{show}");
        if show.contains("Reason=BeginTime") {
            let _ = cluster
                .cmd("scontrol")
                .args(["update", &format!("jobid={victim}"), "starttime=now"])
                .status();
        } else if !show.contains("JobState=PENDING") && !show.contains("JobState=COMPLETING") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{victim} never restarted:\n{show}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "slurm test: {victim} restarted after {:?}",
        started.elapsed()
    );

    // Wait for the merge job to leave the queue.
    loop {
        let q = cluster
            .cmd("squeue")
            .args(["-h", "-j", &merge])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&q.stdout).trim().to_string();
        if listed.is_empty() && out.join("results.json").exists() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not finish; queue:\n{listed}\n{}\nlogs in {}",
            cluster.logs(),
            out.join("slurm/logs").display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    eprintln!("slurm test: merged after {:?}", started.elapsed());
    let r = crate::common::results_json(&out);
    let task = &r["tasks"][0];
    assert_eq!(task["task"], "motion");
    assert!(task["error"].is_null(), "{task}");
    let heads: Vec<&str> = task["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["head"].as_str().unwrap())
        .collect();
    assert_eq!(heads, ["flat", "drop"]);
    for h in task["heads"].as_array().unwrap() {
        assert!(h["error"].is_null(), "{h}");
        assert_eq!(h["steps"], 1500);
        assert!(h["scores"]["test"]["accuracy"].is_number(), "{h}");
    }
    let flat = task["heads"][0]["scores"]["test"]["accuracy"]
        .as_f64()
        .unwrap();
    assert!(flat > 0.9, "the flattening probe sees the motion: {flat}");
    let from = task["resumed_from_step"]
        .as_u64()
        .expect("the requeued shard resumed");
    assert!(from >= 50 && from.is_multiple_of(25), "{from}");
    assert_eq!(task["features"]["computed"], 384, "each clip computed once");

    // The requeued shard ran twice, appending to its log.
    let logs: Vec<PathBuf> = std::fs::read_dir(out.join("slurm/logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let log = logs
        .iter()
        .find(|p| p.file_name().unwrap().to_string_lossy() == format!("train-{victim}.out"))
        .unwrap_or_else(|| panic!("no log for {victim} in {logs:?}"));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("DUE TO JOB REQUEUE"), "{log}");
    assert!(log.contains("shard 7/8 (train motion with drop)"), "{log}");

    let status = cluster
        .cmd(env!("CARGO_BIN_EXE_scivid"))
        .args(["slurm", "status"])
        .arg(&out)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("shards: 8 done"), "{status}");

    // A seed sweep on a fresh cache: seed 2's extraction waits for seed 1's
    // and finds every feature in the cache.
    let sweep = work.path().join("sweep");
    let submitted = cluster
        .cmd(env!("CARGO_BIN_EXE_scivid"))
        .args(["slurm", "submit", "--config"])
        .arg(&spec)
        .args(["--seeds", "1,2", "--steps", "60", "--out"])
        .arg(&sweep)
        .env("SCIVID_CACHE_DIR", work.path().join("cache-sweep"))
        .output()
        .unwrap();
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let runs = [sweep.join("pixel8-seed1"), sweep.join("pixel8-seed2")];
    while !runs.iter().all(|r| r.join("results.json").exists()) {
        assert!(
            Instant::now() < deadline,
            "the sweep did not finish\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let computed = |run: &Path| -> u64 {
        (0..6)
            .map(|i| {
                let record: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(
                        run.join(format!("shards/shard-{i:05}-of-00008.json")),
                    )
                    .unwrap(),
                )
                .unwrap();
                record["computed"].as_u64().unwrap()
            })
            .sum()
    };
    assert_eq!(computed(&runs[0]), 384, "seed 1 extracts every clip");
    assert_eq!(computed(&runs[1]), 0, "seed 2 reads them from the cache");
    for (run, seed) in runs.iter().zip([1, 2]) {
        let r = crate::common::results_json(run);
        assert_eq!(r["seed"], seed);
        assert!(r["tasks"][0]["heads"][1]["error"].is_null(), "{r}");
    }
}
