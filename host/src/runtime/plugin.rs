//! [`TaskPlugin`] and [`ReadoutPlugin`]: instances whose every call is
//! bounded (fuel, wall clock, memory, host tensors) and checked (returned
//! shapes). A trap poisons the instance: its store is never entered again and
//! every later call reports the first cause. Errors name the plugin.

use super::bindings::{
    Augmentation, Clip, ClipSource, ClipSpec, ClipTarget, FeatureSpec, FrameSampling, FrameSource,
    MediaSource, Metric, ReadoutInfo, SampledClip, TaskInfo, readout, task,
};
use super::host_tensor::{BudgetExceeded, TensorRes};
use super::params::Param;
use super::{Budgets, EPOCH_TICKS_PER_SECOND, LoadedComponent, PluginState, Runtime};
use crate::tensor::DynTensor;
use anyhow::Result;
use std::path::Path;
use wasmtime::component::{Linker, Resource, ResourceAny, TypedFunc};
use wasmtime::{Store, Trap};

/// A plugin call that failed: the plugin, the call, and the cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin `{plugin}`: {call}: {cause}")]
pub struct PluginError {
    pub plugin: String,
    pub call: String,
    pub cause: String,
    /// True when the instance trapped (and is now unusable).
    pub trapped: bool,
}

/// A store plus the rules for entering it.
struct Guarded {
    store: Store<PluginState>,
    name: String,
    budgets: Budgets,
    poisoned: Option<String>,
}

