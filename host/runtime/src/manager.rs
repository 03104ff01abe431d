//! The module manager: loading a file into a described, checked candidate,
//! installing it (blue/green when a version runs), enable and disable, options
//! set at run time, the `module ls` view, and a standby's warm modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::{Guest, GuestPre, Module, ModulePre};
use crate::config::{Config, ModuleConfig, ResolvedOptions};
use crate::ctx::{ModuleCtx, RanTooLong, Sandbox, Shared};
use crate::engine::{CacheOutcome, CompileCache, content_hash};
use crate::module::{self, Blueprint, ModuleHandle, ModuleStatus, State};
use crate::store::Store as KvStore;
use crate::{
    DEFAULT_HTTP_TIMEOUT, DEFAULT_MAX_RUN, DEFAULT_MEMORY_LIMIT, HOST_HEALTH_KEY, LOAD_TIMEOUT,
    LoadFailure, Services, bindings,
};
use wasm_mgr_cluster::command::Signature;

/// One row of `module ls`: a running module or a file that failed to load.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ModuleRow {
    /// A loaded module.
    Loaded(ModuleStatus),
    /// A module found in the modules folder that does not run here: the operator
    /// disabled it, or this host is a standby.
    Idle {
        /// Module name (a standby names it by its file).
        name: String,
        /// `disabled` or `standby`.
        state: State,
        /// Its file, if the modules folder has it.
        path: Option<String>,
    },
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

/// A component read, compiled, instantiated and described, not started yet.
struct Candidate {
    path: PathBuf,
    hash: String,
    info: bindings::ceph::mgr::types::ModuleInfo,
    signatures: Vec<Signature>,
    blueprint: Blueprint,
    first: (Store<ModuleCtx>, Guest),
    timings: LoadTimings,
}

/// What [`ModuleManager::install`] did with a file.
pub enum Installed {
    /// The module was not running; it started.
    Started(Arc<ModuleHandle>, LoadTimings),
    /// A new version replaced the running one.
    Replaced(Arc<ModuleHandle>, LoadTimings),
    /// The running version has the file's content already.
    Unchanged(Arc<ModuleHandle>),
    /// The module is disabled: described and listed, not started.
    Disabled(String),
}

/// Why enabling, disabling or reloading a module did not happen.
#[derive(Debug)]
pub enum ModuleOpError {
    /// No such module in the modules folder.
    NotFound(String),
    /// The module is not in a state for this.
    Conflict(String),
    /// The request does not fit the module (an unknown option, a wrong type).
    Invalid(String),
    /// Loading the file, or keeping the choice, failed.
    Failed(anyhow::Error),
}

impl std::fmt::Display for ModuleOpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModuleOpError::NotFound(m) | ModuleOpError::Conflict(m) | ModuleOpError::Invalid(m) => {
                f.write_str(m)
            }
            ModuleOpError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

/// Store key (under the host's own name) of the disabled modules.
const DISABLED_KEY: &str = "disabled_modules";
/// Store key prefix (under the host's own name) of the options an operator set
/// at run time, `options/<module>`: a JSON object of option name to value text.
const OPTIONS_KEY: &str = "options/";

/// A module file's content, read once per load with its hash.
struct ModuleFile {
    bytes: Vec<u8>,
    hash: String,
}

impl ModuleFile {
    fn read(path: &Path) -> Result<ModuleFile> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let hash = content_hash(&bytes);
        Ok(ModuleFile { bytes, hash })
    }
}

/// Whether `path` names a module file: `*.wasm`, not hidden (editors' and copy
/// tools' temporary files start with a dot).
pub fn is_module_file(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "wasm")
        && path
            .file_name()
            .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
}

/// The module manager of one host: the single entry point through which the API,
/// the folder watcher, HA and `serve` install, reload, enable, disable and
/// configure modules.
pub struct ModuleManager {
    engine: wasmtime::Engine,
    linker: Linker<ModuleCtx>,
    cache: CompileCache,
    config: Config,
    /// Where granted data folders live.
    data_root: PathBuf,
    /// Memory limit of modules whose section sets none.
    default_memory: usize,
    /// Module files found in the modules folder, by module name.
    known: std::sync::Mutex<BTreeMap<String, PathBuf>>,
    /// Modules the operator disabled (kept in the store).
    disabled: std::sync::Mutex<BTreeSet<String>>,
    /// Loads and reloads happen one at a time.
    installing: tokio::sync::Mutex<()>,
    /// Components a standby compiled ahead of taking over, by file, with the
    /// file's content hash.
    warm: std::sync::Mutex<BTreeMap<PathBuf, (String, GuestPre)>>,
    /// Whether modules run here: always for a host alone; for an HA host from
    /// the moment it has taken over (its store re-read) until it steps down.
    running_modules: std::sync::atomic::AtomicBool,
    /// Shared host services.
    pub services: Arc<Services>,
}

