//! Identity, logging, sleeping and commands: the `mgr` and `mgr-async` services that
//! are not options, store or health.

use std::time::Duration;

use serde_json::Value;

use crate::wit::ceph::mgr::{mgr, mgr_async};
use crate::{CommandResult, CommandTarget, LogLevel, Result, export};

/// Write `message` to the host log under the module's name; see also [`mgr_info!`](crate::mgr_info).
pub fn log(level: LogLevel, message: &str) {
    mgr::log(level, message)
}

/// This module's name, as the host knows it.
pub fn module_name() -> String {
    mgr::module_name()
}

/// The id of the manager this host runs as (`mgr.<id>`).
pub fn mgr_id() -> String {
    mgr::mgr_id()
}

/// Write to the cluster log: `channel` is `cluster` or `audit`.
pub fn cluster_log(channel: &str, level: LogLevel, message: &str) {
    mgr::cluster_log(channel, level, message)
}

/// Whether the host asked the module to shut down.
pub fn shutdown_requested() -> bool {
    export::shutdown_called() || mgr::is_shutting_down()
}

/// Sleep for `duration`; false if it woke early because the module is shutting down.
/// Other calls into the module run while it sleeps.
pub async fn sleep(duration: Duration) -> bool {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    mgr_async::sleep(ms).await
}

/// Wait until the host asks the module to shut down.
pub async fn wait_for_shutdown() {
    while !shutdown_requested() && sleep(Duration::from_secs(60)).await {}
}

/// Send a command to the cluster in ceph's JSON form (`{"prefix": "osd out", "ids": ["3"]}`).
pub async fn send_command(
    target: CommandTarget,
    command: Value,
    inbuf: &str,
) -> Result<CommandResult> {
    mgr_async::send_command(target, command.to_string(), inbuf.to_owned()).await
}

/// Run a command another module declared (ceph-mgr's `remote`), in the same JSON form.
pub async fn call_module(module: &str, command: Value, inbuf: &str) -> Result<CommandResult> {
    mgr_async::call_module(module.to_owned(), command.to_string(), inbuf.to_owned()).await
}