impl Guarded {
    fn new(rt: &Runtime, name: &str, state: PluginState, budgets: &Budgets) -> Self {
        let mut store = Store::new(&rt.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        Guarded {
            store,
            name: name.to_string(),
            budgets: budgets.clone(),
            poisoned: None,
        }
    }

    /// A fresh sandboxed store for component `c`.
    fn start(
        rt: &Runtime,
        c: &LoadedComponent,
        dataset: Option<&Path>,
        seed: u64,
        budgets: &Budgets,
    ) -> Result<Self> {
        let state = PluginState::new(
            &c.origin,
            dataset,
            seed,
            budgets,
            crate::tensor::default_device(),
        )?;
        Ok(Guarded::new(rt, &c.origin, state, budgets))
    }

    fn err(&self, call: &str, cause: impl Into<String>, trapped: bool) -> PluginError {
        PluginError {
            plugin: self.name.clone(),
            call: call.to_string(),
            cause: cause.into(),
            trapped,
        }
    }

    /// Run `f` inside the store with fresh per-call budgets.
    fn call<R>(
        &mut self,
        call: &str,
        f: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        if let Some(cause) = &self.poisoned {
            return Err(self.err(
                call,
                format!("not called: the plugin was stopped earlier ({cause})"),
                true,
            ));
        }
        self.store
            .set_fuel(self.budgets.fuel_per_call)
            .expect("fuel is enabled");
        let ticks = (self.budgets.wall_ms_per_call * EPOCH_TICKS_PER_SECOND)
            .div_ceil(1000)
            .max(1);
        self.store.set_epoch_deadline(ticks);
        self.store.data_mut().budget.ops_this_call = 0;
        self.store.data_mut().budget.flops_this_call = 0;
        match f(&mut self.store) {
            Ok(r) => Ok(r),
            Err(e) => {
                let cause = self.describe_trap(&e);
                self.poisoned = Some(cause.clone());
                Err(self.err(call, cause, true))
            }
        }
    }

    /// Like `call` for exports returning `result<T, string>`.
    fn call_result<R>(
        &mut self,
        call: &str,
        f: impl FnOnce(&mut Store<PluginState>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, PluginError> {
        match self.call(call, f)? {
            Ok(r) => Ok(r),
            Err(msg) => Err(self.err(
                call,
                format!("returned an error: {}", truncate(&msg, 2000)),
                false,
            )),
        }
    }

    fn describe_trap(&self, e: &wasmtime::Error) -> String {
        let b = &self.budgets;
        if let Some(x) = e.downcast_ref::<BudgetExceeded>() {
            return x.to_string();
        }
        let text = format!("{e:#}");
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => {
                return format!(
                    "exceeded its fuel budget ({} units per call; raise it with --budget-fuel, or --budget-for NAME:fuel=N)",
                    b.fuel_per_call
                );
            }
            Some(Trap::Interrupt) => {
                return format!(
                    "exceeded its wall-time budget ({} ms per call; raise it with --budget-wall-ms, or --budget-for NAME:wall_ms=N)",
                    b.wall_ms_per_call
                );
            }
            Some(Trap::StackOverflow) => return "overflowed its stack (trap)".to_string(),
            _ => {}
        }
        if text.contains("growing memory")
            || text.contains("memory.grow")
            || text.contains("resource limit exceeded")
        {
            return format!(
                "exceeded its memory budget ({} bytes of linear memory; raise it with --budget-memory, or --budget-for NAME:memory=N)",
                b.memory_bytes
            );
        }
        let stderr = String::from_utf8_lossy(&self.store.data().stderr.contents()).to_string();
        if let Some(panic) = panic_message(&stderr) {
            return format!("panicked: {}", truncate(&panic, 2000));
        }
        match e.downcast_ref::<Trap>() {
            Some(trap) => format!("trapped: {trap}"),
            None => format!("failed: {}", truncate(first_line(&text), 2000)),
        }
    }

    fn lend(&mut self, t: DynTensor) -> Result<u32, PluginError> {
        self.store
            .data_mut()
            .lend(t)
            .map(|h| h.rep())
            .map_err(|e| self.err("lend tensor", e.to_string(), false))
    }

    fn unlend(&mut self, rep: u32) {
        let _ = self
            .store
            .data_mut()
            .take(Resource::<TensorRes>::new_own(rep));
    }

    fn take(&mut self, call: &str, h: Resource<TensorRes>) -> Result<DynTensor, PluginError> {
        self.store
            .data_mut()
            .take(h)
            .map_err(|e| self.err(call, format!("bad tensor handle: {e}"), false))
    }
}

/// `at LOCATION: MESSAGE` from Rust's panic output on the guest's stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let i = lines.iter().rposition(|l| l.contains("panicked at"))?;
    let location = lines[i]
        .split("panicked at")
        .nth(1)
        .unwrap_or("")
        .trim()
        .trim_end_matches(':');
    let message = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
    Some(format!("at {location}: {message}"))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

/// A clip as task-clips' `clip` (SDK 0.2.3), when it is one.
fn as_clip(c: &SampledClip) -> Option<Clip> {
    let source = match &c.source {
        MediaSource::NpyVideo(p) => ClipSource::NpyVideo(p.clone()),
        MediaSource::NpyArray(a) => ClipSource::NpyArray(a.clone()),
        MediaSource::ImageFiles(f) => ClipSource::ImageFiles(f.clone()),
        MediaSource::Zarr(z) => ClipSource::Zarr(z.clone()),
        MediaSource::SequenceExample(s) => ClipSource::SequenceExample(s.clone()),
        MediaSource::Video(_) | MediaSource::Npz(_) | MediaSource::Safetensors(_) => return None,
    };
    let FrameSampling::Indices(frame_indices) = &c.sampling else {
        return None;
    };
    Some(Clip {
        id: c.id.clone(),
        source,
        frame_indices: frame_indices.clone(),
        target: c.target.clone(),
        group: c.group.clone(),
        extras: c.extras.clone(),
    })
}

/// A clip as task-api's `clip-spec` (SDK 0.2.0), when it is one.
fn as_spec(c: &Clip) -> Option<ClipSpec> {
    let source = match &c.source {
        ClipSource::NpyVideo(p) => FrameSource::NpyVideo(p.clone()),
        ClipSource::NpyArray(a) => FrameSource::NpyArray(a.clone()),
        ClipSource::ImageFiles(f) => FrameSource::ImageFiles(f.clone()),
        ClipSource::Zarr(_) | ClipSource::SequenceExample(_) => return None,
    };
    let ClipTarget::Values(target) = &c.target else {
        return None;
    };
    Some(ClipSpec {
        id: c.id.clone(),
        source,
        frame_indices: c.frame_indices.clone(),
        target: target.clone(),
        group: c.group.clone(),
        extras: c.extras.clone(),
    })
}

fn borrow(rep: u32) -> Resource<TensorRes> {
    Resource::new_borrow(rep)
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} name `{}` must be 1-64 chars of [a-z0-9_-]",
            truncate(name, 80)
        ))
    }
}

