//! Running modules: the shared engine, loading and describing components, the
//! registry of loaded modules, notify fan-out, and the host services behind the
//! imports.

pub mod actor;
pub mod bindings;
mod convert;
pub mod ctx;
pub mod engine;
mod imports;
pub mod module;
pub mod published;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Store, UpdateDeadline};

use crate::cluster::Cluster;
use crate::cluster::model::{Change, NotifyKind};
use crate::command::{Signature, find_by_prefix};
use crate::config::Grants;
use crate::config::{Config, ModuleConfig, ResolvedOptions};
use crate::metrics::Metrics;
use crate::source::{CommandDest, Source};
use crate::store::Store as KvStore;
use bindings::ceph::mgr::types::{CommandResult, CommandTarget, Error as WitError};
use bindings::{Module, ModulePre};
use ctx::{ModuleCtx, Shared};
use engine::{CacheOutcome, CompileCache};
use module::{Blueprint, ModuleHandle, ModuleStatus, State};

/// Default memory limit of one module instance.
pub const DEFAULT_MEMORY_LIMIT: usize = 512 << 20;
/// How long instantiating a component and its `describe` may take; past it the file
/// is reported as failed and loading goes on with the next one.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a module has to answer an HTTP request before the client gets 503.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command from one module to another may take.
pub const CALL_MODULE_TIMEOUT: Duration = Duration::from_secs(30);
/// Key under which the host's own health checks (failed modules) are published.
pub const HOST_HEALTH_KEY: &str = "mgr";

/// Host services shared by every module's imports.
pub struct Services {
    /// The cluster state.
    pub cluster: Arc<Cluster>,
    /// Module key-value store.
    pub store: Arc<KvStore>,
    /// Where the cluster state comes from and cluster commands go.
    pub source: Source,
    /// Cluster commands that change something, granted per module.
    pub grants: Grants,
    /// This manager's id.
    pub mgr_id: String,
    /// Loaded modules, for `call-module` and fan-out.
    pub registry: Registry,
    /// The host's own metrics.
    pub metrics: Metrics,
}

impl Services {
    /// Runs a cluster command for module `from`: mon and OSD commands go to the
    /// cluster, mgr commands to the module that declares them.
    pub async fn send_command(
        &self,
        from: &str,
        target: CommandTarget,
        command: &str,
        inbuf: String,
    ) -> Result<CommandResult, WitError> {
        let dict: serde_json::Value = serde_json::from_str(command)
            .map_err(|e| WitError::Invalid(format!("command is not JSON: {e}")))?;
        if dict.get("prefix").and_then(|p| p.as_str()).is_none() {
            return Err(WitError::Invalid("command has no \"prefix\" string".into()));
        }
        tracing::debug!(module = from, "send-command {target:?} {command}");
        let dest = match target {
            CommandTarget::Mgr => {
                // A command one of our modules declares goes to it (as ceph-mgr's
                // own modules' commands do); any other to the cluster's manager.
                let owner = self
                    .registry
                    .all()
                    .into_iter()
                    .find(|m| find_by_prefix(&m.signatures, &dict).is_some());
                match owner {
                    Some(owner) => return call(&owner, command.to_string(), inbuf).await,
                    None if matches!(self.source, Source::Sim(_)) => {
                        return Err(WitError::NotFound(format!(
                            "no module serves `{}`",
                            dict["prefix"]
                        )));
                    }
                    None => CommandDest::Mgr,
                }
            }
            CommandTarget::Mon => CommandDest::Mon,
            CommandTarget::Osd(id) => CommandDest::Osd(id),
        };
        let prefix = dict["prefix"].as_str().unwrap_or_default();
        if !self.source.is_read_only(dest, &dict) && !self.grants.allows(from, prefix) {
            tracing::warn!(module = from, "denied `{prefix}`: not granted");
            return Err(WitError::Denied(format!(
                "`{prefix}` changes the cluster and module `{from}` was not granted it \
                 (commands = [\"{prefix}\"] under [modules.{from}] in the host config)"
            )));
        }
        Ok(self.source.command(dest, &dict, &inbuf).await.into())
    }

