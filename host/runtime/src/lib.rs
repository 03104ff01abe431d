//! wasm-mgr's module runtime: the wasmtime engine and compile cache, the versioned
//! `ceph:mgr` contract ([`bindings`]), the module manager that loads, installs,
//! reloads, enables and disables modules ([`ModuleManager`]), one actor and
//! supervisor per module ([`module`]), the imports, and what each instance
//! reaches of the host ([`ModuleHost`]: the cluster view, its own store
//! namespace, the command router; nothing else).
//!
//! The only crate that names generated bindings: what it hands out (module rows,
//! command output, health) is in host types. Not for: HTTP, the command line,
//! elections (the `wasm-mgr` crate), or where cluster state comes from (it sees a
//! source only as a [`wasm_mgr_cluster::source::ClusterSource`]).

pub mod account;
pub mod actor;
pub mod bindings;
pub mod config;
mod convert;
pub mod ctx;
pub mod engine;
pub mod exchange;
mod fanout;
mod gate;
pub mod handover;
pub mod health;
pub mod host;
mod imports;
mod manager;
pub mod metrics;
pub mod module;
pub mod published;
pub mod registry;
pub mod router;
mod runtime_imports;
pub mod store;

pub use exchange::{HttpRequest, HttpResponse};
pub use fanout::fan_out;
pub use gate::Gate;
pub use health::{Crash, HOST_HEALTH_KEY, ModuleHealth, RECENT_CRASH};
pub use host::ModuleHost;
pub use manager::{
    Installed, Language, LoadTimings, ModuleKind, ModuleManager, ModuleOpError, ModuleRow,
    RuntimeLoading, entry_of, module_kind,
};
pub use registry::{LoadFailure, Registry};
pub use router::CommandRouter;

use std::sync::Arc;
use std::time::Duration;

use wasm_mgr_cluster::Cluster;
use wasm_mgr_cluster::source::ClusterSource;

use config::Grants;
use metrics::Metrics;
use store::Store as KvStore;

/// Default memory limit of one module instance (`[host] memory_limit`).
pub const DEFAULT_MEMORY_LIMIT: usize = 512 << 20;
/// Default share of one core a module's WebAssembly may use (`cpu_share`).
pub const DEFAULT_CPU_SHARE: f64 = 0.5;
/// Default longest run of WebAssembly without a pause (`max_run`).
pub const DEFAULT_MAX_RUN: Duration = Duration::from_secs(5);
/// How long instantiating a component and its `describe` may take; past it the file
/// is reported as failed and loading goes on with the next one.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a module has to answer an HTTP request before the client gets 503.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// What the host gives its modules, as the module manager holds it. Each
/// instance gets only its [`ModuleHost`], cut from this.
pub struct Services {
    /// The cluster state.
    pub cluster: Arc<Cluster>,
    /// The modules' key-value store.
    pub store: Arc<KvStore>,
    /// Where modules' commands go.
    pub router: Arc<CommandRouter>,
    /// The loaded modules.
    pub registry: Arc<Registry>,
    /// The modules' crash log and health checks.
    pub health: ModuleHealth,
    /// The host's own metrics.
    pub metrics: Metrics,
    /// Open while this host is the active manager (always, for a host alone).
    pub gate: Arc<Gate>,
    /// This manager's id.
    pub mgr_id: String,
}

impl Services {
    /// The services of a host following `cluster` through `source`, keeping the
    /// modules' store in `store`, acting while `gate` is open.
    pub fn new(
        cluster: Arc<Cluster>,
        store: KvStore,
        source: Arc<dyn ClusterSource>,
        grants: Grants,
        mgr_id: &str,
        gate: Arc<Gate>,
    ) -> Arc<Services> {
        let registry = Arc::new(Registry::default());
        Arc::new(Services {
            health: ModuleHealth::new(cluster.clone(), registry.clone(), mgr_id),
            router: Arc::new(CommandRouter::new(
                source,
                grants,
                registry.clone(),
                gate.clone(),
            )),
            cluster,
            store: Arc::new(store),
            registry,
            metrics: Metrics::new(),
            gate,
            mgr_id: mgr_id.to_string(),
        })
    }

    /// What module `name`'s instances reach of the host, within `quotas`, held
    /// on the account in `shared`.
    pub fn module_host(
        &self,
        name: &str,
        quotas: Arc<account::Quotas>,
        shared: Arc<ctx::Shared>,
    ) -> ModuleHost {
        ModuleHost {
            name: Arc::from(name),
            cluster: self.cluster.clone(),
            store: self.store.clone(),
            router: self.router.clone(),
            mgr_id: Arc::from(self.mgr_id.as_str()),
            quotas,
            shared,
        }
    }
}
