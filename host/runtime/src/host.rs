//! What one module's instance reaches of the host, and nothing more: the cluster
//! view, its own namespace of the store, the command router (which knows who is
//! sending) and the manager's id. No other module's handle, no HA, no metrics.

use std::sync::Arc;

use anyhow::Result;
use wasm_mgr_cluster::{Cluster, model};

use crate::bindings::ceph::mgr::types::{CommandResult, CommandTarget, Error as WitError};
use crate::router::CommandRouter;
use crate::store::Store;

/// The host as module `name`'s imports see it.
#[derive(Clone)]
pub struct ModuleHost {
    name: Arc<str>,
    cluster: Arc<Cluster>,
    store: Arc<Store>,
    router: Arc<CommandRouter>,
    mgr_id: Arc<str>,
}

impl ModuleHost {
    /// The host of module `name`.
    pub fn new(
        name: &str,
        cluster: Arc<Cluster>,
        store: Arc<Store>,
        router: Arc<CommandRouter>,
        mgr_id: &str,
    ) -> ModuleHost {
        ModuleHost {
            name: Arc::from(name),
            cluster,
            store,
            router,
            mgr_id: Arc::from(mgr_id),
        }
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cluster state, read only.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// This manager's id (`mgr.<id>`'s id).
    pub fn mgr_id(&self) -> &str {
        &self.mgr_id
    }

    /// A key of the module's own store.
    pub fn get_store(&self, key: &str) -> Result<Option<String>> {
        self.store.get(&self.name, key)
    }

    /// Sets (or with `None` removes) a key of the module's own store.
    pub fn set_store(&self, key: &str, value: Option<&str>) -> Result<()> {
        self.store.set(&self.name, key, value)
    }

    /// The module's keys starting with `prefix`, in key order.
    pub fn list_store(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        self.store.list(&self.name, prefix)
    }

    /// Replaces the module's health checks in the cluster health.
    pub fn set_health_checks(&self, checks: Vec<model::HealthCheck>) {
        self.cluster.set_module_health(&self.name, checks);
    }

    /// Writes an entry of the cluster log as this manager.
    pub fn cluster_log(&self, channel: &str, priority: &str, message: &str) {
        let who = format!("mgr.{}", self.mgr_id);
        self.cluster
            .log_to_cluster(&who, channel, priority, message);
    }

    /// Sends a cluster command as this module (its grants apply).
    pub async fn send_command(
        &self,
        target: CommandTarget,
        command: &str,
        inbuf: String,
    ) -> Result<CommandResult, WitError> {
        self.router
            .send_command(&self.name, target, command, inbuf)
            .await
    }

    /// Runs a command another module declared (ceph-mgr's `remote`).
    pub async fn call_module(
        &self,
        module: &str,
        command: &str,
        inbuf: String,
    ) -> Result<CommandResult, WitError> {
        self.router.call_module(module, command, inbuf).await
    }
}
