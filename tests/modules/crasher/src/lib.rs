//! `crasher`: a test module that traps in every OSD map notification, to prove that one
//! failing module does not stop the others.

use wasm_mgr_sdk::{
    HttpRequest, HttpResponse, Module, ModuleInfo, Notification, NotifyKind, commands,
    export_module,
};

/// The module: no state.
#[derive(Default)]
struct Crasher;

#[commands]
impl Module for Crasher {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("crasher", env!("CARGO_PKG_VERSION"))
            .description("Test module that panics on every OSD map notification")
            .notify(&[NotifyKind::OsdMap])
            .http()
    }

    async fn notify(&self, notification: Notification) {
        panic!(
            "crasher: trapping on {} notification",
            notification.kind.as_str()
        );
    }

    /// Answer pong
    #[read_command("crasher ping")]
    fn ping(&self) -> &'static str {
        "pong"
    }

    async fn handle_http(&self, _request: HttpRequest) -> HttpResponse {
        HttpResponse::text("crasher is up")
    }
}

export_module!(Crasher);
