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
    CommandResult, HttpRequest, HttpResponse, Module, ModuleInfo, ModuleOption, Notification,
    NotifyKind, commands, errno, export_module, mgr_id, options, sleep, store,
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

#[commands]
impl Module for Tally {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("tally", env!("CARGO_PKG_VERSION"))
            .description("Keeps a total; counts OSD-map notifies")
            .notify(&[NotifyKind::OsdMap])
            .option(
                ModuleOption::int("beat-ms")
                    .default(0)
                    .min(0)
                    .desc("Write a beat/<ms>-<mgr id> key this often (0: never)"),
            )
            .http()
    }

    /// Add n to the total
    #[write_command("tally add")]
    fn add(&self, n: i64) -> Result<CommandResult, CommandResult> {
        store::set("total", &(total() + n).to_string())
            .map_err(|e| CommandResult::error(errno::EIO, format!("{e:?}")))?;
        Ok(CommandResult::json(&json!({ "total": total() })))
    }

    /// The total
    #[read_command("tally total")]
    fn total(&self) -> CommandResult {
        CommandResult::json(&json!({ "total": total() }))
    }

    /// OSD-map notifies seen
    #[read_command("tally notifies")]
    fn notifies(&self) -> CommandResult {
        CommandResult::json(&json!({
            "notifies": self.notifies.get(),
            "while_serving": self.while_serving.get(),
        }))
    }

    /// Every key this module stored
    #[read_command("tally keys")]
    fn keys(&self) -> Result<CommandResult, CommandResult> {
        let pairs =
            store::list("").map_err(|e| CommandResult::error(errno::EIO, format!("{e:?}")))?;
        let keys: Vec<String> = pairs.into_iter().map(|(k, _)| k).collect();
        Ok(CommandResult::json(&json!({ "keys": keys })))
    }

    /// The beat-ms option in force
    #[read_command("tally beat-ms")]
    fn beat_ms(&self) -> CommandResult {
        CommandResult::json(&json!({ "beat_ms": options::get_int("beat-ms") }))
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

    async fn handle_http(&self, request: HttpRequest) -> HttpResponse {
        if request.is_get("/total") {
            HttpResponse::json(&json!({ "total": total() }))
        } else {
            HttpResponse::not_found()
        }
    }
}

export_module!(Tally);
