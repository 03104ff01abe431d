//! `probe`: a test module for the host's integration tests. It records what the host
//! does to it (notifications, serve iterations) and exposes every service through
//! commands with JSON answers.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};
use wasm_mgr_sdk::{
    CommandResult, CommandTarget, Error, HealthCheck, HttpRequest, HttpResponse, Module,
    ModuleInfo, ModuleOption, Notification, NotifyKind, OptionValue, cluster, commands, errno,
    export_module, health, mgr_warn, options, publish_http, send_command, sleep, store,
};

/// Notifications kept in memory; older ones are dropped.
const MAX_NOTIFIES: usize = 1000;

/// Store key counting how often `serve` started, across restarts.
const SERVE_STARTS_KEY: &str = "serve_starts";

/// One notification as the probe saw it.
struct NotifyRecord {
    kind: NotifyKind,
    id: String,
    /// OSD map epoch read through `cluster.epochs()` when the notification arrived.
    osd_map_epoch: u64,
    /// Whether `serve` was waiting in `sleep` at that moment.
    serve_sleeping: bool,
    /// Wall-clock time it arrived, in milliseconds since the epoch (for latency).
    at_ms: u64,
}

/// The module's in-memory state.
#[derive(Default)]
struct Probe {
    notifies: RefCell<VecDeque<NotifyRecord>>,
    iterations: Cell<u64>,
    sleeping: Cell<bool>,
}

impl Probe {
    fn notifies_json(&self) -> Value {
        let records = self.notifies.borrow();
        let list: Vec<Value> = records
            .iter()
            .map(|r| {
                json!({
                    "kind": r.kind.as_str(),
                    "id": r.id,
                    "osd_map_epoch": r.osd_map_epoch,
                    "serve_sleeping": r.serve_sleeping,
                    "at_ms": r.at_ms,
                })
            })
            .collect();
        Value::Array(list)
    }

    fn serve_json(&self) -> Value {
        json!({
            "starts": serve_starts(),
            "iterations": self.iterations.get(),
            "sleeping": self.sleeping.get(),
        })
    }
}

/// How often `serve` started, as kept in the store.
fn serve_starts() -> u64 {
    match store::get(SERVE_STARTS_KEY) {
        Ok(value) => value.and_then(|v| v.parse().ok()).unwrap_or(0),
        Err(e) => {
            mgr_warn!("reading {SERVE_STARTS_KEY}: {e}");
            0
        }
    }
}

fn option_json(value: Option<OptionValue>) -> Value {
    match value {
        None => Value::Null,
        Some(OptionValue::Str(s)) => json!(s),
        Some(OptionValue::Int(i)) => json!(i),
        Some(OptionValue::Float(f)) => json!(f),
        Some(OptionValue::Bool(b)) => json!(b),
    }
}

fn epochs_json() -> Value {
    let e = cluster::epochs();
    json!({
        "mon_map": e.mon_map,
        "osd_map": e.osd_map,
        "fs_map": e.fs_map,
        "mgr_map": e.mgr_map,
        "pg_summary": e.pg_summary,
        "health": e.health,
        "service_map": e.service_map,
        "have_mon_connection": cluster::have_mon_connection(),
    })
}

/// Where `probe send` sends: `mon`, `mgr` or `osd.N`.
fn target(name: &str) -> Result<CommandTarget, CommandResult> {
    match name {
        "mon" => Ok(CommandTarget::Mon),
        "mgr" => Ok(CommandTarget::Mgr),
        osd => match osd.strip_prefix("osd.").and_then(|id| id.parse().ok()) {
            Some(id) => Ok(CommandTarget::Osd(id)),
            None => Err(CommandResult::error(
                errno::EINVAL,
                format!("bad target {osd}"),
            )),
        },
    }
}

