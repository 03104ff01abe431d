//! Loading a module file: reading the contract version, compiling or taking it
//! from the cache, linking, instantiating within its sandbox, describing, and
//! checking the description and the operator's settings, before anything starts.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use wasmtime::{Store, UpdateDeadline};

use super::options::merge_options;
use super::source::{Language, ModuleKind, module_kind, read_source};
use super::{ModuleManager, file_stem};
use crate::bindings::{self, Guest, GuestPre, ModulePre};
use crate::config::{ModuleConfig, ResolvedOptions};
use crate::ctx::{ModuleCtx, RanTooLong, Sandbox, Shared};
use crate::engine::{CacheOutcome, content_hash};
use crate::manager::LoadTimings;
use crate::module::{self, Blueprint, ModuleHandle};
use crate::{
    DEFAULT_CPU_SHARE, DEFAULT_HTTP_TIMEOUT, DEFAULT_MAX_RUN, HOST_HEALTH_KEY, LOAD_TIMEOUT,
};
use std::sync::atomic::Ordering;
use wasm_mgr_cluster::command::Signature;

/// A component read, compiled, instantiated and described, not started yet.
pub(super) struct Candidate {
    pub(super) path: PathBuf,
    pub(super) hash: String,
    pub(super) info: bindings::ceph::mgr::types::ModuleInfo,
    pub(super) signatures: Vec<Signature>,
    pub(super) blueprint: Blueprint,
    pub(super) first: (Store<ModuleCtx>, Guest),
    pub(super) timings: LoadTimings,
}

/// A modules-folder entry's content, read once per load with its hash: a
/// component's bytes, or a source module's text (none for a package, whose
/// folder the runtime reads).
pub(super) struct ModuleFile {
    pub(super) kind: ModuleKind,
    pub(super) bytes: Vec<u8>,
    pub(super) text: Option<String>,
    pub(super) hash: String,
}

impl ModuleFile {
    pub(super) fn read(path: &Path) -> Result<ModuleFile> {
        let kind = module_kind(path).unwrap_or(ModuleKind::Component);
        if kind == ModuleKind::Component {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let hash = content_hash(&bytes);
            return Ok(ModuleFile {
                kind,
                bytes,
                text: None,
                hash,
            });
        }
        let source = read_source(path)?;
        Ok(ModuleFile {
            kind,
            bytes: Vec::new(),
            text: source.text,
            hash: source.hash,
        })
    }
}

