//! The host side of the contract's imports: `cluster`, `mgr`, `mgr-async` and
//! `mgr-blocking`.

use std::future::Future;
use std::time::Duration;

use wasmtime::component::{Access, Accessor, HasSelf};

use super::ctx::ModuleCtx;
use crate::bindings::ceph::mgr::{cluster, mgr, mgr_async, types};
use crate::bindings::sync_world::ceph::mgr::mgr_blocking;
use types::{CommandResult, CommandTarget, Error, HealthCheck, OptionValue, PerfCounter, Server};
use wasm_mgr_cluster::model;

impl types::Host for ModuleCtx {}

impl cluster::Host for ModuleCtx {
    fn get(&mut self, name: String) -> Result<String, Error> {
        self.host
            .cluster()
            .snapshot()
            .get_json(&name)
            .map_err(|e| Error::NotFound(e.to_string()))
    }

    fn get_epochs(&mut self) -> types::Epochs {
        self.host.cluster().snapshot().epochs().into()
    }

    fn get_mon_map(&mut self) -> types::MonMap {
        (&*self.host.cluster().snapshot().mon_map).into()
    }

    fn get_osd_map(&mut self) -> types::OsdMap {
        (&*self.host.cluster().snapshot().osd_map).into()
    }

    fn get_fs_map(&mut self) -> types::FsMap {
        (&*self.host.cluster().snapshot().fs_map).into()
    }

    fn get_mgr_map(&mut self) -> types::MgrMap {
        (&*self.host.cluster().snapshot().mgr_map).into()
    }

    fn get_health(&mut self) -> types::Health {
        (&*self.host.cluster().snapshot().health).into()
    }

    fn get_pg_summary(&mut self) -> types::PgSummary {
        (&*self.host.cluster().snapshot().pg_summary).into()
    }

    fn get_df(&mut self) -> types::Df {
        (&*self.host.cluster().snapshot().df).into()
    }

    fn list_servers(&mut self) -> Vec<Server> {
        let snap = self.host.cluster().snapshot();
        snap.servers.iter().map(Into::into).collect()
    }

    fn get_server(&mut self, hostname: String) -> Option<Server> {
        let snap = self.host.cluster().snapshot();
        snap.servers
            .iter()
            .find(|s| s.hostname == hostname)
            .map(Into::into)
    }

    fn get_metadata(&mut self, kind: String, id: String) -> Option<Vec<(String, String)>> {
        self.host.cluster().snapshot().get_metadata(&kind, &id)
    }

    fn perf_counters(&mut self, daemon_prefix: String, path_prefix: String) -> Vec<PerfCounter> {
        self.host
            .cluster()
            .snapshot()
            .perf_counters(&daemon_prefix, &path_prefix)
            .into_iter()
            .map(Into::into)
            .collect()
    }

    fn clog_tail(&mut self, max: u32) -> Vec<types::ClogEntry> {
        self.host
            .cluster()
            .clog_tail(max as usize)
            .iter()
            .map(Into::into)
            .collect()
    }

    fn have_mon_connection(&mut self) -> bool {
        self.host.cluster().snapshot().have_mon_connection
    }
}

impl mgr::Host for ModuleCtx {
    fn log(&mut self, level: mgr::LogLevel, message: String) {
        let level = match level {
            mgr::LogLevel::Trace => tracing::Level::TRACE,
            mgr::LogLevel::Debug => tracing::Level::DEBUG,
            mgr::LogLevel::Info => tracing::Level::INFO,
            mgr::LogLevel::Warn => tracing::Level::WARN,
            mgr::LogLevel::Error => tracing::Level::ERROR,
        };
        self.host.log(level, &message);
    }

    fn module_name(&mut self) -> String {
        self.name.clone()
    }

    fn mgr_id(&mut self) -> String {
        self.host.mgr_id().to_string()
    }

    fn get_option(&mut self, name: String) -> Result<Option<OptionValue>, Error> {
        self.options.get(&name).ok_or_else(|| {
            Error::NotFound(format!("module {} declares no option `{name}`", self.name))
        })
    }

    fn get_store(&mut self, key: String) -> Result<Option<String>, Error> {
        self.host
            .get_store(&key)
            .map_err(|e| Error::Internal(format!("{e:#}")))
    }

