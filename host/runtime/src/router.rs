//! The command router: where a module's `send-command` and `call-module` go.
//! Mon and OSD commands go to the cluster source, checked against the sending
//! module's grants; mgr commands go to the module that declares them.

use std::sync::Arc;

use wasm_mgr_cluster::command::find_by_prefix;
use wasm_mgr_cluster::source::{ClusterSource, CommandDest};

use crate::Gate;
use crate::bindings::ceph::mgr::types::{CommandResult, CommandTarget, Error as WitError};
use crate::config::Grants;
use crate::module::ModuleHandle;
use crate::registry::Registry;

/// The prefix of a call of one of another module's methods (ceph-mgr's
/// `remote(module, method, *args, **kwargs)`) between modules on the shared
/// runtimes: `{"prefix": "__remote__", "method": .., "args": [..], "kwargs": {..}}`,
/// which the target's runtime dispatches to the method; it is no declared command.
pub const REMOTE_PREFIX: &str = "__remote__";

/// Routes the commands modules send.
pub struct CommandRouter {
    source: Arc<dyn ClusterSource>,
    grants: Grants,
    registry: Arc<Registry>,
    gate: Arc<Gate>,
}

impl CommandRouter {
    /// A router to `source` and the modules in `registry`; commands that change
    /// the cluster need a grant, and nothing leaves while `gate` is shut.
    pub fn new(
        source: Arc<dyn ClusterSource>,
        grants: Grants,
        registry: Arc<Registry>,
        gate: Arc<Gate>,
    ) -> CommandRouter {
        CommandRouter {
            source,
            grants,
            registry,
            gate,
        }
    }

    /// The cluster source commands go to.
    pub fn source(&self) -> &Arc<dyn ClusterSource> {
        &self.source
    }

    /// Runs a cluster command for module `from`: mon and OSD commands go to the
    /// cluster, mgr commands to the module that declares them.
    pub async fn send_command(
        &self,
        from: &str,
        target: CommandTarget,
        command: &str,
        inbuf: String,
    ) -> Result<CommandResult, WitError> {
        if !self.gate.is_open() {
            return Err(WitError::Unavailable(
                "this host is not the active manager".into(),
            ));
        }
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
                    None if !self.source.has_manager() => {
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
        let remote = dict.get("prefix").and_then(|p| p.as_str()) == Some(REMOTE_PREFIX);
        if !remote && find_by_prefix(&target.signatures, &dict).is_none() {
            return Err(WitError::NotFound(format!(
                "module `{name}` has no command `{}`",
                dict.get("prefix").and_then(|p| p.as_str()).unwrap_or("")
            )));
        }
        call(&target, command.to_string(), inbuf).await
    }
}

async fn call(
    target: &ModuleHandle,
    command: String,
    inbuf: String,
) -> Result<CommandResult, WitError> {
    target
        .check_input(command.len() + inbuf.len())
        .map_err(WitError::Invalid)?;
    target
        .command(command, inbuf)
        .await
        .map(CommandResult::from)
        .map_err(|e| WitError::Unavailable(format!("module `{}`: {e}", target.name)))
}
