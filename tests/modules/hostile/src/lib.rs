//! `hostile`: a test module that misbehaves on purpose, as its `mode` option says:
//! `loop-serve`, `loop-notify` and `loop-http` spin without ever pausing, `alloc`
//! allocates without bound, `trap` panics as `serve` starts (unless built with the
//! `fixed` feature), `poll` wakes every `poll-ms` and works a millisecond (a
//! well-behaved busy poller), `calm` behaves. Its commands try what the sandbox
//! must deny (reading a host file, opening a socket, marking an OSD out) and what
//! a grant allows (writing its data folder); `hostile flood` makes the host hold
//! or do as much as it can on its behalf (log lines, cluster-log entries, store,
//! health checks, published pages, calls into another module); `hostile hang`
//! never answers.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use serde_json::json;
use wasm_mgr_sdk::{
    CommandResult, CommandTarget, HealthCheck, HttpRequest, HttpResponse, LogLevel, Module,
    ModuleInfo, ModuleOption, Notification, NotifyKind, call_module, cluster_log, commands, errno,
    export_module, health, log, options, publish_http, send_command, sleep, store,
};

#[derive(Default)]
struct Hostile {
    hoard: RefCell<Vec<Vec<u8>>>,
    polls: Cell<u64>,
}

fn mode() -> String {
    options::get_str("mode").unwrap_or_else(|| "calm".into())
}

fn spin() -> ! {
    loop {
        std::hint::spin_loop();
    }
}

/// `GET url` (`http://host:port/path`) through `wasi:http`; the response status.
fn http_get(url: &str) -> Result<u16, String> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, "/".to_string()),
    };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| "bad path")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.status())
}

/// An error answer carrying what the sandbox said.
fn refused(what: &str, e: impl std::fmt::Display) -> CommandResult {
    CommandResult::error(errno::EACCES, format!("{what}: {e}"))
}

