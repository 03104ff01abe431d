//! Write wasm-mgr modules — Ceph manager modules as WebAssembly components — in Rust.

#![warn(missing_docs)]

// Lets the code `#[commands]` generates, which names `::wasm_mgr_sdk`, run in this
// crate's own tests.
extern crate self as wasm_mgr_sdk;

mod command;
mod derive;
mod http;
pub use http::{publish_http, unpublish_http};
mod info;
mod runtime;
mod text;

pub mod cluster;
#[doc(hidden)]
pub mod export;
pub mod health;
#[doc(hidden)]
pub mod __macro {
    pub use crate::derive::{
        ArgSpec, FromArg, FromValue, IntoCommandResult, signature, unknown_command,
    };
}
pub mod options;
pub mod store;
#[doc(hidden)]
#[allow(missing_docs)]
pub mod wit;

pub use command::{Command, Format, errno};
pub use derive::IntoCommandResult;
pub use runtime::{
    call_module, cluster_log, log, mgr_id, module_name, send_command, shutdown_requested, sleep,
    wait_for_shutdown,
};
pub use text::{Align, Table, format_bytes, format_dimless};
pub use wasm_mgr_sdk_macros::{command, commands, read_command, write_command};
pub use wit::ceph::mgr::mgr::LogLevel;
pub use wit::ceph::mgr::types::{
    ClogEntry, CommandDesc, CommandResult, CommandTarget, CounterKind, DaemonKey, Df, Epochs,
    Error, Filesystem, FsMap, Health, HealthCheck, HealthStatus, HttpRequest, HttpResponse,
    MdsInfo, MgrMap, MgrStandby, ModuleInfo, ModuleOption, MonInfo, MonMap, Notification,
    NotifyKind, OptionType, OptionValue, OsdInfo, OsdMap, PerfCounter, PgStateCount, PgSummary,
    PoolInfo, PoolPgStates, PoolUsage, Server,
};

/// The `ceph:mgr` contract version this crate was built against; embedded in every
/// module's `ceph:mgr/api-version` custom section.
pub const API_VERSION: &str = match std::str::from_utf8(&export::API_VERSION_BYTES) {
    Ok(version) => version,
    Err(_) => panic!("the contract version is not UTF-8"),
};

/// Result of a host call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A wasm-mgr module: ceph-mgr's `MgrModule` life cycle. Implement what you need and
/// register the type with [`export_module!`].
///
/// The host calls `notify`, `handle_command` and `handle_http` while `serve` waits in
/// [`sleep`], [`send_command`] or [`call_module`]; all of them run on one thread, so
/// keep shared state in `Cell`/`RefCell` and never hold a borrow across an `.await`.
#[allow(async_fn_in_trait)] // a module is single-threaded: its futures need not be `Send`
pub trait Module: Default + 'static {
    /// What the module is: name, version, options, commands, notifications, HTTP.
    fn describe(&self) -> ModuleInfo;

    /// The long-running loop, started once after `describe`; by default it waits for shutdown.
    async fn serve(&self) {
        wait_for_shutdown().await
    }

    /// Something the module subscribed to in `describe` changed.
    async fn notify(&self, _notification: Notification) {}

    /// The host is stopping the module; `serve` should return soon.
    fn shutdown(&self) {}

    /// A command the module declared, as ceph's JSON command dict, and its input buffer.
    async fn handle_command(&self, command: &Command, _inbuf: &str) -> CommandResult {
        CommandResult::error(
            errno::EINVAL,
            format!("unknown command: {}", command.prefix()),
        )
    }

    /// An HTTP request under `/modules/<name>/`; by default 404.
    async fn handle_http(&self, _request: HttpRequest) -> HttpResponse {
        HttpResponse::not_found()
    }
}

/// Export a [`Module`] type as the component's `ceph:mgr/module` world:
/// `wasm_mgr_sdk::export_module!(MyModule);`
///
/// The instance is created with `Default` on the first call from the host.
#[macro_export]
macro_rules! export_module {
    ($module:ty) => {
        const _: () = {
            impl $crate::export::Instance for $module {
                fn instance() -> &'static Self {
                    ::std::thread_local! {
                        static INSTANCE: &'static $module =
                            ::std::boxed::Box::leak(::std::boxed::Box::default());
                    }
                    INSTANCE.with(|instance| *instance)
                }
            }

            type WasmMgrExports = $crate::export::Exports<$module>;
    $crate::wit::__export_module_world!(WasmMgrExports with_types_in $crate::wit);

            #[cfg(target_arch = "wasm32")]
            #[unsafe(link_section = "ceph:mgr/api-version")]
            #[used]
            static API_VERSION: [u8; $crate::export::API_VERSION_BYTES.len()] =
                $crate::export::API_VERSION_BYTES;
        };
    };
}

/// Log at debug level to the host log, `format!`-style.
#[macro_export]
macro_rules! mgr_debug {
    ($($arg:tt)*) => { $crate::log($crate::LogLevel::Debug, &::std::format!($($arg)*)) };
}

/// Log at info level to the host log, `format!`-style.
#[macro_export]
macro_rules! mgr_info {
    ($($arg:tt)*) => { $crate::log($crate::LogLevel::Info, &::std::format!($($arg)*)) };
}

/// Log at warning level to the host log, `format!`-style.
#[macro_export]
macro_rules! mgr_warn {
    ($($arg:tt)*) => { $crate::log($crate::LogLevel::Warn, &::std::format!($($arg)*)) };
}

/// Log at error level to the host log, `format!`-style.
#[macro_export]
macro_rules! mgr_error {
    ($($arg:tt)*) => { $crate::log($crate::LogLevel::Error, &::std::format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_version_matches_the_contract() {
        let worlds = include_str!("../../wit/0.1.0/worlds.wit");
        assert!(worlds.contains(&format!("package ceph:mgr@{};", super::API_VERSION)));
    }
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