/// A plugin from a file may not take a built-in's name: results would
/// otherwise look as if the built-in had produced them.
fn check_not_impersonating(c: &LoadedComponent, name: &str) -> Result<(), String> {
    let from_file = !c.origin.starts_with("builtin:");
    if from_file && super::builtin::names().any(|b| b == name) {
        return Err(format!(
            "claims the name `{name}` of a built-in plugin; a plugin from a file must use a name of its own"
        ));
    }
    Ok(())
}

/// A running task plugin.
pub struct TaskPlugin {
    g: Guarded,
    bindings: task::Task,
    /// The clip interface the plugin exports besides `task-api`.
    clips: TaskClips,
    /// The dataset directory mounted at `/data`, where host-read targets live.
    dataset: Option<std::path::PathBuf>,
    pub info: TaskInfo,
    pub sha256: String,
}

type ClipsFunc<C> = TypedFunc<(String,), (Result<Vec<C>, String>,)>;
type ControlFunc<C> =
    TypedFunc<(Resource<TensorRes>, Vec<C>), (Result<Resource<TensorRes>, String>,)>;

/// An interface exporting `clips(split)` and `control(targets, clips)` over
/// clip type `C`, looked up by hand: the host's bindings are generated for
/// the `task` world, which every task since 0.2.0 exports.
struct ClipExports<C> {
    clips: ClipsFunc<C>,
    control: ControlFunc<C>,
}

impl<C> Clone for ClipExports<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for ClipExports<C> {}

type AugmentationsFunc = TypedFunc<(), (Vec<Augmentation>,)>;

/// Which clip interface a task exports besides `task-api`.
enum TaskClips {
    /// `task-sampled-clips` (SDK 0.2.4), with its `augmentations`.
    Sampled(ClipExports<SampledClip>, AugmentationsFunc),
    /// `task-clips` (SDK 0.2.3).
    Clips(ClipExports<Clip>),
    /// Neither: `task-api.index` and `task-api.control` (SDK 0.2.0-0.2.2).
    Specs,
}

impl<C> ClipExports<C>
where
    C: wasmtime::component::ComponentType
        + wasmtime::component::Lift
        + wasmtime::component::Lower
        + Send
        + Sync
        + 'static,
{
    /// `clips` and `control` of the exported interface `iface`.
    fn of(
        store: &mut Store<PluginState>,
        instance: &wasmtime::component::Instance,
        iface: &ExportedInterface,
    ) -> wasmtime::Result<Self> {
        Ok(ClipExports {
            clips: iface.func(store, instance, "clips")?,
            control: iface.func(store, instance, "control")?,
        })
    }
}

/// A `scivid:plugin/NAME@VERSION` instance the component exports.
struct ExportedInterface {
    name: String,
    index: wasmtime::component::ComponentExportIndex,
}

impl ExportedInterface {
    /// The component's export of `interface` (any version), if it has one.
    fn find(
        store: &mut Store<PluginState>,
        c: &LoadedComponent,
        instance: &wasmtime::component::Instance,
        interface: &str,
    ) -> wasmtime::Result<Option<Self>> {
        let engine = store.engine().clone();
        let prefix = format!("scivid:plugin/{interface}@");
        let name = c
            .component
            .component_type()
            .exports(&engine)
            .map(|(n, _)| n.to_string())
            .find(|n| n.starts_with(&prefix));
        let Some(name) = name else {
            return Ok(None);
        };
        let index = instance
            .get_export_index(&mut *store, None, &name)
            .ok_or_else(|| wasmtime::format_err!("{name} has no instance"))?;
        Ok(Some(ExportedInterface { name, index }))
    }

    /// Function `func` of this interface, typed.
    fn func<P, R>(
        &self,
        store: &mut Store<PluginState>,
        instance: &wasmtime::component::Instance,
        func: &str,
    ) -> wasmtime::Result<TypedFunc<P, R>>
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
        R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
    {
        let f = instance
            .get_export_index(&mut *store, Some(&self.index), func)
            .ok_or_else(|| wasmtime::format_err!("{} has no `{func}`", self.name))?;
        instance.get_typed_func(&mut *store, f)
    }
}

impl TaskClips {
    fn find(
        store: &mut Store<PluginState>,
        c: &LoadedComponent,
        instance: &wasmtime::component::Instance,
    ) -> wasmtime::Result<Self> {
        if let Some(i) = ExportedInterface::find(store, c, instance, "task-sampled-clips")? {
            let augmentations = i.func(store, instance, "augmentations")?;
            return Ok(TaskClips::Sampled(
                ClipExports::of(store, instance, &i)?,
                augmentations,
            ));
        }
        if let Some(i) = ExportedInterface::find(store, c, instance, "task-clips")? {
            return Ok(TaskClips::Clips(ClipExports::of(store, instance, &i)?));
        }
        Ok(TaskClips::Specs)
    }
}

