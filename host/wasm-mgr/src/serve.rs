//! `wasm-mgr serve`: assemble the cluster source, the store, the module manager and the
//! HTTP API, load the modules and run until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::auth::{Access, TOKEN_FILE};
use crate::ha::folder::FolderLease;
use crate::ha::rados::RadosLease;
use crate::ha::{Duties, Gate, Ha, LeaseBackend};
use wasm_mgr_ceph::{CephConfig, CephSource};
use wasm_mgr_cluster::Cluster;
use wasm_mgr_cluster::source::ClusterSource;
use wasm_mgr_runtime::config::Config;
use wasm_mgr_runtime::store::{SharedKv, Store};
use wasm_mgr_runtime::{ModuleManager, Services, fan_out};
use wasm_mgr_sim::{self as sim, SimConfig};

/// Everything `serve` needs.
pub struct ServeOptions {
    /// This host's manager id, over the config's `[host] mgr_id`.
    pub id: Option<String>,
    /// High availability, if this host is one of a group.
    pub ha: Option<HaOptions>,
    /// Folder of module components.
    pub modules: PathBuf,
    /// Where the cluster state comes from.
    pub cluster: ClusterKind,
    /// How to reach a real cluster (with [`ClusterKind::Ceph`]).
    pub ceph: CephConfig,
    /// Configuration file.
    pub config: Option<PathBuf>,
    /// State folder (store, compile cache).
    pub state_dir: PathBuf,
    /// Compiled-component cache, if not `STATE/compiled` (shared between hosts).
    pub compile_cache: Option<PathBuf>,
    /// API listen address.
    pub http: SocketAddr,
    /// Serve the API without the token (loopback addresses only).
    pub no_auth: bool,
    /// The simulated cluster's shape.
    pub sim: SimConfig,
}

/// How a host takes part in a group of which one is active.
pub struct HaOptions {
    /// Where the lease and the shared module store live.
    pub place: HaPlace,
    /// Lease duration.
    pub lease: Duration,
}

/// Where an HA group keeps its lease and module store.
pub enum HaPlace {
    /// A folder shared by the hosts of one machine.
    Folder(PathBuf),
    /// An object in a RADOS pool of the real cluster.
    Pool {
        /// The pool (it must exist).
        pool: String,
        /// The object.
        object: String,
    },
}

/// The cluster sources `serve` can follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterKind {
    /// The embedded simulated cluster.
    Sim,
    /// A real cluster through librados.
    Ceph,
}

/// A running host: its module manager, and the address its API listens on.
pub struct Host {
    /// The module manager.
    pub manager: Arc<ModuleManager>,
    /// Where the API listens.
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _watcher: notify::RecommendedWatcher,
    ha: Option<(Arc<Ha>, tokio::task::JoinHandle<()>)>,
}

/// What an HA host does as its role changes: start the modules in its folder, or
/// stop them.
struct ModuleDuties {
    manager: Arc<ModuleManager>,
    modules: PathBuf,
}

impl Duties for ModuleDuties {
    async fn take_over(&self) {
        self.manager.activate(&self.modules).await;
    }

    async fn step_down(&self, deadline: Instant) {
        self.manager.deactivate(deadline).await;
    }
}