impl ModuleManager {
    /// Builds the engine and linker. Compiled components are cached in `cache_dir`
    /// (default `STATE/compiled`); granted data folders live in `STATE/data/<module>`.
    pub fn new(
        services: Arc<Services>,
        config: Config,
        state_dir: &Path,
        cache_dir: Option<&Path>,
    ) -> Result<Arc<Self>> {
        let default_memory = config
            .host
            .memory_limit()
            .map_err(|e| anyhow!("[host] {e}"))?
            .unwrap_or(DEFAULT_MEMORY_LIMIT);
        let engine = crate::engine::new_engine()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("linking WASI: {e:#}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("linking wasi:http: {e:#}"))?;
        bindings::sync_world::ceph::mgr::mgr_blocking::add_to_linker::<_, HasSelf<ModuleCtx>>(
            &mut linker,
            |ctx| ctx,
        )
        .map_err(|e| anyhow!("linking ceph:mgr/mgr-blocking: {e:#}"))?;
        Module::add_to_linker::<_, HasSelf<ModuleCtx>>(&mut linker, |ctx| ctx)
            .map_err(|e| anyhow!("linking ceph:mgr: {e:#}"))?;
        let disabled = read_disabled(&services.store)?;
        Ok(Arc::new(ModuleManager {
            engine,
            linker,
            cache: CompileCache::new(
                &cache_dir.map_or_else(|| state_dir.join("compiled"), Path::to_path_buf),
            )?,
            data_root: state_dir.join("data"),
            default_memory,
            config,
            known: std::sync::Mutex::default(),
            disabled: std::sync::Mutex::new(disabled),
            installing: tokio::sync::Mutex::new(()),
            warm: std::sync::Mutex::default(),
            running_modules: std::sync::atomic::AtomicBool::new(services.gate.is_alone()),
            services,
        }))
    }

    /// Loads every `.wasm` file in `dir` (modules the operator disabled are described
    /// and listed, not started). Files that fail are reported (log, `module ls`,
    /// health) and skipped; the others run.
    pub async fn load_dir(self: &Arc<Self>, dir: &Path) -> Result<Vec<Arc<ModuleHandle>>> {
        let mut loaded = Vec::new();
        for path in module_files(dir)? {
            match self.install(&path, false).await {
                Ok(Installed::Started(handle, _) | Installed::Replaced(handle, _)) => {
                    loaded.push(handle);
                }
                Ok(Installed::Unchanged(handle)) => loaded.push(handle),
                Ok(Installed::Disabled(name)) => {
                    tracing::info!(module = %name, "{} is disabled; not started", path.display());
                }
                Err(e) => tracing::error!("skipping {}: {e:#}", path.display()),
            }
        }
        release_compile_memory();
        Ok(loaded)
    }

    /// Loads one component file and starts it under `name` (its own name when
    /// `None`), beside the running modules (to run several copies of one component).
    /// A failure is recorded against the file and returned.
    pub async fn load_file(
        self: &Arc<Self>,
        path: &Path,
        name: Option<&str>,
    ) -> Result<(Arc<ModuleHandle>, LoadTimings)> {
        let result = async {
            let candidate = self.candidate(path, name, ModuleFile::read(path)?).await?;
            if let Some(existing) = self.running(&candidate.info.name) {
                bail!(
                    "a module named `{}` is already loaded from {}",
                    existing.name,
                    existing.path.display()
                );
            }
            let timings = candidate.timings;
            let handle = self.start(candidate);
            self.services.registry.insert(handle.clone());
            Ok((handle, timings))
        }
        .await;
        self.record_outcome(path, result.as_ref().err(), false);
        result
    }

    /// Brings the module in `path` up to date: starts it if it is not running,
    /// replaces the running version blue/green if the file changed (or `force`),
    /// or only describes it if the operator disabled it. A new version that fails
    /// (not a component, wrong contract, trap in `describe` or at the start of
    /// `serve`) leaves the running version in place; the failure is recorded
    /// against the file (`module ls`, `MGR_MODULE_ERROR`) and returned.
    ///
    /// Replacing: the new version is compiled (or taken from the cache),
    /// instantiated, described and started; it serves the old version's published
    /// pages until it publishes its own. Once its `serve` has started, notifies,
    /// commands and HTTP go to it; the old version answers what it had already
    /// received, gets `shutdown`, and is dropped after its grace period.
    pub async fn install(self: &Arc<Self>, path: &Path, force: bool) -> Result<Installed> {
        let _one_at_a_time = self.installing.lock().await;
        let file = ModuleFile::read(path);
        let running = self
            .services
            .registry
            .all()
            .into_iter()
            .find(|h| h.path == path && h.state() != State::Stopped);
        if !force
            && let (Ok(f), Some(current)) = (&file, &running)
            && f.hash == current.hash
        {
            // The running version's file is back (after a broken one, say).
            self.record_outcome(path, None, false);
            return Ok(Installed::Unchanged(current.clone()));
        }
        let replacing = running.is_some();
        let result = match file {
            Ok(file) => self.install_new(path, file).await,
            Err(e) => Err(e),
        };
        self.record_outcome(path, result.as_ref().err(), replacing);
        if let Ok(Installed::Started(handle, t) | Installed::Replaced(handle, t)) = &result {
            tracing::info!(
                module = %handle.name,
                "{} {} (compile {:?}{}, instantiate {:?})",
                if replacing { "reloaded" } else { "loaded" },
                path.display(),
                t.compile,
                if t.cached { ", cached" } else { "" },
                t.instantiate
            );
        }
        result
    }

    async fn install_new(self: &Arc<Self>, path: &Path, file: ModuleFile) -> Result<Installed> {
        let candidate = self.candidate(path, None, file).await?;
        let name = candidate.info.name.clone();
        self.lock_known().insert(name.clone(), path.to_path_buf());
        if self.is_disabled(&name) {
            return Ok(Installed::Disabled(name));
        }
        let timings = candidate.timings;
        let Some(old) = self.running(&name) else {
            let handle = self.start(candidate);
            self.services.registry.insert(handle.clone());
            return Ok(Installed::Started(handle, timings));
        };
        if old.path != path {
            bail!(
                "a module named `{name}` is already loaded from {}",
                old.path.display()
            );
        }
        let new = self.start(candidate);
        new.adopt_pages(&old);
        if !new.wait_started(LOAD_TIMEOUT).await {
            let why = new
                .last_error()
                .unwrap_or_else(|| format!("its serve did not start within {LOAD_TIMEOUT:?}"));
            tokio::spawn(async move { new.stop().await });
            bail!("the new version failed as it started: {why}");
        }
        self.services.registry.insert(new.clone());
        tracing::info!(module = %name, "switched to the new version; stopping the old one");
        tokio::spawn(async move { old.stop().await });
        Ok(Installed::Replaced(new, timings))
    }

    /// Records how loading `path` went: clears or records its failure, then
    /// refreshes the module list and health.
    fn record_outcome(&self, path: &Path, error: Option<&anyhow::Error>, replacing: bool) {
        match error {
            None => self.services.registry.clear_failure(path),
            Some(e) => {
                let file = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let kept = if replacing {
                    "; the running version stays"
                } else {
                    ""
                };
                self.services.registry.record_failure(LoadFailure {
                    file,
                    path: path.display().to_string(),
                    error: format!("{e:#}{kept}"),
                });
            }
        }
        self.refresh();
    }

    /// Publishes the module list in the manager map and the modules' health.
    fn refresh(&self) {
        let names = self
            .services
            .registry
            .all()
            .iter()
            .map(|m| m.name.clone())
            .collect();
        self.services.cluster.set_mgr_modules(names);
        self.services.health.report();
    }

    /// The module named `name`, unless it is stopped.
    fn running(&self, name: &str) -> Option<Arc<ModuleHandle>> {
        self.services
            .registry
            .get(name)
            .filter(|h| h.state() != State::Stopped)
    }

    /// Stops the module loaded from `path` (its file was removed) and forgets the file.
    pub async fn remove_file(&self, path: &Path) {
        self.lock_warm().remove(path);
        self.services.registry.clear_failure(path);
        self.lock_known().retain(|_, p| p != path);
        let gone = self
            .services
            .registry
            .all()
            .into_iter()
            .find(|h| h.path == path);
        if let Some(handle) = gone {
            self.services.registry.remove(&handle);
            self.refresh();
            handle.stop().await;
        }
        self.refresh();
    }

    /// Re-reads module `name`'s file and replaces the running version blue/green,
    /// even if the file did not change.
    pub async fn reload(self: &Arc<Self>, name: &str) -> Result<Installed, ModuleOpError> {
        if self.is_disabled(name) {
            return Err(ModuleOpError::Conflict(format!(
                "module `{name}` is disabled; enable it first"
            )));
        }
        let path = self.path_of(name)?;
        self.install(&path, true)
            .await
            .map_err(ModuleOpError::Failed)
    }

    /// Stops module `name` and keeps it stopped, across host restarts too, until it
    /// is enabled again.
    pub async fn disable(&self, name: &str) -> Result<(), ModuleOpError> {
        self.path_of(name)?;
        self.set_disabled(name, true)
            .map_err(ModuleOpError::Failed)?;
        if let Some(handle) = self.services.registry.get(name) {
            self.services.registry.remove(&handle);
            self.refresh();
            handle.stop().await;
        }
        self.refresh();
        Ok(())
    }

    /// Starts module `name` again after `disable`; the choice is kept across
    /// host restarts.
    pub async fn enable(self: &Arc<Self>, name: &str) -> Result<Installed, ModuleOpError> {
        let path = self.path_of(name)?;
        self.set_disabled(name, false)
            .map_err(ModuleOpError::Failed)?;
        if let Some(handle) = self.running(name) {
            return Ok(Installed::Unchanged(handle));
        }
        self.install(&path, true)
            .await
            .map_err(ModuleOpError::Failed)
    }

    /// The file module `name` comes from.
    fn path_of(&self, name: &str) -> Result<PathBuf, ModuleOpError> {
        if let Some(handle) = self.services.registry.get(name) {
            return Ok(handle.path.clone());
        }
        self.lock_known().get(name).cloned().ok_or_else(|| {
            ModuleOpError::NotFound(format!("no module `{name}` in the modules folder"))
        })
    }

    fn lock_known(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PathBuf>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_disabled(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.disabled.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the operator disabled module `name`.
    pub fn is_disabled(&self, name: &str) -> bool {
        self.lock_disabled().contains(name)
    }

    fn set_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let mut set = self.lock_disabled();
        let changed = if disabled {
            set.insert(name.to_string())
        } else {
            set.remove(name)
        };
        if changed {
            let list: Vec<&String> = set.iter().collect();
            self.services.store.set(
                HOST_HEALTH_KEY,
                DISABLED_KEY,
                Some(&serde_json::to_string(&list)?),
            )?;
        }
        Ok(())
    }

    /// Reads, compiles, instantiates and describes a component, and checks its
    /// description and the operator's settings for it; nothing is started yet.
    async fn candidate(
        self: &Arc<Self>,
        path: &Path,
        name: Option<&str>,
        file: ModuleFile,
    ) -> Result<Candidate> {
        let ModuleFile { bytes, hash } = file;
        if !is_component(&bytes) {
            bail!("not a WebAssembly component (a core module or another file)");
        }
        let t0 = Instant::now();
        let ready = self
            .lock_warm()
            .get(path)
            .filter(|(h, _)| *h == hash)
            .map(|(_, pre)| pre.clone());
        let (pre, outcome) = match ready {
            Some(pre) => (pre, CacheOutcome::Hit),
            None => self.prepare(&bytes, &hash)?,
        };
        let compile = t0.elapsed();

        // A module's name is fixed before it runs: the file's (or the caller's),
        // as ceph-mgr names a module by its folder. `describe` cannot rename it.
        let name = name.map_or_else(|| file_stem(path), str::to_string);
        validate_name(&name)?;
        let settings = self.module_config(&name);
        let bad = |e: String| anyhow!("module `{name}`: bad configuration: {e}");
        let sandbox = self.sandbox(&name, &settings).map_err(bad)?;
        let t1 = Instant::now();
        let shared = Arc::new(Shared::default());
        let (mut store, module) = self
            .instantiate_within(&name, &pre, &sandbox, shared.clone())
            .await?;
        let instantiate = t1.elapsed();
        // A busy guest yields at every epoch tick, so the time limit can fire.
        let mut info = tokio::time::timeout(LOAD_TIMEOUT, module.describe(&mut store))
            .await
            .map_err(|_| anyhow!("did not return from describe within {LOAD_TIMEOUT:?}"))?
            .map_err(|e| match e.downcast_ref::<RanTooLong>() {
                // Whichever fires first, the run budget or the load timeout,
                // the module never returned.
                Some(long) => anyhow!("did not return from describe: it {long}"),
                None => anyhow!("trapped in describe: {e:#}"),
            })?;
        if !info.name.is_empty() && info.name != name {
            tracing::warn!(
                module = %name,
                "{} describes itself as `{}`; the module is named `{name}` after its file",
                path.display(),
                info.name
            );
        }
        info.name = name.clone();
        let signatures = info
            .commands
            .iter()
            .map(|c| Signature::parse(&c.cmd))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("bad command signature: {e}"))?;
        let set = self.set_options(&name).map_err(|e| bad(format!("{e:#}")))?;
        let given = merge_options(&settings, &set);
        let options = Arc::new(ResolvedOptions::resolve(&info.options, &given).map_err(bad)?);
        let http_timeout = settings
            .http_timeout()
            .map_err(bad)?
            .unwrap_or(DEFAULT_HTTP_TIMEOUT);
        let grace = settings
            .shutdown_grace()
            .map_err(bad)?
            .unwrap_or(module::DEFAULT_GRACE);
        let call_deadline = settings
            .call_deadline()
            .map_err(bad)?
            .unwrap_or(module::DEFAULT_CALL_DEADLINE);
        // The describing instance becomes the first running instance.
        store.data_mut().options = options.clone();
        let tick = Duration::from_millis(u64::from(info.tick_interval_ms.unwrap_or(1000).max(10)));
        Ok(Candidate {
            path: path.to_path_buf(),
            hash,
            info,
            signatures,
            blueprint: Blueprint {
                tick,
                pre,
                options,
                sandbox,
                http_timeout,
                call_deadline,
                shared,
                grace,
            },
            first: (store, module),
            timings: LoadTimings {
                compile,
                cached: outcome == CacheOutcome::Hit,
                instantiate,
            },
        })
    }

    /// Starts a described candidate's supervisor (not yet in the registry).
    fn start(self: &Arc<Self>, c: Candidate) -> Arc<ModuleHandle> {
        ModuleHandle::start(
            self.clone(),
            c.path,
            c.hash,
            c.info,
            c.signatures,
            c.blueprint,
            c.first,
        )
    }

    /// Reads the contract version a component was built against, then compiles it
    /// (or loads it from the cache) and links it against that version's `module`
    /// or `module-sync` world; `hash` is `bytes`' [`content_hash`].
    pub fn prepare(&self, bytes: &[u8], hash: &str) -> Result<(GuestPre, CacheOutcome)> {
        let version = bindings::contract_version(bytes)?;
        let (component, outcome) = self
            .cache
            .component(&self.engine, bytes, hash)
            .context("compiling")?;
        let v = version.as_str();
        let linker = match version {
            bindings::ContractVersion::V0_1_0 => &self.linker,
        };
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("does not fit the ceph:mgr@{v} module world: {e:#}"))?;
        let guest = match ModulePre::new(pre.clone()) {
            Ok(p) => GuestPre::Async(p),
            Err(async_err) => match bindings::sync_world::ModuleSyncPre::new(pre) {
                Ok(p) => GuestPre::Sync(p),
                Err(sync_err) => bail!(
                    "does not export the ceph:mgr@{v} module world ({async_err:#}) nor \
                     module-sync ({sync_err:#})"
                ),
            },
        };
        Ok((guest, outcome))
    }

    /// What module `name` may use, from its settings and the host's defaults.
    fn sandbox(&self, name: &str, settings: &ModuleConfig) -> Result<Sandbox, String> {
        Ok(Sandbox {
            memory_limit: settings.memory_limit()?.unwrap_or(self.default_memory),
            max_run: settings.max_run()?.unwrap_or(DEFAULT_MAX_RUN),
            data_dir: settings.data_dir.then(|| self.data_root.join(name)),
            http_hosts: settings.http_hosts.clone().into(),
        })
    }

    /// The sandbox of a module with no settings.
    pub fn default_sandbox(&self) -> Sandbox {
        Sandbox {
            memory_limit: self.default_memory,
            max_run: DEFAULT_MAX_RUN,
            data_dir: None,
            http_hosts: Arc::default(),
        }
    }

    async fn instantiate_within(
        &self,
        name: &str,
        pre: &GuestPre,
        sandbox: &Sandbox,
        shared: Arc<Shared>,
    ) -> Result<(Store<ModuleCtx>, Guest)> {
        tokio::time::timeout(
            LOAD_TIMEOUT,
            self.instantiate(name, pre, Arc::default(), sandbox, shared),
        )
        .await
        .map_err(|_| anyhow!("did not finish instantiating within {LOAD_TIMEOUT:?}"))?
    }

    /// Creates a store for module `name` within `sandbox` and instantiates the
    /// component in it. The guest yields to the host at every epoch tick, and is
    /// stopped (a trap) once it has run longer than `sandbox.max_run` without a
    /// pause.
    pub async fn instantiate(
        &self,
        name: &str,
        pre: &GuestPre,
        options: Arc<ResolvedOptions>,
        sandbox: &Sandbox,
        shared: Arc<Shared>,
    ) -> Result<(Store<ModuleCtx>, Guest)> {
        let ctx = ModuleCtx::new(
            name,
            self.services.module_host(name),
            options,
            sandbox,
            shared,
        )?;
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let run = &mut ctx.data_mut().run;
            match run.tick(Instant::now()) {
                Ok(()) => Ok(UpdateDeadline::Yield(1)),
                Err(ran) => Err(wasmtime::Error::new(RanTooLong {
                    ran,
                    max: run.max(),
                })),
            }
        });
        let module = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!("instantiating: {e:#}"))?;
        Ok((store, module))
    }

    /// The modules the operator gave a listener of their own, with its address.
    pub fn listeners(&self) -> Vec<(String, std::net::SocketAddr)> {
        self.config
            .modules
            .iter()
            .filter_map(|(name, m)| m.listen.map(|l| (name.clone(), l)))
            .collect()
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
        let known = self.lock_known().clone();
        rows.extend(self.lock_disabled().iter().map(|name| ModuleRow::Idle {
            name: name.clone(),
            state: State::Disabled,
            path: known.get(name).map(|p| p.display().to_string()),
        }));
        if !self.runs_modules() {
            rows.extend(self.lock_warm().keys().map(|path| ModuleRow::Idle {
                name: file_stem(path),
                state: State::Standby,
                path: Some(path.display().to_string()),
            }));
        }
        rows.extend(self.services.registry.load_failures().into_iter().map(|f| {
            ModuleRow::Failed {
                name: file_stem(Path::new(&f.file)),
                state: State::Failed,
                last_error: f.error,
                path: f.path,
            }
        }));
        rows
    }

    /// The options an operator set at run time for module `name`.
    pub fn set_options(&self, name: &str) -> Result<BTreeMap<String, String>> {
        let key = format!("{OPTIONS_KEY}{name}");
        match self.services.store.get(HOST_HEALTH_KEY, &key)? {
            Some(text) => serde_json::from_str(&text)
                .with_context(|| format!("reading the options set for `{name}`: {text}")),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Sets (or with `None` clears) option `option` of module `name` at run time:
    /// checked against what a running module declares, kept in the store, and
    /// applied by a blue/green reload of the module.
    pub async fn set_option(
        self: &Arc<Self>,
        name: &str,
        option: &str,
        value: Option<&str>,
    ) -> Result<Installed, ModuleOpError> {
        let path = self.path_of(name)?;
        let mut set = self.set_options(name).map_err(ModuleOpError::Failed)?;
        match value {
            Some(v) => set.insert(option.to_string(), v.to_string()),
            None => set.remove(option),
        };
        if let Some(running) = self.running(name) {
            let given = merge_options(&self.module_config(name), &set);
            ResolvedOptions::resolve(&running.info.options, &given)
                .map_err(|e| ModuleOpError::Invalid(format!("module `{name}`: {e}")))?;
        }
        let text = serde_json::to_string(&set).map_err(|e| ModuleOpError::Failed(e.into()))?;
        let key = format!("{OPTIONS_KEY}{name}");
        self.services
            .store
            .set(
                HOST_HEALTH_KEY,
                &key,
                (!set.is_empty()).then_some(text.as_str()),
            )
            .map_err(ModuleOpError::Failed)?;
        if self.is_disabled(name) {
            return Ok(Installed::Disabled(name.to_string()));
        }
        self.install(&path, true)
            .await
            .map_err(ModuleOpError::Failed)
    }

    /// Stops every module (each gets `shutdown` and its grace period).
    pub async fn stop_all(&self) {
        let modules = self.services.registry.all();
        futures::future::join_all(modules.iter().map(|m| m.stop())).await;
    }

    /// Whether modules run on this host now (false on a standby).
    pub fn runs_modules(&self) -> bool {
        self.running_modules
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What a standby does with a module file: compile it (or take it from the
    /// cache) and keep it ready to start, running nothing.
    pub fn warm_file(&self, path: &Path) -> Result<()> {
        let file = ModuleFile::read(path)?;
        if let Some((hash, _)) = self.lock_warm().get(path)
            && *hash == file.hash
        {
            return Ok(());
        }
        let (pre, _) = self.prepare(&file.bytes, &file.hash)?;
        self.lock_warm()
            .insert(path.to_path_buf(), (file.hash, pre));
        Ok(())
    }

    /// [`ModuleManager::warm_file`] for every module file in `dir`; failures are logged
    /// (they are reported again when the host takes over).
    pub fn warm_dir(&self, dir: &Path) -> Result<()> {
        for path in module_files(dir)? {
            if let Err(e) = self.warm_file(&path) {
                tracing::warn!("standby: cannot prepare {}: {e:#}", path.display());
            }
        }
        release_compile_memory();
        Ok(())
    }

    /// Takes over as the active manager: re-reads the shared store and the
    /// disabled set (the previous active may have changed them), then starts every
    /// module in `dir`.
    pub async fn activate(self: &Arc<Self>, dir: &Path) {
        if let Err(e) = self.services.store.reload() {
            tracing::error!("{e:#}; modules start with an empty store view");
        }
        match read_disabled(&self.services.store) {
            Ok(set) => *self.lock_disabled() = set,
            Err(e) => tracing::error!("{e:#}"),
        }
        self.running_modules
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = self.load_dir(dir).await {
            tracing::error!("{e:#}");
        }
    }

    /// Steps down to standby: every module leaves the registry at once (nothing
    /// reaches it any more) and is stopped; past `deadline` the gate is shut
    /// whatever they still do, and their grace periods end them.
    pub async fn deactivate(&self, deadline: Instant) {
        self.running_modules
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let modules = self.services.registry.all();
        for m in &modules {
            self.services.registry.remove(m);
        }
        self.refresh();
        let stops = futures::future::join_all(modules.iter().map(|m| m.stop()));
        if tokio::time::timeout_at(deadline.into(), stops)
            .await
            .is_err()
        {
            tracing::warn!("standby: some modules were still stopping at the lease deadline");
        }
    }

    fn lock_warm(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, (String, GuestPre)>> {
        self.warm.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The module files in `dir`, sorted.
fn module_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading modules folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_module_file(p) && p.is_file())
        .collect();
    files.sort();
    Ok(files)
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
/// The option values a module gets: the config file's, overridden by those an
/// operator set at run time (text, typed as the module declares each option; kept
/// in the store, so they follow it across restarts and failovers, like ceph-mgr's
/// `config set mgr`).
fn merge_options(
    settings: &ModuleConfig,
    set: &BTreeMap<String, String>,
) -> BTreeMap<String, toml::Value> {
    let mut given = settings.options.clone();
    given.extend(
        set.iter()
            .map(|(k, v)| (k.clone(), toml::Value::String(v.clone()))),
    );
    given
}

/// The modules the operator disabled, as kept in the store.
fn read_disabled(store: &KvStore) -> Result<BTreeSet<String>> {
    Ok(match store.get(HOST_HEALTH_KEY, DISABLED_KEY)? {
        Some(text) => serde_json::from_str(&text)
            .with_context(|| format!("reading the disabled modules: {text}"))?,
        None => BTreeSet::new(),
    })
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

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
