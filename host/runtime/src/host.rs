//! What one module's instance reaches of the host, and nothing more: the cluster
//! view, its own namespace of the store, the command router (which knows who is
//! sending), the manager's id, and its account with its quotas. No other module's
//! handle, no HA, no metrics.

use std::sync::Arc;

use anyhow::Result;
use wasm_mgr_cluster::{Cluster, model};

use crate::account::{Account, Admit, Quotas, cut_at};
use crate::bindings::ceph::mgr::types::{CommandResult, CommandTarget, Error as WitError};
use crate::ctx::Shared;
use crate::router::CommandRouter;
use crate::store::Store;

/// The host as module `name`'s imports see it (made by
/// [`crate::Services::module_host`]).
#[derive(Clone)]
pub struct ModuleHost {
    pub(crate) name: Arc<str>,
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) store: Arc<Store>,
    pub(crate) router: Arc<CommandRouter>,
    pub(crate) mgr_id: Arc<str>,
    pub(crate) quotas: Arc<Quotas>,
    pub(crate) shared: Arc<Shared>,
}

impl ModuleHost {
    /// The module's account.
    pub fn account(&self) -> &Account {
        &self.shared.account
    }

    /// The module's quotas.
    pub fn quotas(&self) -> &Quotas {
        &self.quotas
    }

    /// Writes a line to the host log under the module's name, within its log
    /// rate and line length.
    pub fn log(&self, level: tracing::Level, message: &str) {
        let message = match self.account().admit_log(message.len(), &self.quotas) {
            Admit::Dropped => return,
            Admit::Whole => message,
            Admit::Cut(n) => cut_at(message, n),
        };
        let module = &*self.name;
        match level {
            tracing::Level::TRACE => tracing::trace!(module, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(module, "{message}"),
            tracing::Level::INFO => tracing::info!(module, "{message}"),
            tracing::Level::WARN => tracing::warn!(module, "{message}"),
            tracing::Level::ERROR => tracing::error!(module, "{message}"),
        }
    }

    /// Keeps an option the module set on itself (ceph-mgr's `set_module_option`)
    /// where the operator's run-time choices are kept, so that its next instance
    /// starts with it; `None` forgets it.
    pub fn keep_option(&self, option: &str, value: Option<&str>) -> Result<()> {
        let key = format!("{}{}", crate::manager::OPTIONS_KEY, self.name);
        let mut set: std::collections::BTreeMap<String, String> =
            match self.store.get(crate::HOST_HEALTH_KEY, &key)? {
                Some(text) => serde_json::from_str(&text)?,
                None => Default::default(),
            };
        match value {
            Some(v) => set.insert(option.to_string(), v.to_string()),
            None => set.remove(option),
        };
        let text = serde_json::to_string(&set)?;
        self.store.set(
            crate::HOST_HEALTH_KEY,
            &key,
            (!set.is_empty()).then_some(text.as_str()),
        )
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

    /// Sets (or with `None` removes) a key of the module's own store, within its
    /// store quota.
    pub fn set_store(&self, key: &str, value: Option<&str>) -> Result<()> {
        let held = self
            .store
            .set_within(&self.name, key, value, self.quotas.store_bytes)?;
        self.account().set_store_bytes(held);
        Ok(())
    }

    /// The module's keys starting with `prefix`, in key order.
    pub fn list_store(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        self.store.list(&self.name, prefix)
    }

    /// Replaces the module's health checks in the cluster health, within its
    /// health quota (count and bytes).
    pub fn set_health_checks(&self, checks: Vec<model::HealthCheck>) -> Result<(), String> {
        let bytes: u64 = checks
            .iter()
            .map(|c| {
                (c.code.len() + c.summary.len() + c.detail.iter().map(String::len).sum::<usize>())
                    as u64
            })
            .sum();
        if checks.len() > self.quotas.health_checks {
            return Err(format!(
                "{} health checks are over module {}'s limit of {}",
                checks.len(),
                self.name,
                self.quotas.health_checks
            ));
        }
        if bytes > self.quotas.health_bytes {
            return Err(format!(
                "health checks of {bytes} bytes are over module {}'s quota of {} bytes \
                 (health_quota)",
                self.name, self.quotas.health_bytes
            ));
        }
        self.cluster.set_module_health(&self.name, checks);
        self.account().set_health_bytes(bytes);
        Ok(())
    }

    /// Writes an entry of the cluster log as this manager, within the module's
    /// cluster-log rate and message length.
    pub fn cluster_log(&self, channel: &str, priority: &str, message: &str) {
        let message = match self.account().admit_clog(message.len(), &self.quotas) {
            Admit::Dropped => return,
            Admit::Whole => message,
            Admit::Cut(n) => cut_at(message, n),
        };
        let who = format!("mgr.{}", self.mgr_id);
        self.cluster
            .log_to_cluster(&who, channel, priority, message);
    }

    /// Publishes (or with `None` removes) a page the host serves for the module,
    /// within its pages quota.
    pub fn publish(
        &self,
        path: &str,
        response: Option<crate::bindings::ceph::mgr::types::HttpResponse>,
    ) -> Result<(), String> {
        self.shared.published.set(
            path,
            response,
            self.quotas.pages_bytes,
            &self.shared.account,
        )
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