/// Builds the host and loads the modules; the API is listening when this returns.
pub async fn start(mut opts: ServeOptions) -> Result<Host> {
    // One spelling of every module's path: the folder watcher sees absolute
    // paths, whatever folder `--modules` named.
    opts.modules = std::fs::canonicalize(&opts.modules)
        .with_context(|| format!("the modules folder {}", opts.modules.display()))?;
    let config = match &opts.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    // Every listener's limits, checked before anything starts.
    let buffers =
        Arc::new(crate::http::Buffers::new(&config).map_err(|e| anyhow::anyhow!("config: {e}"))?);
    let fds = crate::listen::FdShares::new(crate::listen::raise_fd_limit());
    std::fs::create_dir_all(&opts.state_dir)
        .with_context(|| format!("creating state folder {}", opts.state_dir.display()))?;
    // Before anything starts: an API that would be open to the network is refused.
    let access = Access::for_listener(opts.http, &opts.state_dir.join(TOKEN_FILE), opts.no_auth)?;
    let mgr_id = opts
        .id
        .clone()
        .or_else(|| config.host.mgr_id.clone())
        .unwrap_or_else(|| "x".into());
    // The API address goes into the lease, so bind it first.
    let listener = tokio::net::TcpListener::bind(opts.http)
        .await
        .with_context(|| format!("listening on {}", opts.http))?;
    let addr = listener.local_addr()?;
    let mut lease: Option<Arc<dyn LeaseBackend>> = match &opts.ha {
        Some(HaOptions {
            place: HaPlace::Folder(dir),
            ..
        }) => Some(Arc::new(FolderLease::new(dir)?)),
        Some(HaOptions {
            place: HaPlace::Pool { .. },
            ..
        }) if opts.cluster != ClusterKind::Ceph => {
            bail!("--ha-pool needs --cluster ceph (with the simulated cluster use --ha-dir)")
        }
        _ => None,
    };
    let (cluster, source) = match opts.cluster {
        ClusterKind::Sim => {
            let cluster = Cluster::new(&sim::fsid_for_seed(opts.sim.seed));
            let sim =
                sim::start(opts.sim, cluster.clone()).context("starting the simulated cluster")?;
            (cluster, Arc::new(sim) as Arc<dyn ClusterSource>)
        }
        ClusterKind::Ceph => {
            let ceph = CephSource::open(opts.ceph).context("opening the ceph cluster source")?;
            if let Some(HaOptions {
                place: HaPlace::Pool { pool, object },
                lease: duration,
            }) = &opts.ha
            {
                // A connection of its own, whose OSD operations give up well
                // within a lease.
                let timeout = (duration.as_secs() as u32 / 3).max(1);
                let rados = ceph.client(timeout)?;
                lease = Some(Arc::new(
                    RadosLease::new(Arc::new(rados), pool, object)
                        .context("opening the HA lease")?,
                ));
            }
            let cluster = Cluster::new(ceph.fsid());
            let handle = ceph.start(cluster.clone())?;
            (cluster, Arc::new(handle) as Arc<dyn ClusterSource>)
        }
    };
    let ha = match (lease, &opts.ha) {
        (Some(backend), Some(o)) => Some(Ha::new(
            backend,
            o.lease,
            &mgr_id,
            &format!("http://{addr}"),
        )),
        _ => None,
    };
    let store = match &ha {
        Some(ha) => Store::shared(ha.clone() as Arc<dyn SharedKv>),
        None => Store::open(&opts.state_dir.join("modules.redb"))?,
    };
    let gate = ha
        .as_ref()
        .map_or_else(|| Arc::new(Gate::alone()), |h| h.gate());
    let services = Services::new(cluster, store, source, config.grants(), &mgr_id, gate);
    let manager = ModuleManager::new(
        services.clone(),
        config,
        &opts.state_dir,
        opts.compile_cache.as_deref(),
    )?;
    // The language runtimes (tens of MB each) compile in a child process: this
    // host's memory never holds the compiler's working set for them.
    if let Ok(exe) = std::env::current_exe() {
        manager.compile_out_of_process(exe);
    }
    tokio::spawn(fan_out(services.clone()));
    let election = match &ha {
        // A host alone runs its modules before its API answers.
        None => {
            manager.load_dir(&opts.modules).await?;
            None
        }
        // An HA host answers at once (as a standby), compiles its modules, then
        // competes for the lease.
        Some(ha) => {
            let (election, warm, modules) = (ha.clone(), manager.clone(), opts.modules.clone());
            let duties = Arc::new(ModuleDuties {
                manager: manager.clone(),
                modules: opts.modules.clone(),
            });
            let task = tokio::spawn(async move {
                let dir = modules.clone();
                match tokio::task::spawn_blocking(move || warm.warm_dir(&dir)).await {
                    Ok(Err(e)) => tracing::error!("standby: {e:#}"),
                    Err(e) => tracing::error!("standby: preparing modules: {e}"),
                    Ok(Ok(())) => {}
                }
                election.run(duties).await;
            });
            Some((ha.clone(), task))
        }
    };
    let watcher = crate::watch::watch(manager.clone(), &opts.modules)?;

    // Bound whether or not the module runs now: it may be enabled or dropped into
    // the folder later, and a reload keeps its listener. Bound before the API
    // answers, so that a client who sees the module running can reach it.
    for (name, listen) in manager.listeners() {
        match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => {
                let app =
                    crate::http::module_router(manager.clone(), name.clone(), buffers.clone());
                let limits = buffers.limits(&name);
                tokio::spawn(crate::listen::serve(
                    l,
                    app,
                    limits,
                    Some(fds.modules.clone()),
                    format!("module {name}'s listener"),
                ));
                tracing::info!(
                    module = %name,
                    "module listener on http://{listen} (at most {} connections, {} per client)",
                    limits.max_connections,
                    limits.max_connections_per_client
                );
            }
            Err(e) => tracing::error!(
                module = %name,
                "cannot listen on {listen}: {e}; the module stays reachable under /modules/{name}/"
            ),
        }
    }
    let app = crate::http::router(manager.clone(), ha.clone(), access, buffers.clone());
    let mut api_limits = buffers.api_limits();
    api_limits.max_connections = api_limits.max_connections.min(fds.api_total);
    let server = tokio::spawn(crate::listen::serve(
        listener,
        app,
        api_limits,
        None,
        "the API".to_string(),
    ));
    tracing::info!(
        "wasm-mgr API on http://{addr} (at most {} connections, {} per client; module \
         listeners share {})",
        api_limits.max_connections,
        api_limits.max_connections_per_client,
        fds.modules_total
    );
    Ok(Host {
        manager,
        addr,
        server,
        _watcher: watcher,
        ha: election,
    })
}

impl Host {
    /// Runs until Ctrl-C or SIGTERM, then stops every module.
    pub async fn run_until_signal(self) -> Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            r = self.server => {
                r.context("API server task")?.context("API server")?;
            }
        }
        // An active host shuts its gate and hands the lease over first, so that a
        // standby takes over while this host's modules shut down.
        if let Some((ha, election)) = &self.ha {
            election.abort();
            ha.release().await;
        }
        tracing::info!("stopping modules");
        self.manager.stop_all().await;
        self.manager.services.router.source().stop();
        Ok(())
    }
}