    /// Runs a command that module `name` declared (ceph-mgr's `remote`).
    pub async fn call_module(
        &self,
        name: &str,
        command: &str,
        inbuf: String,
    ) -> Result<CommandResult, WitError> {
        let target = self
            .registry
            .get(name)
            .ok_or_else(|| WitError::NotFound(format!("no module `{name}`")))?;
        let dict: serde_json::Value = serde_json::from_str(command)
            .map_err(|e| WitError::Invalid(format!("command is not JSON: {e}")))?;
        if find_by_prefix(&target.signatures, &dict).is_none() {
            return Err(WitError::NotFound(format!(
                "module `{name}` has no command `{}`",
                dict.get("prefix").and_then(|p| p.as_str()).unwrap_or("")
            )));
        }
        call(&target, command.to_string(), inbuf).await
    }

    /// Publishes `MGR_MODULE_ERROR` for modules down by failure (or clears it).
    pub fn report_module_health(&self) {
        let details = self
            .registry
            .all()
            .iter()
            .filter_map(|m| m.failure_detail())
            .chain(
                self.registry
                    .load_failures()
                    .into_iter()
                    .map(|f| format!("Module file '{}' failed to load: {}", f.file, f.error)),
            )
            .collect();
        let checks = module::module_error_check(details).into_iter().collect();
        self.cluster.set_module_health(HOST_HEALTH_KEY, checks);
    }
}

async fn call(
    target: &ModuleHandle,
    command: String,
    inbuf: String,
) -> Result<CommandResult, WitError> {
    target
        .command(command, inbuf, CALL_MODULE_TIMEOUT)
        .await
        .map_err(|e| WitError::Unavailable(format!("module `{}`: {e}", target.name)))
}

/// A component file that could not be loaded, and why.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFailure {
    /// File name inside the modules folder.
    pub file: String,
    /// Full path.
    pub path: String,
    /// What went wrong.
    pub error: String,
}

/// The loaded modules by name, and the files that failed to load.
#[derive(Default)]
pub struct Registry {
    modules: RwLock<BTreeMap<String, Arc<ModuleHandle>>>,
    failures: RwLock<BTreeMap<String, LoadFailure>>,
}

impl Registry {
    /// The module named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<ModuleHandle>> {
        self.modules.read().ok()?.get(name).cloned()
    }

    /// Every loaded module, by name.
    pub fn all(&self) -> Vec<Arc<ModuleHandle>> {
        self.modules
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Files that failed to load.
    pub fn load_failures(&self) -> Vec<LoadFailure> {
        self.failures
            .read()
            .map(|f| f.values().cloned().collect())
            .unwrap_or_default()
    }

    fn insert(&self, handle: Arc<ModuleHandle>) {
        if let Ok(mut m) = self.modules.write() {
            m.insert(handle.name.clone(), handle);
        }
    }

    fn record_failure(&self, failure: LoadFailure) {
        if let Ok(mut f) = self.failures.write() {
            f.insert(failure.path.clone(), failure);
        }
    }

    fn clear_failure(&self, path: &Path) {
        if let Ok(mut f) = self.failures.write() {
            f.remove(&path.display().to_string());
        }
    }
}

/// One row of `module ls`: a running module or a file that failed to load.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ModuleRow {
    /// A loaded module.
    Loaded(ModuleStatus),
    /// A file that failed to load.
    Failed {
        /// The file's stem, standing in for the module name.
        name: String,
        /// Always `failed`.
        state: State,
        /// Why it failed.
        last_error: String,
        /// The file.
        path: String,
    },
}

/// Timings of one module load, for benchmarks and logs.
#[derive(Debug, Clone, Copy)]
pub struct LoadTimings {
    /// Compile or cache load.
    pub compile: Duration,
    /// Whether the compile cache was hit.
    pub cached: bool,
    /// Instantiation.
    pub instantiate: Duration,
}

/// The module runtime of one host.
pub struct Runtime {
    engine: wasmtime::Engine,
    linker: Linker<ModuleCtx>,
    cache: CompileCache,
    config: Config,
    /// Shared host services.
    pub services: Arc<Services>,
}

