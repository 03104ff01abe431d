//! Glue between an author's [`Module`] and the component's exports; used by
//! [`export_module!`](crate::export_module) only.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::wit::Guest;
use crate::{
    Command, CommandResult, HttpRequest, HttpResponse, Module, ModuleInfo, Notification, errno,
};

/// Set when the host calls `shutdown`, before the module's own `shutdown` runs.
static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// The contract version as bytes, for the `ceph:mgr/api-version` custom section.
pub const API_VERSION_BYTES: [u8; 5] = *b"0.1.0";

/// Whether the host called `shutdown`.
pub(crate) fn shutdown_called() -> bool {
    SHUTDOWN.load(Ordering::Relaxed)
}

/// The one instance of a module type, created on first use; implemented by
/// `export_module!`.
pub trait Instance: Module {
    /// The instance every export call goes to.
    fn instance() -> &'static Self;
}

/// Implements the `module` world's exports for the module type `M`.
pub struct Exports<M>(PhantomData<M>);

impl<M: Instance> Guest for Exports<M> {
    fn describe() -> ModuleInfo {
        M::instance().describe()
    }

    async fn serve() {
        M::instance().serve().await
    }

    async fn notify(notification: Notification) {
        M::instance().notify(notification).await
    }

    fn on_shutdown() {
        SHUTDOWN.store(true, Ordering::Relaxed);
        M::instance().shutdown()
    }

    async fn handle_command(command: String, inbuf: String) -> CommandResult {
        let mut result = match Command::parse(&command) {
            Ok(command) => M::instance().handle_command(&command, &inbuf).await,
            Err(e) => CommandResult::error(errno::EINVAL, format!("malformed command: {e}")),
        };
        // retval is 0 or a negative errno; a positive errno means its negative.
        result.retval = -result.retval.abs();
        result
    }

    async fn handle_http(request: HttpRequest) -> HttpResponse {
        M::instance().handle_http(request).await
    }
}