#[commands]
impl Module for Probe {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("probe", env!("CARGO_PKG_VERSION"))
            .description("Test module: records what the host does and exposes every service")
            .option(
                ModuleOption::int("serve-sleep-ms")
                    .default(60_000)
                    .min(1)
                    .desc("How long serve sleeps between iterations"),
            )
            .option(
                ModuleOption::str("greeting")
                    .default("hello")
                    .desc("Any text"),
            )
            .option(
                ModuleOption::float("ratio")
                    .default(0.5)
                    .min(0)
                    .max(1)
                    .desc("A number between 0 and 1"),
            )
            .option(ModuleOption::bool("verbose").default(false).desc("A flag"))
            .option(
                ModuleOption::bool("hang-shutdown")
                    .default(false)
                    .desc("Never return from shutdown (to test the grace period)"),
            )
            .notify(&NotifyKind::ALL)
            .http()
    }

    /// Notifications received, oldest first
    #[read_command("probe notifies")]
    fn notifies(&self) -> CommandResult {
        CommandResult::json(&self.notifies_json())
    }

    /// Serve loop starts, iterations and whether it sleeps
    #[read_command("probe serve")]
    fn serve_state(&self) -> CommandResult {
        CommandResult::json(&self.serve_json())
    }

    /// Typed value of an option
    #[read_command("probe option")]
    fn option(&self, name: &str) -> Result<CommandResult, Error> {
        let value = options::get(name)?;
        Ok(CommandResult::json(
            &json!({ "name": name, "value": option_json(value) }),
        ))
    }

    /// Set a store key
    #[write_command("probe store set")]
    fn store_set(&self, key: &str, value: &str) -> Result<CommandResult, Error> {
        store::set(key, value)?;
        Ok(CommandResult::json(&json!({ "key": key })))
    }

    /// Read a store key
    #[read_command("probe store get")]
    fn store_get(&self, key: &str) -> Result<CommandResult, Error> {
        Ok(CommandResult::json(
            &json!({ "key": key, "value": store::get(key)? }),
        ))
    }

    /// Store keys and values under a prefix
    #[read_command("probe store list")]
    fn store_list(&self, key_prefix: Option<&str>) -> Result<CommandResult, Error> {
        let entries = store::list(key_prefix.unwrap_or_default())?;
        let map: serde_json::Map<String, Value> = entries
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Ok(CommandResult::json(&map))
    }

    /// Raise a warning health check
    #[write_command("probe health raise")]
    fn health_raise(&self, code: &str, message: &str) -> Result<CommandResult, Error> {
        health::set(vec![HealthCheck::warn(code, message).detail(message)])?;
        Ok(CommandResult::json(&json!({ "raised": code })))
    }

    /// Clear the probe's health checks
    #[write_command("probe health clear")]
    fn health_clear(&self) -> Result<CommandResult, Error> {
        health::clear()?;
        Ok(CommandResult::json(&json!({ "cleared": true })))
    }

    /// Epoch of every map
    #[read_command("probe epoch")]
    fn epoch(&self) -> CommandResult {
        CommandResult::json(&epochs_json())
    }

    /// A cluster map as the module's get() sees it
    #[read_command("probe get")]
    fn get(&self, name: &str) -> Result<CommandResult, CommandResult> {
        let text = cluster::get(name)?;
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            CommandResult::error(errno::EINVAL, format!("get gave invalid JSON: {e}"))
        })?;
        Ok(CommandResult::json(&value))
    }

    /// Send a cluster command (JSON) to mon, mgr or osd.N through send-command
    #[write_command("probe send")]
    async fn send(&self, target: &str, command: &str) -> Result<CommandResult, CommandResult> {
        let target = self::target(target)?;
        let dict: Value = serde_json::from_str(command)
            .map_err(|_| CommandResult::error(errno::EINVAL, "command must be a JSON dict"))?;
        // What the host returned: the command's result, or its error as `{"error": ...}`.
        Ok(match send_command(target, dict, "").await {
            Ok(r) => CommandResult::json(&json!({
                "retval": r.retval, "stdout": r.stdout, "stderr": r.stderr,
            })),
            Err(e) => CommandResult::json(&json!({ "error": format!("{e:?}") })),
        })
    }

    /// Have the host serve a text page at a path
    #[write_command("probe publish")]
    fn publish(&self, path: &str, text: &str) -> Result<CommandResult, Error> {
        publish_http(path, &HttpResponse::text(text))?;
        Ok(CommandResult::json(&json!({ "published": path })))
    }

    async fn serve(&self) {
        if let Err(e) = store::set(SERVE_STARTS_KEY, &(serve_starts() + 1).to_string()) {
            mgr_warn!("counting serve starts: {e}");
        }
        loop {
            let ms = options::get_int("serve-sleep-ms").unwrap_or(60_000).max(1);
            self.sleeping.set(true);
            let slept = sleep(Duration::from_millis(ms.unsigned_abs())).await;
            self.sleeping.set(false);
            if !slept {
                break;
            }
            self.iterations.set(self.iterations.get() + 1);
        }
    }

    fn shutdown(&self) {
        if options::get_bool("hang-shutdown").unwrap_or(false) {
            mgr_warn!("hang-shutdown: not returning from shutdown");
            loop {
                std::hint::spin_loop();
            }
        }
    }

    async fn notify(&self, notification: Notification) {
        let record = NotifyRecord {
            kind: notification.kind,
            id: notification.id,
            osd_map_epoch: cluster::epochs().osd_map,
            serve_sleeping: self.sleeping.get(),
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        let mut records = self.notifies.borrow_mut();
        if records.len() == MAX_NOTIFIES {
            records.pop_front();
        }
        records.push_back(record);
    }

    async fn handle_http(&self, request: HttpRequest) -> HttpResponse {
        if request.is_get("/notifies") {
            HttpResponse::json(&self.notifies_json())
        } else if request.is_get("/hello") {
            HttpResponse::text("hello")
        } else if request.is_get("/slow") {
            // Answers after `ms` milliseconds: lets tests see the host's HTTP timeout.
            let ms = request
                .query_param("ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            sleep(std::time::Duration::from_millis(ms)).await;
            HttpResponse::text("slow")
        } else if request.method == "POST" && request.path == "/echo" {
            HttpResponse::text(format!("{} bytes", request.body.len()))
        } else {
            HttpResponse::not_found()
        }
    }
}

export_module!(Probe);
