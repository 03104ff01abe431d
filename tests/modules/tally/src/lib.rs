//! `tally`, in Rust: keeps a total in the store, counts OSD-map notifies and
//! whether `serve` was running when they came. Its twin in Python is
//! `tests/modules/tally-py`; one test runs against both.
//!
//! With option `beat-ms` set, `serve` also writes a key `beat/<unix ms>-<mgr id>`
//! that often: a witness, in the shared store, of which host acted when (the HA
//! tests check that no two hosts' beats interleave).

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use wasm_mgr_sdk::{
    Command, CommandResult, HttpRequest, HttpResponse, Module, ModuleInfo, ModuleOption,
    Notification, NotifyKind, errno, export_module, mgr_id, options, sleep, store,
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
            .command("tally keys", "Every key this module stored", "r")
            .command("tally beat-ms", "The beat-ms option in force", "r")
            .notify(&[NotifyKind::OsdMap])
            .option(
                ModuleOption::int("beat-ms")
                    .default(0)
                    .min(0)
                    .description("Write a beat/<ms>-<mgr id> key this often (0: never)"),
            )
            .http()
    }

    async fn serve(&self) {
        self.serving.set(true);
        let beat = options::get_int("beat-ms").unwrap_or(0);
        let pause = if beat > 0 { beat as u64 } else { 100 };
        let me = mgr_id();
        while sleep(Duration::from_millis(pause)).await {
            if beat > 0 {
                let ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                // A refused write (this host lost its lease) is the point.
                let _ = store::set(&format!("beat/{ms:013}-{me}"), "");
            }
        }
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
            "tally beat-ms" => {
                CommandResult::json(&json!({ "beat_ms": options::get_int("beat-ms") }))
            }
            "tally keys" => match store::list("") {
                Ok(pairs) => {
                    let keys: Vec<String> = pairs.into_iter().map(|(k, _)| k).collect();
                    CommandResult::json(&json!({ "keys": keys }))
                }
                Err(e) => CommandResult::error(errno::EIO, format!("{e:?}")),
            },
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
