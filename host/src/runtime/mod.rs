//! The Wasm runtime: loading plugin components (format, SDK version, world),
//! compiling them through the on-disk cache, and instantiating them in a
//! sandbox ([`sandbox`]) with the host tensor resource ([`host_tensor`]).
//! [`plugin`] wraps instances so that every call is bounded and every
//! failure becomes a [`PluginError`] naming the plugin and the cause.

pub mod bindings;
pub mod builtin;
pub mod compile_cache;
pub mod host_tensor;
pub mod params;
pub mod plugin;
pub mod sandbox;
pub mod sdk_version;

pub use plugin::{PluginError, ReadoutPlugin, TaskPlugin};
pub use sandbox::{Budgets, PluginState};

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

/// Epoch ticks per second for the wall-clock watchdog.
pub const EPOCH_TICKS_PER_SECOND: u64 = 100;

/// Which world a component exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Task,
    Readout,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Task => "task",
            PluginKind::Readout => "readout",
        })
    }
}

/// A checked, compiled component.
#[derive(Clone)]
pub struct LoadedComponent {
    /// File path or `builtin:NAME`, for messages.
    pub origin: String,
    pub sha256: String,
    pub sdk_version: semver::Version,
    pub kind: PluginKind,
    pub component: Component,
    pub cache: compile_cache::CacheOutcome,
}

/// Increments the engine epoch on a background thread until dropped.
struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("scivid-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1000 / EPOCH_TICKS_PER_SECOND));
                    engine.increment_epoch();
                }
            })
            .expect("spawn epoch thread");
        Watchdog {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The engine, linkers and compile cache shared by all plugins of a run.
pub struct Runtime {
    pub engine: Engine,
    cache_dir: Option<PathBuf>,
    task_linker: Linker<PluginState>,
    readout_linker: Linker<PluginState>,
    _watchdog: Watchdog,
}

impl Runtime {
    /// `cache_dir`: where compiled components are kept (None: no cache).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;

        let mut task_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut task_linker).map_err(anyhow::Error::from)?;
        bindings::task::Task::add_to_linker::<_, HasSelf<_>>(&mut task_linker, |s| s)
            .map_err(anyhow::Error::from)?;
        let mut readout_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut readout_linker).map_err(anyhow::Error::from)?;
        bindings::readout::Readout::add_to_linker::<_, HasSelf<_>>(&mut readout_linker, |s| s)
            .map_err(anyhow::Error::from)?;

        let watchdog = Watchdog::start(engine.clone());
        Ok(Runtime {
            engine,
            cache_dir,
            task_linker,
            readout_linker,
            _watchdog: watchdog,
        })
    }

    /// The default compile-cache directory: `$SCIVID_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/scivid`, else `~/.cache/scivid`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("SCIVID_CACHE_DIR") {
            return Some(PathBuf::from(d));
        }
        if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(d).join("scivid"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("scivid"))
    }

    /// Read and check a plugin file.
    pub fn load_file(&self, path: &Path) -> Result<LoadedComponent> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read plugin {}", path.display()))?;
        self.load_bytes(&path.display().to_string(), &bytes)
    }

    /// Check `bytes` (format, SDK version, world) and compile them.
    pub fn load_bytes(&self, origin: &str, bytes: &[u8]) -> Result<LoadedComponent> {
        use sdk_version::WasmKind;
        match sdk_version::wasm_kind(bytes) {
            WasmKind::Component => {}
            WasmKind::CoreModule => bail!(
                "{origin}: is a core WebAssembly module, not a component (build plugins with --target wasm32-wasip2)"
            ),
            WasmKind::NotWasm => bail!("{origin}: not a WebAssembly file"),
        }
        let version = sdk_version::read_sdk_version(bytes)
            .with_context(|| format!("{origin}: cannot read it"))?
            .with_context(|| {
                format!(
                    "{origin}: not a scivid plugin (no `{}` section; build it with scivid-sdk's export macros)",
                    sdk_version::SECTION
                )
            })?;
        sdk_version::check_compatible(&version).with_context(|| format!("{origin}: refused"))?;
        let sha256 = crate::files::sha256_hex(bytes);
        let (component, cache) =
            compile_cache::load(&self.engine, self.cache_dir.as_deref(), bytes, &sha256)
                .with_context(|| format!("{origin}: cannot compile the component"))?;
        let kind = self
            .world_of(&component)
            .with_context(|| format!("{origin}: wrong world"))?;
        Ok(LoadedComponent {
            origin: origin.to_string(),
            sha256,
            sdk_version: version,
            kind,
            component,
            cache,
        })
    }

    /// Which scivid world a component exports, from its type alone.
    fn world_of(&self, component: &Component) -> Result<PluginKind> {
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let has = |iface: &str| {
            exports
                .iter()
                .any(|e| e.starts_with(&format!("scivid:plugin/{iface}@")))
        };
        match (has("task-api"), has("readout-api")) {
            (true, false) => Ok(PluginKind::Task),
            (false, true) => Ok(PluginKind::Readout),
            (true, true) => {
                bail!("exports both task-api and readout-api; a plugin is one or the other")
            }
            (false, false) => bail!(
                "exports neither scivid:plugin/task-api nor scivid:plugin/readout-api (found: {})",
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            ),
        }
    }

    pub fn instantiate_task(
        &self,
        c: &LoadedComponent,
        dataset: Option<&Path>,
        seed: u64,
        budgets: &Budgets,
    ) -> Result<TaskPlugin> {
        TaskPlugin::instantiate(self, &self.task_linker, c, dataset, seed, budgets)
    }

    pub fn instantiate_readout(
        &self,
        c: &LoadedComponent,
        seed: u64,
        budgets: &Budgets,
    ) -> Result<ReadoutPlugin> {
        ReadoutPlugin::instantiate(self, &self.readout_linker, c, seed, budgets)
    }
}
