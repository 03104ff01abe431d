//! The module manager: the one entry point for installing (blue/green when a
//! version runs), reloading, enabling, disabling and configuring modules, and the
//! `module ls` view. Loading a file into a described, checked candidate is in
//! [`load`], the operator's choices kept in the store in [`options`], a
//! standby's warm modules and taking over in [`standby`].

mod load;
mod options;
mod source;
mod standby;

pub use source::{Language, ModuleKind, RuntimeLoading, entry_of, module_kind};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::{GuestPre, Module};
use crate::config::{Config, ModuleConfig};
use crate::ctx::ModuleCtx;
use crate::engine::CompileCache;
use crate::module::{ModuleHandle, ModuleStatus, State};
use crate::{DEFAULT_MEMORY_LIMIT, LOAD_TIMEOUT, LoadFailure, Services, bindings};

use load::{ModuleFile, release_compile_memory};
pub(crate) use options::OPTIONS_KEY;
use options::read_disabled;

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
        /// `disabled`, `standby` or `loading`.
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

/// The module manager of one host: the single entry point through which the API,
/// the folder watcher, HA and `serve` install, reload, enable, disable and
/// configure modules.
pub struct ModuleManager {
    engine: wasmtime::Engine,
    linker: Linker<ModuleCtx>,
    /// The linker of the shared runtimes (`ceph:mgr@0.2.0` `runtime` world).
    runtime_linker: Linker<ModuleCtx>,
    /// The shared runtimes and the source modules waiting for them.
    runtimes: source::Runtimes,
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
        let mut runtime_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut runtime_linker)
            .map_err(|e| anyhow!("linking WASI: {e:#}"))?;
        bindings::v0_2_0::Runtime::add_to_linker::<_, HasSelf<ModuleCtx>>(
            &mut runtime_linker,
            |ctx| ctx,
        )
        .map_err(|e| anyhow!("linking ceph:mgr@0.2.0: {e:#}"))?;
        let disabled = read_disabled(&services.store)?;
        Ok(Arc::new(ModuleManager {
            engine,
            linker,
            runtime_linker,
            runtimes: source::Runtimes::default(),
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
        // A runtime compile started by a source module found here waits until
        // the components are loaded (one already under way goes on).
        let _first = self.runtimes.compiling.try_lock().ok();
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
                Err(e) if e.downcast_ref::<RuntimeLoading>().is_some() => {
                    tracing::info!("{}: {e:#}", path.display());
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
        // Known by name before it runs: a file that fails in `describe` can still
        // be reloaded by its module's name.
        self.lock_known()
            .insert(file_stem(path), path.to_path_buf());
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
        self.runtimes.lock_loading().remove(path);
        match error {
            None => self.services.registry.clear_failure(path),
            Some(e) if e.downcast_ref::<RuntimeLoading>().is_some() => {
                let RuntimeLoading(language) = e.downcast_ref::<RuntimeLoading>().unwrap();
                self.services.registry.clear_failure(path);
                self.runtimes
                    .lock_loading()
                    .insert(path.to_path_buf(), *language);
            }
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
        self.runtimes.lock_loading().remove(path);
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
        rows.extend(
            self.runtimes
                .lock_loading()
                .keys()
                .map(|path| ModuleRow::Idle {
                    name: file_stem(path),
                    state: State::Loading,
                    path: Some(path.display().to_string()),
                }),
        );
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

    /// Stops every module (each gets `shutdown` and its grace period).
    pub async fn stop_all(&self) {
        let modules = self.services.registry.all();
        futures::future::join_all(modules.iter().map(|m| m.stop())).await;
    }
}

/// The module entries in `dir` (components, Python and JavaScript sources), sorted.
fn module_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading modules folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| module_kind(p).is_some())
        .collect();
    files.sort();
    Ok(files)
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