#[commands]
impl Module for Hostile {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("hostile", env!("CARGO_PKG_VERSION"))
            .description("Test module that misbehaves on purpose")
            .option(
                ModuleOption::str("mode")
                    .default("calm")
                    .enum_allowed(&[
                        "calm",
                        "loop-serve",
                        "loop-notify",
                        "loop-http",
                        "alloc",
                        "trap",
                        "poll",
                    ])
                    .desc("How to misbehave"),
            )
            .option(
                ModuleOption::int("poll-ms")
                    .default(50)
                    .min(0)
                    .desc("How long `poll` sleeps between bursts"),
            )
            .notify(&NotifyKind::ALL)
            .http()
    }

    /// Answer pong
    #[read_command("hostile ping")]
    fn ping(&self) -> &'static str {
        "pong"
    }

    /// Read a host file
    #[read_command("hostile read-file")]
    fn read_file(&self, path: &str) -> CommandResult {
        match std::fs::read_to_string(path) {
            Ok(text) => CommandResult::ok(format!("read {} bytes", text.len())),
            Err(e) => refused("reading", e),
        }
    }

    /// Open a TCP connection
    #[read_command("hostile connect")]
    fn connect(&self, addr: &str) -> CommandResult {
        match std::net::TcpStream::connect(addr) {
            Ok(_) => CommandResult::ok("connected"),
            Err(e) => refused("connecting", e),
        }
    }

    /// Mark an OSD out
    #[write_command("hostile osd-out")]
    async fn osd_out(&self, id: &str) -> CommandResult {
        let cmd = json!({"prefix": "osd out", "ids": [id]});
        match send_command(CommandTarget::Mon, cmd, "").await {
            Ok(r) => CommandResult::error(r.retval, format!("sent: {} {}", r.stdout, r.stderr)),
            Err(e) => refused("osd out", format!("{e:?}")),
        }
    }

    /// Write and read back /data/note.txt
    #[write_command("hostile write-data")]
    fn write_data(&self, text: &str) -> CommandResult {
        let written = std::fs::write("/data/note.txt", text)
            .and_then(|()| std::fs::read_to_string("/data/note.txt"));
        match written {
            Ok(back) => CommandResult::ok(back),
            Err(e) => refused("writing /data", e),
        }
    }

    /// GET an http:// URL
    #[read_command("hostile http-get")]
    fn http_get(&self, url: &str) -> CommandResult {
        match http_get(url) {
            Ok(status) => CommandResult::ok(format!("status {status}")),
            Err(e) => refused("http", e),
        }
    }

    /// Count the environment variables it sees
    #[read_command("hostile env")]
    fn env(&self) -> String {
        format!(
            "{} variables, {} arguments",
            std::env::vars().count(),
            std::env::args().count()
        )
    }

    /// How many times the poll loop woke
    #[read_command("hostile polls")]
    fn polls(&self) -> CommandResult {
        CommandResult::json(&json!({ "polls": self.polls.get() }))
    }

    /// Make the host hold or do COUNT things of SIZE bytes: log, clog, store,
    /// health, publish (COUNT pages), republish (one page COUNT times) or call (into
    /// module `probe`)
    #[write_command("hostile flood")]
    async fn flood(&self, what: &str, count: i64, size: i64) -> CommandResult {
        let text = "x".repeat(size.max(0) as usize);
        let mut ok = 0;
        let mut error = None;
        for i in 0..count.max(0) {
            let done = match what {
                "log" => {
                    log(LogLevel::Info, &text);
                    Ok(())
                }
                "clog" => {
                    cluster_log("cluster", LogLevel::Info, &text);
                    Ok(())
                }
                "store" => store::set(&format!("flood/{i}"), &text).map_err(|e| format!("{e:?}")),
                "health" => health::set(vec![
                    HealthCheck::warn("HOSTILE_FLOOD", "flooding").detail(text.clone()),
                ])
                .map_err(|e| format!("{e:?}")),
                "publish" => {
                    publish_http(&format!("/flood/{i}"), &HttpResponse::text(text.clone()))
                        .map_err(|e| format!("{e:?}"))
                }
                "republish" => publish_http("/flood", &HttpResponse::text(text.clone()))
                    .map_err(|e| format!("{e:?}")),
                "call" => call_module("probe", json!({"prefix": "probe epoch"}), &text)
                    .await
                    .map(drop)
                    .map_err(|e| format!("{e:?}")),
                other => Err(format!("nothing to flood called {other}")),
            };
            match done {
                Ok(()) => ok += 1,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        CommandResult::json(&json!({ "ok": ok, "error": error }))
    }

    /// Never answer
    #[read_command("hostile hang")]
    async fn hang(&self) -> &'static str {
        sleep(Duration::from_secs(3600)).await;
        "woke"
    }

    async fn serve(&self) {
        match mode().as_str() {
            "loop-serve" => spin(),
            "alloc" => loop {
                // Touch every page so that the memory is really used.
                self.hoard.borrow_mut().push(vec![1u8; 1 << 20]);
            },
            "trap" if !cfg!(feature = "fixed") => panic!("hostile: trapping as asked"),
            "poll" => {
                let pause = Duration::from_millis(options::get_int("poll-ms").unwrap_or(50) as u64);
                while sleep(pause).await {
                    // A burst of work between pauses.
                    let t0 = Instant::now();
                    while t0.elapsed() < Duration::from_millis(1) {
                        std::hint::spin_loop();
                    }
                    self.polls.set(self.polls.get() + 1);
                }
            }
            _ => while sleep(Duration::from_secs(1)).await {},
        }
    }

    async fn notify(&self, _notification: Notification) {
        if mode() == "loop-notify" {
            spin();
        }
    }

    async fn handle_http(&self, _request: HttpRequest) -> HttpResponse {
        if mode() == "loop-http" {
            spin();
        }
        HttpResponse::text("calm")
    }
}

export_module!(Hostile);
