//! The sandbox policy: what a plugin's store holds and may use.
//!
//! Nothing is granted by default: no environment, no arguments, no network,
//! no files. A task that asks for `dataset-read` sees its dataset directory
//! read-only at `/data`; nothing else is ever mounted. Random numbers and
//! clocks are deterministic (seeded by the run). CPU is bounded by fuel
//! (deterministic) and an epoch deadline (wall clock), linear memory by
//! `StoreLimits`, and host tensors by a byte budget and an op budget that the
//! tensor resource enforces.

use super::host_tensor::TensorBudget;
use super::params::ParamStore;
use burn::tensor::Device;
use rand::SeedableRng;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Limits for one plugin; every one can be raised per run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Budgets {
    /// Wasm fuel (about one unit per instruction) per call into the plugin.
    pub fuel_per_call: u64,
    /// Wall-clock limit per call into the plugin, in milliseconds.
    pub wall_ms_per_call: u64,
    /// Linear memory, in bytes.
    pub memory_bytes: usize,
    /// Live host tensors the plugin holds, in bytes.
    pub tensor_bytes: u64,
    /// Host tensor ops per call into the plugin.
    pub ops_per_call: u64,
    /// Estimated floating-point operations of host ops per call (charged
    /// before each op runs, since fuel cannot stop one).
    #[serde(default = "default_flops")]
    pub flops_per_call: u64,
}

/// 2e13: about a minute of this CPU's peak, far above what the built-in
/// heads need per call at SciVid's full protocol (~3e11).
fn default_flops() -> u64 {
    20_000_000_000_000
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            fuel_per_call: 20_000_000_000,
            wall_ms_per_call: 120_000,
            memory_bytes: 512 << 20,
            tensor_bytes: 8 << 30,
            ops_per_call: 1_000_000,
            flops_per_call: default_flops(),
        }
    }
}

impl Budgets {
    /// These budgets with `key=value` overrides (`fuel`, `wall_ms`,
    /// `memory`, `tensor_bytes`, `ops`); an unknown key is an error.
    pub fn with_overrides(&self, overrides: &[(String, String)]) -> anyhow::Result<Budgets> {
        let mut b = self.clone();
        for (k, v) in overrides {
            let n: u64 = v
                .parse()
                .map_err(|_| anyhow::anyhow!("budget `{k}`: `{v}` is not a whole number"))?;
            match k.as_str() {
                "fuel" => b.fuel_per_call = n,
                "wall_ms" => b.wall_ms_per_call = n,
                "memory" => b.memory_bytes = n as usize,
                "tensor_bytes" => b.tensor_bytes = n,
                "ops" => b.ops_per_call = n,
                "flops" => b.flops_per_call = n,
                other => anyhow::bail!(
                    "unknown budget `{other}` (known: fuel, wall_ms, memory, tensor_bytes, ops, flops)"
                ),
            }
        }
        Ok(b)
    }
}

/// The state of one plugin instance's store.
pub struct PluginState {
    /// The plugin's name, for error messages.
    pub plugin: String,
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) budget: TensorBudget,
    pub(crate) params: ParamStore,
    pub(crate) device: Device,
    /// Random numbers for host ops (dropout), seeded by the run.
    pub(crate) rng: rand::rngs::StdRng,
    /// What the plugin wrote to stderr (panic messages), kept for errors.
    pub(crate) stderr: MemoryOutputPipe,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A wall clock frozen at the run's epoch: plugins cannot read the time.
struct FrozenWallClock;
impl wasmtime_wasi::HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// A monotonic clock that advances one microsecond per reading, so loops
/// that wait on it terminate but learn nothing about real time.
#[derive(Default)]
struct CountingClock(AtomicU64);
impl wasmtime_wasi::HostMonotonicClock for CountingClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed)
    }
}

impl PluginState {
    /// A state granting nothing but, if given, `/data` read-only.
    pub fn new(
        plugin: &str,
        dataset: Option<&Path>,
        seed: u64,
        budgets: &Budgets,
        device: Device,
    ) -> anyhow::Result<Self> {
        let stderr = MemoryOutputPipe::new(64 << 10);
        let mut b = WasiCtxBuilder::new();
        b.stderr(stderr.clone());
        b.secure_random(rand::rngs::StdRng::seed_from_u64(seed))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed))
            .insecure_random_seed(seed as u128)
            .wall_clock(FrozenWallClock)
            .monotonic_clock(CountingClock::default())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        if let Some(dir) = dataset {
            b.preopened_dir(dir, DATA_DIR, FsPerms::ReadOnly)
                .map_err(|e| {
                    anyhow::anyhow!("cannot open dataset directory {}: {e}", dir.display())
                })?;
        }
        let limits = StoreLimitsBuilder::new()
            .memory_size(budgets.memory_bytes)
            .instances(64)
            .tables(64)
            .memories(16)
            .table_elements(1 << 20)
            .trap_on_grow_failure(true)
            .build();
        Ok(PluginState {
            plugin: plugin.to_string(),
            wasi: b.build(),
            table: ResourceTable::new(),
            limits,
            budget: TensorBudget::new(
                budgets.tensor_bytes,
                budgets.ops_per_call,
                budgets.flops_per_call,
            ),
            params: ParamStore::new(seed),
            device,
            rng: rand::rngs::StdRng::seed_from_u64(seed ^ 0xd0_0d),
            stderr,
        })
    }
}

/// Where the dataset directory appears inside the sandbox (the SDK's `DATA_DIR`).
pub const DATA_DIR: &str = "/data";