    fn set_store(&mut self, key: String, value: Option<String>) -> Result<(), Error> {
        if key.is_empty() {
            return Err(Error::Invalid("empty store key".into()));
        }
        self.host
            .set_store(&key, value.as_deref())
            .map_err(|e| Error::Invalid(format!("{e:#}")))
    }

    fn list_store(&mut self, prefix: String) -> Result<Vec<(String, String)>, Error> {
        self.host
            .list_store(&prefix)
            .map_err(|e| Error::Internal(format!("{e:#}")))
    }

    fn set_health_checks(&mut self, checks: Vec<HealthCheck>) -> Result<(), Error> {
        for c in &checks {
            let valid = !c.code.is_empty()
                && c.code
                    .chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_');
            if !valid {
                return Err(Error::Invalid(format!(
                    "health check code `{}` must be upper-case letters, digits and _",
                    c.code
                )));
            }
        }
        let checks: Vec<model::HealthCheck> = checks.into_iter().map(Into::into).collect();
        self.host.set_health_checks(checks).map_err(Error::Invalid)
    }

    fn cluster_log(&mut self, channel: String, level: mgr::LogLevel, message: String) {
        let priority = match level {
            mgr::LogLevel::Trace | mgr::LogLevel::Debug => "[DBG]",
            mgr::LogLevel::Info => "[INF]",
            mgr::LogLevel::Warn => "[WRN]",
            mgr::LogLevel::Error => "[ERR]",
        };
        let channel = if channel == "audit" {
            "audit"
        } else {
            "cluster"
        };
        self.host.cluster_log(channel, priority, &message);
    }

    fn is_shutting_down(&mut self) -> bool {
        self.shutdown.is_requested()
    }

    fn publish_http(
        &mut self,
        path: String,
        response: Option<types::HttpResponse>,
    ) -> Result<(), Error> {
        self.host.publish(&path, response).map_err(Error::Invalid)
    }
}

impl mgr_async::Host for ModuleCtx {}

impl<T: Send> mgr_async::HostWithStore<T> for HasSelf<ModuleCtx> {
    async fn sleep(accessor: &Accessor<T, Self>, ms: u64) -> bool {
        let shutdown = accessor.with(|mut access| {
            let ctx = access.get();
            ctx.run.pause();
            ctx.shutdown.clone()
        });
        if shutdown.is_requested() {
            return false;
        }
        let slept = tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
            _ = shutdown.wait() => false,
        };
        accessor.with(|mut access| access.get().run.pause());
        slept
    }

    async fn send_command(
        accessor: &Accessor<T, Self>,
        target: CommandTarget,
        command: String,
        inbuf: String,
    ) -> Result<CommandResult, Error> {
        let host = paused_host(accessor);
        let answer = host.send_command(target, &command, inbuf).await;
        accessor.with(|mut access| access.get().run.pause());
        answer
    }

    async fn call_module(
        accessor: &Accessor<T, Self>,
        module: String,
        command: String,
        inbuf: String,
    ) -> Result<CommandResult, Error> {
        let host = paused_host(accessor);
        let answer = host.call_module(&module, &command, inbuf).await;
        accessor.with(|mut access| access.get().run.pause());
        answer
    }
}

/// The module's host, noting that the guest now waits in it.
fn paused_host<T: Send>(accessor: &Accessor<T, HasSelf<ModuleCtx>>) -> crate::ModuleHost {
    accessor.with(|mut access| {
        let ctx = access.get();
        ctx.run.pause();
        ctx.host.clone()
    })
}

impl mgr_blocking::Host for ModuleCtx {}

/// `module-sync` modules: the same calls as `mgr-async`, blocking to the guest.
impl<T: Send> mgr_blocking::HostWithStore<T> for HasSelf<ModuleCtx> {
    fn send_command(
        mut host: Access<'_, T, Self>,
        target: CommandTarget,
        command: String,
        inbuf: String,
    ) -> impl Future<Output = Result<CommandResult, Error>> + Send {
        let ctx = host.get();
        ctx.run.pause();
        let host = ctx.host.clone();
        async move { host.send_command(target, &command, inbuf).await }
    }

    fn call_module(
        mut host: Access<'_, T, Self>,
        module: String,
        command: String,
        inbuf: String,
    ) -> impl Future<Output = Result<CommandResult, Error>> + Send {
        let ctx = host.get();
        ctx.run.pause();
        let host = ctx.host.clone();
        async move { host.call_module(&module, &command, inbuf).await }
    }
}
