//! `crasher`: a test module that traps in every OSD map notification, to prove that one
//! failing module does not stop the others.

use wasm_mgr_sdk::{
    Command, CommandResult, HttpRequest, HttpResponse, Module, ModuleInfo, Notification,
    NotifyKind, export_module,
};

/// The module: no state.
#[derive(Default)]
struct Crasher;

impl Module for Crasher {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("crasher", env!("CARGO_PKG_VERSION"))
            .description("Test module that panics on every OSD map notification")
            .command("crasher ping", "Answer pong", "r")
            .notify(&[NotifyKind::OsdMap])
            .http()
    }

    async fn notify(&self, notification: Notification) {
        panic!(
            "crasher: trapping on {} notification",
            notification.kind.as_str()
        );
    }

    async fn handle_command(&self, command: &Command, _inbuf: &str) -> CommandResult {
        match command.prefix() {
            "crasher ping" => CommandResult::ok("pong"),
            other => CommandResult::error(
                wasm_mgr_sdk::errno::EINVAL,
                format!("unknown command: {other}"),
            ),
        }
    }

    async fn handle_http(&self, _request: HttpRequest) -> HttpResponse {
        HttpResponse::text("crasher is up")
    }
}

export_module!(Crasher);
