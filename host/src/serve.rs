//! `wasm-mgr serve`: assemble the cluster source, the store, the runtime and the
//! HTTP API, load the modules and run until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::auth::{Access, TOKEN_FILE};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::runtime::{Registry, Runtime, Services, fan_out};
use crate::source::Source;
use crate::source::ceph::{CephConfig, CephSource};
use crate::source::sim::{self, SimConfig};
use crate::store::Store;

/// Everything `serve` needs.
pub struct ServeOptions {
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

/// The cluster sources `serve` can follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterKind {
    /// The embedded simulated cluster.
    Sim,
    /// A real cluster through librados.
    Ceph,
}

/// A running host: its runtime, and the address its API listens on.
pub struct Host {
    /// The module runtime.
    pub runtime: Arc<Runtime>,
    /// Where the API listens.
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _watcher: notify::RecommendedWatcher,
}

/// Builds the host and loads the modules; the API is listening when this returns.
pub async fn start(opts: ServeOptions) -> Result<Host> {
    let config = match &opts.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    std::fs::create_dir_all(&opts.state_dir)
        .with_context(|| format!("creating state folder {}", opts.state_dir.display()))?;
    // Before anything starts: an API that would be open to the network is refused.
    let access = Access::for_listener(opts.http, &opts.state_dir.join(TOKEN_FILE), opts.no_auth)?;
    let store = Store::open(&opts.state_dir.join("modules.redb"))?;
    let mgr_id = config.host.mgr_id.clone().unwrap_or_else(|| "x".into());
    let (cluster, source) = match opts.cluster {
        ClusterKind::Sim => {
            let cluster = Cluster::new(&sim::fsid_for_seed(opts.sim.seed));
            let sim =
                sim::start(opts.sim, cluster.clone()).context("starting the simulated cluster")?;
            (cluster, Source::Sim(sim))
        }
        ClusterKind::Ceph => {
            let ceph = CephSource::open(opts.ceph).context("opening the ceph cluster source")?;
            let cluster = Cluster::new(ceph.fsid());
            let handle = ceph.start(cluster.clone())?;
            (cluster, Source::Ceph(handle))
        }
    };
    let services = Arc::new(Services {
        cluster,
        store: Arc::new(store),
        source,
        grants: config.grants(),
        mgr_id,
        registry: Registry::default(),
        metrics: Metrics::new(),
        crashes: Default::default(),
    });
    let runtime = Runtime::new(
        services.clone(),
        config,
        &opts.state_dir,
        opts.compile_cache.as_deref(),
    )?;
    tokio::spawn(fan_out(services.clone()));
    runtime.load_dir(&opts.modules).await?;
    let watcher = crate::watch::watch(runtime.clone(), &opts.modules)?;

    let listener = tokio::net::TcpListener::bind(opts.http)
        .await
        .with_context(|| format!("listening on {}", opts.http))?;
    let addr = listener.local_addr()?;
    let app = crate::http::router(runtime.clone(), access);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    tracing::info!("wasm-mgr API on http://{addr}");
    // Bound whether or not the module runs now: it may be enabled or dropped into
    // the folder later, and a reload keeps its listener.
    for (name, listen) in runtime.listeners() {
        match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => {
                let app = crate::http::module_router(runtime.clone(), name.clone());
                tokio::spawn(async move { axum::serve(l, app).await });
                tracing::info!(module = %name, "module listener on http://{listen}");
            }
            Err(e) => tracing::error!(
                module = %name,
                "cannot listen on {listen}: {e}; the module stays reachable under /modules/{name}/"
            ),
        }
    }
    Ok(Host {
        runtime,
        addr,
        server,
        _watcher: watcher,
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
        tracing::info!("stopping modules");
        self.runtime.stop_all().await;
        self.runtime.services.source.stop();
        Ok(())
    }
}