/// Whether `bytes` start with the component-model preamble (magic, then layer 1).
pub(super) fn is_component(bytes: &[u8]) -> bool {
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

/// Hands the heap that compiling left free back to the operating system:
/// cranelift's working memory is large and glibc keeps freed arenas otherwise.
pub(super) fn release_compile_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own allocator state.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl ModuleManager {
    /// Reads, compiles, instantiates and describes a component, and checks its
    /// description and the operator's settings for it; nothing is started yet.
    pub(super) async fn candidate(
        self: &Arc<Self>,
        path: &Path,
        name: Option<&str>,
        file: ModuleFile,
    ) -> Result<Candidate> {
        let ModuleFile {
            kind,
            bytes,
            text,
            hash,
        } = file;
        // A module's name is fixed before it runs: the file's (or the caller's),
        // as ceph-mgr names a module by its folder. `describe` cannot rename it.
        let name = name.map_or_else(|| file_stem(path), str::to_string);
        validate_name(&name)?;
        let settings = self.module_config(&name);
        let bad = |e: String| anyhow!("module `{name}`: bad configuration: {e}");
        let mut sandbox = self.sandbox(&name, &settings).map_err(bad)?;
        let t0 = Instant::now();
        let (pre, outcome) = match kind.runtime() {
            Some(language) => {
                let runtime = self.runtime(language)?;
                if text.is_none() {
                    // A package: its folder, read-only, where the runtime looks.
                    sandbox
                        .read_only_dirs
                        .push((path.to_path_buf(), format!("/modules/{name}")));
                }
                if language == Language::Python {
                    sandbox.read_only_dirs.extend(self.python_path());
                }
                let script = Arc::new(bindings::Script { source: text });
                (GuestPre::Runtime(runtime, script), CacheOutcome::Hit)
            }
            None => {
                if !is_component(&bytes) {
                    bail!("not a WebAssembly component (a core module or another file)");
                }
                let ready = self
                    .lock_warm()
                    .get(path)
                    .filter(|(h, _)| *h == hash)
                    .map(|(_, pre)| pre.clone());
                match ready {
                    Some(pre) => (pre, CacheOutcome::Hit),
                    None => self.prepare(&bytes, &hash)?,
                }
            }
        };
        let compile = t0.elapsed();

        let t1 = Instant::now();
        let shared = Arc::new(Shared::default());
        let (mut store, module) = self
            .instantiate_within(&name, &pre, &sandbox, shared.clone())
            .await?;
        let instantiate = t1.elapsed();
        // A busy guest yields at every epoch tick, so the time limit can fire.
        let describe = crate::engine::executing(module.describe(&mut store));
        let mut info = tokio::time::timeout(LOAD_TIMEOUT, describe)
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
    pub(super) fn start(self: &Arc<Self>, c: Candidate) -> Arc<ModuleHandle> {
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
            bindings::ContractVersion::V0_2_0 => bail!(
                "built against ceph:mgr@0.2.0's runtime world: a shared runtime, which runs \
                 modules given as source (name it in the [runtimes] section)"
            ),
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
    pub(super) fn sandbox(&self, name: &str, settings: &ModuleConfig) -> Result<Sandbox, String> {
        Ok(Sandbox {
            memory_limit: settings.memory_limit()?.unwrap_or(self.default_memory),
            max_run: settings.max_run()?.unwrap_or(DEFAULT_MAX_RUN),
            data_dir: settings.data_dir.then(|| self.data_root.join(name)),
            http_hosts: settings.http_hosts.clone().into(),
            quotas: Arc::new(settings.quotas()?),
            cpu_share: settings.cpu_share()?.unwrap_or(DEFAULT_CPU_SHARE),
            read_only_dirs: Vec::new(),
        })
    }

    /// The sandbox of a module with no settings.
    pub fn default_sandbox(&self) -> Sandbox {
        Sandbox {
            memory_limit: self.default_memory,
            max_run: DEFAULT_MAX_RUN,
            data_dir: None,
            http_hosts: Arc::default(),
            quotas: Arc::default(),
            cpu_share: DEFAULT_CPU_SHARE,
            read_only_dirs: Vec::new(),
        }
    }

    pub(super) async fn instantiate_within(
        &self,
        name: &str,
        pre: &GuestPre,
        sandbox: &Sandbox,
        shared: Arc<Shared>,
    ) -> Result<(Store<ModuleCtx>, Guest)> {
        tokio::time::timeout(
            LOAD_TIMEOUT,
            crate::engine::executing(self.instantiate(name, pre, Arc::default(), sandbox, shared)),
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
            self.services
                .module_host(name, sandbox.quotas.clone(), shared.clone()),
            options,
            sandbox,
            shared,
        )?;
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let now = Instant::now();
            let data = ctx.data_mut();
            if let Err(ran) = data.run.tick(now) {
                return Err(wasmtime::Error::new(RanTooLong {
                    ran,
                    max: data.run.max(),
                }));
            }
            let cpu = data.shared.usage.cpu_nanos.load(Ordering::Relaxed);
            Ok(match data.cpu.check(now, cpu) {
                // Over its share of a core: it waits, other tasks run.
                Some(wait) => UpdateDeadline::YieldCustom(1, Box::pin(tokio::time::sleep(wait))),
                None => UpdateDeadline::Yield(1),
            })
        });
        let module = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!("instantiating: {e:#}"))?;
        Ok((store, module))
    }
}