impl Runtime {
    /// Builds the engine and linker; compiled components are cached in `cache_dir`.
    pub fn new(services: Arc<Services>, config: Config, cache_dir: &Path) -> Result<Arc<Self>> {
        let engine = engine::new_engine()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("linking WASI: {e:#}"))?;
        Module::add_to_linker::<_, HasSelf<ModuleCtx>>(&mut linker, |ctx| ctx)
            .map_err(|e| anyhow!("linking ceph:mgr: {e:#}"))?;
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache: CompileCache::new(cache_dir)?,
            config,
            services,
        }))
    }

    /// Loads every `.wasm` file in `dir`. Files that fail are reported (log,
    /// `module ls`, health) and skipped; the others run.
    pub async fn load_dir(self: &Arc<Self>, dir: &Path) -> Result<Vec<Arc<ModuleHandle>>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading modules folder {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
            .collect();
        files.sort();
        let mut loaded = Vec::new();
        for path in files {
            match self.load_file(&path, None).await {
                Ok((handle, t)) => {
                    tracing::info!(
                        module = %handle.name,
                        "loaded {} (compile {:?}{}, instantiate {:?})",
                        path.display(),
                        t.compile,
                        if t.cached { ", cached" } else { "" },
                        t.instantiate
                    );
                    loaded.push(handle);
                }
                Err(e) => tracing::error!("skipping {}: {e:#}", path.display()),
            }
        }
        self.services.cluster.set_mgr_modules(
            self.services
                .registry
                .all()
                .iter()
                .map(|m| m.name.clone())
                .collect(),
        );
        self.services.report_module_health();
        release_compile_memory();
        Ok(loaded)
    }

    /// Loads one component file and starts it. `name` overrides the module's own
    /// name (to run several copies of one component). A failure is recorded
    /// against the file and returned.
    pub async fn load_file(
        self: &Arc<Self>,
        path: &Path,
        name: Option<&str>,
    ) -> Result<(Arc<ModuleHandle>, LoadTimings)> {
        match self.try_load(path, name).await {
            Ok(ok) => {
                self.services.registry.clear_failure(path);
                Ok(ok)
            }
            Err(e) => {
                let file = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.services.registry.record_failure(LoadFailure {
                    file,
                    path: path.display().to_string(),
                    error: format!("{e:#}"),
                });
                Err(e)
            }
        }
    }

    async fn try_load(
        self: &Arc<Self>,
        path: &Path,
        name: Option<&str>,
    ) -> Result<(Arc<ModuleHandle>, LoadTimings)> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if !is_component(&bytes) {
            bail!("not a WebAssembly component (a core module or another file)");
        }
        let t0 = Instant::now();
        let (pre, outcome) = self.prepare(&bytes)?;
        let compile = t0.elapsed();

        let t1 = Instant::now();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let provisional = name.unwrap_or(&stem);
        let shared = Arc::new(Shared::default());
        let (mut store, module) = tokio::time::timeout(
            LOAD_TIMEOUT,
            self.instantiate(
                provisional,
                &pre,
                Arc::new(ResolvedOptions::default()),
                DEFAULT_MEMORY_LIMIT,
                shared.clone(),
            ),
        )
        .await
        .map_err(|_| anyhow!("did not finish instantiating within {LOAD_TIMEOUT:?}"))??;
        let instantiate = t1.elapsed();
        // A busy guest yields at every epoch tick, so the time limit can fire.
        let describe = module.func_describe();
        let mut info = tokio::time::timeout(LOAD_TIMEOUT, describe.call_async(&mut store, ()))
            .await
            .map_err(|_| anyhow!("did not return from describe within {LOAD_TIMEOUT:?}"))?
            .map(|(info,)| info)
            .map_err(|e| anyhow!("trapped in describe: {e:#}"))?;
        if let Some(n) = name {
            info.name = n.to_string();
        }
        validate_name(&info.name)?;
        if let Some(existing) = self.services.registry.get(&info.name)
            && existing.state() != State::Stopped
        {
            bail!(
                "a module named `{}` is already loaded from {}",
                info.name,
                existing.path.display()
            );
        }
        let signatures = info
            .commands
            .iter()
            .map(|c| Signature::parse(&c.cmd))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("bad command signature: {e}"))?;
        let settings = self.module_config(&info.name);
        let options = Arc::new(
            ResolvedOptions::resolve(&info.options, &settings.options)
                .map_err(|e| anyhow!("module `{}`: bad configuration: {e}", info.name))?,
        );
        let memory_limit = settings
            .memory_limit()
            .map_err(|e| anyhow!("module `{}`: bad configuration: {e}", info.name))?
            .unwrap_or(DEFAULT_MEMORY_LIMIT);
        let http_timeout = settings
            .http_timeout()
            .map_err(|e| anyhow!("module `{}`: bad configuration: {e}", info.name))?
            .unwrap_or(DEFAULT_HTTP_TIMEOUT);
        // The describing instance becomes the first running instance: give it its
        // real name and options.
        store.data_mut().set_name(&info.name);
        store.data_mut().options = options.clone();
        store.data_mut().limits.set_limit(memory_limit);

        let handle = ModuleHandle::start(
            self.clone(),
            path.to_path_buf(),
            info,
            signatures,
            Blueprint {
                pre,
                options,
                memory_limit,
                http_timeout,
                listen: settings.listen,
                shared,
            },
            (store, module),
        );
        self.services.registry.insert(handle.clone());
        Ok((
            handle,
            LoadTimings {
                compile,
                cached: outcome == CacheOutcome::Hit,
                instantiate,
            },
        ))
    }

    /// Compiles (or loads from the cache) and links a component against the
    /// `module` world.
    pub fn prepare(&self, bytes: &[u8]) -> Result<(ModulePre<ModuleCtx>, CacheOutcome)> {
        let (component, outcome) = self
            .cache
            .component(&self.engine, bytes)
            .context("compiling")?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("does not fit the ceph:mgr@0.1.0 module world: {e:#}"))?;
        let pre = ModulePre::new(pre)
            .map_err(|e| anyhow!("does not export the ceph:mgr@0.1.0 module world: {e:#}"))?;
        Ok((pre, outcome))
    }

    /// Creates a store for module `name` and instantiates the component in it.
    pub async fn instantiate(
        &self,
        name: &str,
        pre: &ModulePre<ModuleCtx>,
        options: Arc<ResolvedOptions>,
        memory_limit: usize,
        shared: Arc<Shared>,
    ) -> Result<(Store<ModuleCtx>, Module)> {
        let ctx = ModuleCtx::new(name, self.services.clone(), options, memory_limit, shared);
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        let module = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!("instantiating: {e:#}"))?;
        Ok((store, module))
    }

    /// The operator's settings for module `name` (defaults when absent).
    pub fn module_config(&self, name: &str) -> ModuleConfig {
        self.config.modules.get(name).cloned().unwrap_or_default()
    }

    /// Every module and failed file, for `module ls`.
    pub fn rows(&self) -> Vec<ModuleRow> {
        let mut rows: Vec<ModuleRow> = self
            .services
            .registry
            .all()
            .iter()
            .map(|m| ModuleRow::Loaded(m.status()))
            .collect();
        rows.extend(self.services.registry.load_failures().into_iter().map(|f| {
            ModuleRow::Failed {
                name: Path::new(&f.file)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or(f.file.clone()),
                state: State::Failed,
                last_error: f.error,
                path: f.path,
            }
        }));
        rows
    }

    /// Stops every module (each gets `shutdown` and its grace period).
    pub async fn stop_all(&self) {
        let modules = self.services.registry.all();
        futures::future::join_all(modules.iter().map(|m| m.stop())).await;
    }
}

/// Delivers every cluster change to the modules that want its kind, until the
/// cluster goes away. A lagging subscription re-announces every map.
pub async fn fan_out(services: Arc<Services>) {
    let mut changes = services.cluster.subscribe();
    loop {
        match changes.recv().await {
            Ok(change) => {
                for m in services.registry.all() {
                    m.notify(&change);
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("notify fan-out lagged by {n} changes; re-announcing all maps");
                for kind in NotifyKind::ALL {
                    if matches!(kind, NotifyKind::Clog | NotifyKind::Command) {
                        continue;
                    }
                    let change = Change {
                        kind,
                        id: String::new(),
                    };
                    for m in services.registry.all() {
                        m.notify(&change);
                    }
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Hands the heap that compiling left free back to the operating system:
/// cranelift's working memory is large and glibc keeps freed arenas otherwise.
fn release_compile_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own allocator state.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether `bytes` start with the component-model preamble (magic, then layer 1).
fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [1, 0]
}

fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        bail!("module name `{name}` must be 1-64 of a-z, 0-9, _ and -");
    }
    if name == HOST_HEALTH_KEY {
        bail!("module name `{name}` is reserved");
    }
    Ok(())
}