impl TaskPlugin {
    pub(super) fn instantiate(
        rt: &Runtime,
        linker: &Linker<PluginState>,
        c: &LoadedComponent,
        dataset: Option<&Path>,
        seed: u64,
        budgets: &Budgets,
    ) -> Result<Self> {
        let mut g = Guarded::start(rt, c, dataset, seed, budgets)?;
        let (bindings, clips) = g.call("instantiate", |s| {
            let instance = linker.instantiate(&mut *s, &c.component)?;
            let bindings = task::Task::new(&mut *s, &instance)?;
            Ok((bindings, TaskClips::find(s, c, &instance)?))
        })?;
        let info = g.call("info", |s| bindings.scivid_plugin_task_api().call_info(s))?;
        validate_task_info(&info).map_err(|m| g.err("info", m, false))?;
        check_not_impersonating(c, &info.name).map_err(|m| g.err("info", m, false))?;
        g.name = info.name.clone();
        Ok(TaskPlugin {
            g,
            bindings,
            clips,
            dataset: dataset.map(Path::to_path_buf),
            info,
            sha256: c.sha256.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    pub fn splits(&mut self) -> Result<Vec<String>, PluginError> {
        let b = &self.bindings;
        let splits = self
            .g
            .call("splits", |s| b.scivid_plugin_task_api().call_splits(s))?;
        if splits.is_empty() || splits.len() > 16 {
            return Err(self.g.err(
                "splits",
                format!("declared {} splits (1 to 16 allowed)", splits.len()),
                false,
            ));
        }
        Ok(splits)
    }

    /// The clips of `split`, from the newest clip interface the plugin has.
    pub fn index(&mut self, split: &str) -> Result<Vec<SampledClip>, PluginError> {
        let call = format!("index({split})");
        let arg = (split.to_string(),);
        let clips: Vec<SampledClip> = match self.clips {
            TaskClips::Sampled(e, _) => {
                self.g.call_result(&call, |s| Ok(e.clips.call(s, arg)?.0))?
            }
            TaskClips::Clips(e) => {
                let clips = self.g.call_result(&call, |s| Ok(e.clips.call(s, arg)?.0))?;
                clips.into_iter().map(SampledClip::from).collect()
            }
            TaskClips::Specs => {
                let b = &self.bindings;
                let specs = self
                    .g
                    .call_result(&call, |s| b.scivid_plugin_task_api().call_index(s, split))?;
                specs.into_iter().map(SampledClip::from).collect()
            }
        };
        for c in &clips {
            self.check_target(c)
                .map_err(|m| self.g.err(&call, m, false))?;
        }
        Ok(clips)
    }

    /// A clip's target fits the task's target shape: its values, or the
    /// [frame, channel, height, width] the host will read (height and width
    /// are checked when the frames are read).
    fn check_target(&self, c: &SampledClip) -> Result<(), String> {
        let shape = &self.info.target_shape;
        let id = truncate(&c.id, 200);
        match &c.target {
            ClipTarget::Values(v) => {
                let want: usize = shape.iter().map(|&d| d as usize).product();
                if v.len() != want {
                    return Err(format!(
                        "clip `{id}` has {} target values; target-shape {shape:?} needs {want}",
                        v.len()
                    ));
                }
            }
            ClipTarget::Frames(t) => {
                let channels = match &c.source {
                    MediaSource::Zarr(z) => z.channels.len(),
                    _ => {
                        return Err(format!(
                            "clip `{id}`: a target read from frames needs a Zarr source"
                        ));
                    }
                };
                if shape.len() != 4
                    || shape[0] as usize != t.frames.len()
                    || shape[1] as usize != channels
                {
                    return Err(format!(
                        "clip `{id}`: a target of {} frames x {channels} channels does not fit target-shape {shape:?} ([frames, channels, height, width])",
                        t.frames.len()
                    ));
                }
                if !(t.scale.len() == 1 || t.scale.len() == channels) {
                    return Err(format!(
                        "clip `{id}`: target scale has {} entries, expected 1 or {channels}",
                        t.scale.len()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The training split's augmentation (`online` runs), validated; none
    /// for tasks built before SDK 0.2.4.
    pub fn augmentations(&mut self) -> Result<Vec<Augmentation>, PluginError> {
        let TaskClips::Sampled(_, f) = self.clips else {
            return Ok(vec![]);
        };
        let augs = self.g.call("augmentations", |s| Ok(f.call(s, ())?.0))?;
        crate::data::augment::validate(&augs)
            .map_err(|e| self.g.err("augmentations", format!("{e:#}"), false))?;
        Ok(augs)
    }

    /// Targets [N, ..target-shape] of `clips`: their values, or read by the
    /// host from their sources in the dataset directory.
    pub fn targets(&self, clips: &[SampledClip]) -> Result<DynTensor> {
        let mut shape = vec![clips.len()];
        shape.extend(self.info.target_shape.iter().map(|&d| d as usize));
        let per: usize = shape[1..].iter().product();
        let mut data = Vec::with_capacity(clips.len() * per);
        for c in clips {
            match &c.target {
                ClipTarget::Values(v) => data.extend_from_slice(v),
                ClipTarget::Frames(_) => {
                    let root = self.dataset.as_deref().ok_or_else(|| {
                        anyhow::anyhow!(
                            "clip `{}`: a host-read target needs a dataset directory",
                            c.id
                        )
                    })?;
                    let v = crate::data::clips::read_target(root, c)?;
                    anyhow::ensure!(
                        v.len() == per,
                        "clip `{}`: its target frames hold {} values; target-shape {:?} needs {per} (are the planes the size the task declares?)",
                        c.id,
                        v.len(),
                        self.info.target_shape
                    );
                    data.extend(v);
                }
            }
        }
        Ok(DynTensor::from_vec(
            data,
            &shape,
            &crate::tensor::default_device(),
        )?)
    }

    fn check_batch(
        &self,
        call: &str,
        t: &DynTensor,
        rows: Option<usize>,
    ) -> Result<(), PluginError> {
        let mut want: Vec<usize> =
            vec![rows.unwrap_or_else(|| t.shape().first().copied().unwrap_or(0))];
        want.extend(self.info.target_shape.iter().map(|&d| d as usize));
        if t.shape() != want.as_slice() {
            return Err(self.g.err(
                call,
                format!("returned shape {:?}, expected {want:?}", t.shape()),
                false,
            ));
        }
        Ok(())
    }

    /// The scalar training loss of `predictions` against `targets`.
    pub fn loss(
        &mut self,
        predictions: &DynTensor,
        targets: &DynTensor,
    ) -> Result<DynTensor, PluginError> {
        let (p, t) = (
            self.g.lend(predictions.clone())?,
            self.g.lend(targets.clone())?,
        );
        let b = &self.bindings;
        let r = self.g.call_result("loss", |s| {
            b.scivid_plugin_task_api()
                .call_loss(s, borrow(p), borrow(t))
        });
        self.g.unlend(p);
        self.g.unlend(t);
        let loss = self.g.take("loss", r?)?;
        if !loss.shape().is_empty() {
            return Err(self.g.err(
                "loss",
                format!("returned shape {:?}, expected a scalar", loss.shape()),
                false,
            ));
        }
        Ok(loss)
    }

    /// The control baseline's predictions for `clips`.
    pub fn control(
        &mut self,
        train_targets: &DynTensor,
        clips: &[SampledClip],
    ) -> Result<DynTensor, PluginError> {
        let t = self.g.lend(train_targets.clone())?;
        let older = |what: &str| {
            format!(
                "clips with video sources or host-sampled frames need a task exporting task-sampled-clips (this one exports {what})"
            )
        };
        let r = match self.clips {
            TaskClips::Sampled(e, _) => self.g.call_result("control", |s| {
                Ok(e.control.call(s, (borrow(t), clips.to_vec()))?.0)
            }),
            TaskClips::Clips(e) => match clips.iter().map(as_clip).collect::<Option<Vec<_>>>() {
                Some(old) => self
                    .g
                    .call_result("control", |s| Ok(e.control.call(s, (borrow(t), old))?.0)),
                None => {
                    self.g.unlend(t);
                    return Err(self.g.err("control", older("task-clips"), false));
                }
            },
            TaskClips::Specs => {
                let specs: Option<Vec<ClipSpec>> = clips
                    .iter()
                    .map(|c| as_clip(c).as_ref().and_then(as_spec))
                    .collect();
                let Some(specs) = specs else {
                    self.g.unlend(t);
                    return Err(self.g.err("control", older("task-api only"), false));
                };
                let b = &self.bindings;
                self.g.call_result("control", |s| {
                    b.scivid_plugin_task_api()
                        .call_control(s, borrow(t), &specs)
                })
            }
        };
        self.g.unlend(t);
        let out = self.g.take("control", r?)?;
        self.check_batch("control", &out, Some(clips.len()))?;
        Ok(out)
    }

    /// Metrics of `chunks` of (predictions, targets), chunk then reduce.
    pub fn evaluate<'a>(
        &mut self,
        split: &str,
        chunks: impl IntoIterator<Item = (&'a DynTensor, &'a DynTensor)>,
    ) -> Result<Vec<Metric>, PluginError> {
        let b = &self.bindings;
        let acc: ResourceAny = self.g.call("accumulator", |s| {
            b.scivid_plugin_task_api()
                .accumulator()
                .call_constructor(s, split)
        })?;
        for (p, t) in chunks {
            self.check_batch("metrics update", p, None)?;
            let (pr, tr) = (self.g.lend(p.detached())?, self.g.lend(t.clone())?);
            let r = self.g.call_result("metrics update", |s| {
                b.scivid_plugin_task_api()
                    .accumulator()
                    .call_update(s, acc, borrow(pr), borrow(tr))
            });
            self.g.unlend(pr);
            self.g.unlend(tr);
            r?;
        }
        let metrics = self.g.call_result("metrics finish", |s| {
            b.scivid_plugin_task_api().accumulator().call_finish(s, acc)
        })?;
        let _ = self.g.call("drop accumulator", |s| acc.resource_drop(s));
        if metrics.len() > 256 {
            return Err(self.g.err(
                "metrics finish",
                format!("returned {} metrics (at most 256)", metrics.len()),
                false,
            ));
        }
        for m in &metrics {
            if m.name.len() > 128 {
                return Err(self.g.err(
                    "metrics finish",
                    format!("metric name of {} bytes (at most 128)", m.name.len()),
                    false,
                ));
            }
        }
        Ok(metrics)
    }
}

fn validate_task_info(info: &TaskInfo) -> Result<(), String> {
    check_name("task", &info.name)?;
    let n: u64 = info.target_shape.iter().map(|&d| d as u64).product();
    if info.target_shape.is_empty() || info.target_shape.len() > 4 || n == 0 || n > 1 << 22 {
        return Err(format!(
            "target-shape {:?} must have rank 1-4 and 1 to 2^22 elements",
            info.target_shape
        ));
    }
    if info.metrics.len() > 256 || info.metrics.iter().any(|m| m.len() > 128) {
        return Err("too many or too long metric names (at most 256, 128 bytes each)".into());
    }
    if !info.metrics.contains(&info.primary_metric) {
        return Err(format!(
            "primary metric `{}` is not among its metrics {:?}",
            info.primary_metric, info.metrics
        ));
    }
    let i = &info.input;
    if i.frames == 0
        || i.frames > 1024
        || i.height == 0
        || i.width == 0
        || i.height > 4096
        || i.width > 4096
    {
        return Err(format!(
            "input spec {}x{}x{} is out of range",
            i.frames, i.height, i.width
        ));
    }
    if !matches!(i.channels, 1 | 3) {
        return Err(format!("input channels must be 1 or 3, got {}", i.channels));
    }
    let p = &info.protocol;
    if p.steps == 0 || p.batch_size == 0 || !(p.learning_rate > 0.0 && p.learning_rate.is_finite())
    {
        return Err(format!(
            "protocol {p:?} needs steps, batch size and learning rate > 0"
        ));
    }
    Ok(())
}

/// A running readout plugin, with the parameters it declared.
pub struct ReadoutPlugin {
    g: Guarded,
    bindings: readout::Readout,
    pub info: ReadoutInfo,
    pub sha256: String,
    output_shape: Vec<usize>,
}

impl ReadoutPlugin {
    pub(super) fn instantiate(
        rt: &Runtime,
        linker: &Linker<PluginState>,
        c: &LoadedComponent,
        seed: u64,
        budgets: &Budgets,
    ) -> Result<Self> {
        let mut g = Guarded::start(rt, c, None, seed, budgets)?;
        let bindings = g.call("instantiate", |s| {
            readout::Readout::instantiate(s, &c.component, linker)
        })?;
        let info = g.call("info", |s| {
            bindings.scivid_plugin_readout_api().call_info(s)
        })?;
        check_name("readout", &info.name).map_err(|m| g.err("info", m, false))?;
        check_not_impersonating(c, &info.name).map_err(|m| g.err("info", m, false))?;
        g.name = info.name.clone();
        Ok(ReadoutPlugin {
            g,
            bindings,
            info,
            sha256: c.sha256.clone(),
            output_shape: vec![],
        })
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Let the readout declare its parameters for these shapes.
    pub fn init(
        &mut self,
        config: &[(String, String)],
        features: FeatureSpec,
        output_shape: &[u32],
    ) -> Result<(), PluginError> {
        self.g.store.data_mut().params.open = true;
        let b = &self.bindings;
        let r = self.g.call_result("init", |s| {
            b.scivid_plugin_readout_api()
                .call_init(s, config, features, output_shape)
        });
        self.g.store.data_mut().params.open = false;
        r?;
        if self.params().is_empty() {
            return Err(self
                .g
                .err("init", "declared no parameters (nothing to train)", false));
        }
        self.output_shape = output_shape.iter().map(|&d| d as usize).collect();
        Ok(())
    }

    /// features [B, T, N, D] (and the batch's extras) -> predictions
    /// [B, ..output_shape].
    pub fn forward(
        &mut self,
        features: &DynTensor,
        extras: &[(String, DynTensor)],
        train: bool,
    ) -> Result<DynTensor, PluginError> {
        let f = self.g.lend(features.clone())?;
        // Extras are handed over: the guest owns (and drops) them.
        let mut names = vec![];
        let mut given = vec![];
        for (name, t) in extras {
            match self.g.lend(t.clone()) {
                Ok(rep) => {
                    names.push(name.clone());
                    given.push(Resource::<TensorRes>::new_own(rep));
                }
                Err(e) => {
                    self.g.unlend(f);
                    for h in given {
                        self.g.unlend(h.rep());
                    }
                    return Err(e);
                }
            }
        }
        let b = &self.bindings;
        let r = self.g.call_result("forward", |s| {
            b.scivid_plugin_readout_api()
                .call_forward(s, borrow(f), &names, &given, train)
        });
        self.g.unlend(f);
        let out = self.g.take("forward", r?)?;
        let mut want = vec![features.shape()[0]];
        want.extend(&self.output_shape);
        if out.shape() != want.as_slice() {
            return Err(self.g.err(
                "forward",
                format!("returned shape {:?}, expected {want:?}", out.shape()),
                false,
            ));
        }
        Ok(out)
    }

    pub fn params(&self) -> &[Param] {
        &self.g.store.data().params.params
    }

    /// Reseed the host-side randomness (dropout) of this plugin, e.g. per
    /// training step so that a resumed run draws the same masks.
    pub fn reseed(&mut self, seed: u64) {
        use rand::SeedableRng;
        self.g.store.data_mut().rng = rand::rngs::StdRng::seed_from_u64(seed);
    }

    /// Set one parameter's value by name (loading weights); the shape must match.
    pub fn set_param(&mut self, name: &str, value: DynTensor) -> Result<(), PluginError> {
        let params = &mut self.g.store.data_mut().params.params;
        let Some(p) = params.iter_mut().find(|p| p.name == name) else {
            let known: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
            let msg = format!("no parameter `{name}` (has: {})", known.join(", "));
            return Err(self.g.err("set param", msg, false));
        };
        if p.value.shape() != value.shape() {
            let msg = format!(
                "parameter `{name}` has shape {:?}, the value {:?}",
                p.value.shape(),
                value.shape()
            );
            return Err(self.g.err("set param", msg, false));
        }
        p.value = value.require_grad_leaf();
        Ok(())
    }

    /// Replace parameter values after an optimiser step (same shapes).
    pub fn set_param_values(&mut self, values: Vec<DynTensor>) {
        let params = &mut self.g.store.data_mut().params.params;
        debug_assert_eq!(params.len(), values.len());
        for (p, v) in params.iter_mut().zip(values) {
            debug_assert_eq!(p.value.shape(), v.shape());
            p.value = v;
        }
    }
}
