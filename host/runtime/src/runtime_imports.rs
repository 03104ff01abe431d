//! The host side of `ceph:mgr@0.2.0`'s imports, for modules on a shared runtime:
//! the interfaces 0.2.0 shares with 0.1.0 answer as 0.1.0's do; new are
//! `mgr.set-option` and `inbox`.

use std::future::Future;
use std::time::Duration;

use wasmtime::component::{Access, HasSelf};

use crate::bindings::ceph::mgr::types::{
    self, CommandResult, CommandTarget, Error, HealthCheck, OptionValue, PerfCounter, Server,
};
use crate::bindings::ceph::mgr::{cluster as cluster1, mgr as mgr1};
use crate::bindings::sync_world::ceph::mgr::mgr_blocking as blocking1;
use crate::bindings::v0_2_0::ceph::mgr::{cluster, inbox, mgr, mgr_blocking};
use crate::ctx::ModuleCtx;

impl cluster::Host for ModuleCtx {
    fn get(&mut self, name: String) -> Result<String, Error> {
        cluster1::Host::get(self, name)
    }
    fn get_epochs(&mut self) -> types::Epochs {
        cluster1::Host::get_epochs(self)
    }
    fn get_mon_map(&mut self) -> types::MonMap {
        cluster1::Host::get_mon_map(self)
    }
    fn get_osd_map(&mut self) -> types::OsdMap {
        cluster1::Host::get_osd_map(self)
    }
    fn get_fs_map(&mut self) -> types::FsMap {
        cluster1::Host::get_fs_map(self)
    }
    fn get_mgr_map(&mut self) -> types::MgrMap {
        cluster1::Host::get_mgr_map(self)
    }
    fn get_health(&mut self) -> types::Health {
        cluster1::Host::get_health(self)
    }
    fn get_pg_summary(&mut self) -> types::PgSummary {
        cluster1::Host::get_pg_summary(self)
    }
    fn get_df(&mut self) -> types::Df {
        cluster1::Host::get_df(self)
    }
    fn list_servers(&mut self) -> Vec<Server> {
        cluster1::Host::list_servers(self)
    }
    fn get_server(&mut self, hostname: String) -> Option<Server> {
        cluster1::Host::get_server(self, hostname)
    }
    fn get_metadata(&mut self, kind: String, id: String) -> Option<Vec<(String, String)>> {
        cluster1::Host::get_metadata(self, kind, id)
    }
    fn perf_counters(&mut self, daemon_prefix: String, path_prefix: String) -> Vec<PerfCounter> {
        cluster1::Host::perf_counters(self, daemon_prefix, path_prefix)
    }
    fn clog_tail(&mut self, max: u32) -> Vec<types::ClogEntry> {
        cluster1::Host::clog_tail(self, max)
    }
    fn have_mon_connection(&mut self) -> bool {
        cluster1::Host::have_mon_connection(self)
    }
}

fn level(level: mgr::LogLevel) -> mgr1::LogLevel {
    match level {
        mgr::LogLevel::Trace => mgr1::LogLevel::Trace,
        mgr::LogLevel::Debug => mgr1::LogLevel::Debug,
        mgr::LogLevel::Info => mgr1::LogLevel::Info,
        mgr::LogLevel::Warn => mgr1::LogLevel::Warn,
        mgr::LogLevel::Error => mgr1::LogLevel::Error,
    }
}

impl mgr::Host for ModuleCtx {
    fn log(&mut self, l: mgr::LogLevel, message: String) {
        mgr1::Host::log(self, level(l), message)
    }
    fn module_name(&mut self) -> String {
        mgr1::Host::module_name(self)
    }
    fn mgr_id(&mut self) -> String {
        mgr1::Host::mgr_id(self)
    }
    fn get_option(&mut self, name: String) -> Result<Option<OptionValue>, Error> {
        mgr1::Host::get_option(self, name)
    }
    fn set_option(&mut self, name: String, value: Option<String>) -> Result<(), Error> {
        let mut options = (*self.options).clone();
        options.set(&name, value.as_deref()).map_err(|e| match e {
            crate::config::SetOptionError::Unknown(m) => Error::NotFound(m),
            crate::config::SetOptionError::Invalid(m) => Error::Invalid(m),
        })?;
        self.host
            .keep_option(&name, value.as_deref())
            .map_err(|e| Error::Internal(format!("{e:#}")))?;
        self.options = std::sync::Arc::new(options);
        Ok(())
    }
    fn get_store(&mut self, key: String) -> Result<Option<String>, Error> {
        mgr1::Host::get_store(self, key)
    }
    fn set_store(&mut self, key: String, value: Option<String>) -> Result<(), Error> {
        mgr1::Host::set_store(self, key, value)
    }
    fn list_store(&mut self, prefix: String) -> Result<Vec<(String, String)>, Error> {
        mgr1::Host::list_store(self, prefix)
    }
    fn set_health_checks(&mut self, checks: Vec<HealthCheck>) -> Result<(), Error> {
        mgr1::Host::set_health_checks(self, checks)
    }
    fn cluster_log(&mut self, channel: String, l: mgr::LogLevel, message: String) {
        mgr1::Host::cluster_log(self, channel, level(l), message)
    }
    fn is_shutting_down(&mut self) -> bool {
        mgr1::Host::is_shutting_down(self)
    }
    fn publish_http(
        &mut self,
        path: String,
        response: Option<types::HttpResponse>,
    ) -> Result<(), Error> {
        mgr1::Host::publish_http(self, path, response)
    }
}

impl mgr_blocking::Host for ModuleCtx {}

impl<T: Send> mgr_blocking::HostWithStore<T> for HasSelf<ModuleCtx> {
    fn send_command(
        host: Access<'_, T, Self>,
        target: CommandTarget,
        command: String,
        inbuf: String,
    ) -> impl Future<Output = Result<CommandResult, Error>> + Send {
        <Self as blocking1::HostWithStore<T>>::send_command(host, target, command, inbuf)
    }

    fn call_module(
        host: Access<'_, T, Self>,
        module: String,
        command: String,
        inbuf: String,
    ) -> impl Future<Output = Result<CommandResult, Error>> + Send {
        <Self as blocking1::HostWithStore<T>>::call_module(host, module, command, inbuf)
    }
}

impl inbox::Host for ModuleCtx {
    fn answer_command(&mut self, id: u64, result: CommandResult) {
        if let Some(handover) = &self.handover {
            handover.answer_command(id, result);
        }
    }

    fn answer_http(&mut self, id: u64, response: types::HttpResponse) {
        if let Some(handover) = &self.handover {
            handover.answer_http(id, response);
        }
    }
}

impl<T: Send> inbox::HostWithStore<T> for HasSelf<ModuleCtx> {
    fn wait(
        mut host: Access<'_, T, Self>,
        timeout_ms: u64,
    ) -> impl Future<Output = Option<inbox::Incoming>> + Send {
        let ctx = host.get();
        ctx.run.pause();
        let handover = ctx.handover.clone();
        let shutdown = ctx.shutdown.clone();
        let timeout = Duration::from_millis(timeout_ms);
        async move {
            match handover {
                Some(handover) => handover.wait(timeout).await,
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(timeout) => {}
                        _ = shutdown.wait() => {}
                    }
                    None
                }
            }
        }
    }
}
