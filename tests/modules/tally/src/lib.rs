//! `tally`, in Rust: keeps a total in the store, counts OSD-map notifies and
//! whether `serve` was running when they came. Its twin in Python is
//! `tests/modules/tally-py`; one test runs against both.

use std::cell::Cell;
use std::time::Duration;

use serde_json::json;
use wasm_mgr_sdk::{
    Command, CommandResult, HttpRequest, HttpResponse, Module, ModuleInfo, Notification,
    NotifyKind, errno, export_module, sleep, store,
};

#[derive(Default)]
struct Tally {
    serving: Cell<bool>,
    notifies: Cell<u64>,
    while_serving: Cell<u64>,
}

fn total() -> i64 {
    store::get("total")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Module for Tally {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("tally", env!("CARGO_PKG_VERSION"))
            .description("Keeps a total; counts OSD-map notifies")
            .command("tally add name=n,type=CephInt", "Add n to the total", "rw")
            .command("tally total", "The total", "r")
            .command("tally notifies", "OSD-map notifies seen", "r")
            .notify(&[NotifyKind::OsdMap])
            .http()
    }

    async fn serve(&self) {
        self.serving.set(true);
        while sleep(Duration::from_millis(100)).await {}
        self.serving.set(false);
    }

    async fn notify(&self, _notification: Notification) {
        self.notifies.set(self.notifies.get() + 1);
        if self.serving.get() {
            self.while_serving.set(self.while_serving.get() + 1);
        }
    }

    async fn handle_command(&self, command: &Command, _inbuf: &str) -> CommandResult {
        match command.prefix() {
            "tally add" => {
                let n = command.int_arg("n").unwrap_or(0);
                match store::set("total", &(total() + n).to_string()) {
                    Ok(()) => CommandResult::json(&json!({ "total": total() })),
                    Err(e) => CommandResult::error(errno::EIO, format!("{e:?}")),
                }
            }
            "tally total" => CommandResult::json(&json!({ "total": total() })),
            "tally notifies" => CommandResult::json(&json!({
                "notifies": self.notifies.get(),
                "while_serving": self.while_serving.get(),
            })),
            other => CommandResult::error(errno::EINVAL, format!("unknown command {other}")),
        }
    }

    async fn handle_http(&self, request: HttpRequest) -> HttpResponse {
        if request.is_get("/total") {
            HttpResponse::json(&json!({ "total": total() }))
        } else {
            HttpResponse::not_found()
        }
    }
}

export_module!(Tally);
