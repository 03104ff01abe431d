//! `probe`: a test module for the host's integration tests. It records what the host
//! does to it (notifications, serve iterations) and exposes every service through
//! commands with JSON answers.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};
use wasm_mgr_sdk::{
    Command, CommandResult, CommandTarget, HealthCheck, HttpRequest, HttpResponse, Module,
    ModuleInfo, ModuleOption, Notification, NotifyKind, OptionValue, cluster, errno, export_module,
    health, mgr_warn, options, publish_http, send_command, sleep, store,
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

/// `probe send`: a cluster command through `send-command`, answered with what the
/// host returned: the command's result, or the host's error as `{"error": ...}`.
async fn send(command: &Command) -> CommandResult {
    let target = match command.str_arg("target").unwrap_or("mon") {
        "mon" => CommandTarget::Mon,
        "mgr" => CommandTarget::Mgr,
        osd => match osd.strip_prefix("osd.").and_then(|id| id.parse().ok()) {
            Some(id) => CommandTarget::Osd(id),
            None => return CommandResult::error(errno::EINVAL, format!("bad target {osd}")),
        },
    };
    let dict: Value = match command.str_arg("command").map(serde_json::from_str) {
        Some(Ok(v)) => v,
        _ => return CommandResult::error(errno::EINVAL, "command must be a JSON dict"),
    };
    match send_command(target, dict, "").await {
        Ok(r) => CommandResult::json(&json!({
            "retval": r.retval, "stdout": r.stdout, "stderr": r.stderr,
        })),
        Err(e) => CommandResult::json(&json!({ "error": format!("{e:?}") })),
    }
}

/// A required string argument, or -EINVAL.
fn required<'a>(command: &'a Command, name: &str) -> Result<&'a str, CommandResult> {
    command
        .str_arg(name)
        .ok_or_else(|| CommandResult::error(errno::EINVAL, format!("missing argument {name}")))
}

impl Probe {
    /// Serve one command: `Ok` is the JSON answer.
    fn run(&self, command: &Command) -> Result<Value, CommandResult> {
        match command.prefix() {
            "probe notifies" => Ok(self.notifies_json()),
            "probe serve" => Ok(self.serve_json()),
            "probe option" => {
                let name = required(command, "name")?;
                let value = options::get(name)?;
                Ok(json!({ "name": name, "value": option_json(value) }))
            }
            "probe store set" => {
                let key = required(command, "key")?;
                store::set(key, required(command, "value")?)?;
                Ok(json!({ "key": key }))
            }
            "probe store get" => {
                let key = required(command, "key")?;
                Ok(json!({ "key": key, "value": store::get(key)? }))
            }
            "probe store list" => {
                let entries = store::list(command.str_arg("key_prefix").unwrap_or_default())?;
                let map: serde_json::Map<String, Value> = entries
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                Ok(Value::Object(map))
            }
            "probe health raise" => {
                let code = required(command, "code")?;
                let message = required(command, "message")?;
                health::set(vec![HealthCheck::warn(code, message).detail(message)])?;
                Ok(json!({ "raised": code }))
            }
            "probe health clear" => {
                health::clear()?;
                Ok(json!({ "cleared": true }))
            }
            "probe epoch" => Ok(epochs_json()),
            "probe get" => {
                let text = cluster::get(required(command, "name")?)?;
                serde_json::from_str(&text).map_err(|e| {
                    CommandResult::error(errno::EINVAL, format!("get gave invalid JSON: {e}"))
                })
            }
            "probe publish" => {
                let path = required(command, "path")?;
                let text = required(command, "text")?;
                publish_http(path, &HttpResponse::text(text))?;
                Ok(json!({ "published": path }))
            }
            other => Err(CommandResult::error(
                errno::EINVAL,
                format!("unknown command: {other}"),
            )),
        }
    }
}

impl Module for Probe {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("probe", env!("CARGO_PKG_VERSION"))
            .description("Test module: records what the host does and exposes every service")
            .option(
                ModuleOption::int("serve-sleep-ms")
                    .default(60_000)
                    .min(1)
                    .description("How long serve sleeps between iterations"),
            )
            .option(
                ModuleOption::str("greeting")
                    .default("hello")
                    .description("Any text"),
            )
            .option(
                ModuleOption::float("ratio")
                    .default(0.5)
                    .min(0)
                    .max(1)
                    .description("A number between 0 and 1"),
            )
            .option(
                ModuleOption::bool("verbose")
                    .default(false)
                    .description("A flag"),
            )
            .option(
                ModuleOption::bool("hang-shutdown")
                    .default(false)
                    .description("Never return from shutdown (to test the grace period)"),
            )
            .command(
                "probe notifies",
                "Notifications received, oldest first",
                "r",
            )
            .command(
                "probe serve",
                "Serve loop starts, iterations and whether it sleeps",
                "r",
            )
            .command(
                "probe option name=name,type=CephString",
                "Typed value of an option",
                "r",
            )
            .command(
                "probe store set name=key,type=CephString name=value,type=CephString",
                "Set a store key",
                "rw",
            )
            .command(
                "probe store get name=key,type=CephString",
                "Read a store key",
                "r",
            )
            .command(
                "probe store list name=key_prefix,type=CephString,req=false",
                "Store keys and values under a prefix",
                "r",
            )
            .command(
                "probe health raise name=code,type=CephString name=message,type=CephString",
                "Raise a warning health check",
                "rw",
            )
            .command(
                "probe health clear",
                "Clear the probe's health checks",
                "rw",
            )
            .command("probe epoch", "Epoch of every map", "r")
            .command(
                "probe get name=name,type=CephString",
                "A cluster map as the module's get() sees it",
                "r",
            )
            .command(
                "probe send name=target,type=CephString name=command,type=CephString",
                "Send a cluster command (JSON) to mon, mgr or osd.N through send-command",
                "rw",
            )
            .command(
                "probe publish name=path,type=CephString name=text,type=CephString",
                "Have the host serve a text page at a path",
                "rw",
            )
            .notify(&NotifyKind::ALL)
            .http()
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
        };
        let mut records = self.notifies.borrow_mut();
        if records.len() == MAX_NOTIFIES {
            records.pop_front();
        }
        records.push_back(record);
    }

    async fn handle_command(&self, command: &Command, _inbuf: &str) -> CommandResult {
        if command.prefix() == "probe send" {
            return send(command).await;
        }
        match self.run(command) {
            Ok(value) => CommandResult::json(&value),
            Err(failure) => failure,
        }
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
