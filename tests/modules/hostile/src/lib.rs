//! `hostile`: a test module that misbehaves on purpose, as its `mode` option says:
//! `loop-serve`, `loop-notify` and `loop-http` spin without ever pausing, `alloc`
//! allocates without bound, `trap` panics as `serve` starts (unless built with the
//! `fixed` feature), `calm` behaves. Its commands try what the sandbox must deny
//! (reading a host file, opening a socket, marking an OSD out) and what a grant
//! allows (writing its data folder), and `hostile hang` never answers.

use std::cell::RefCell;
use std::time::Duration;

use serde_json::json;
use wasm_mgr_sdk::{
    Command, CommandResult, CommandTarget, HttpRequest, HttpResponse, Module, ModuleInfo,
    ModuleOption, Notification, NotifyKind, errno, export_module, options, send_command, sleep,
};

#[derive(Default)]
struct Hostile {
    hoard: RefCell<Vec<Vec<u8>>>,
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

impl Hostile {
    async fn run(&self, command: &Command) -> CommandResult {
        let arg = |name: &str| command.str_arg(name).unwrap_or_default().to_string();
        match command.prefix() {
            "hostile ping" => CommandResult::ok("pong"),
            "hostile read-file" => match std::fs::read_to_string(arg("path")) {
                Ok(text) => CommandResult::ok(format!("read {} bytes", text.len())),
                Err(e) => refused("reading", e),
            },
            "hostile connect" => match std::net::TcpStream::connect(arg("addr")) {
                Ok(_) => CommandResult::ok("connected"),
                Err(e) => refused("connecting", e),
            },
            "hostile osd-out" => {
                let cmd = json!({"prefix": "osd out", "ids": [arg("id")]});
                match send_command(CommandTarget::Mon, cmd, "").await {
                    Ok(r) => {
                        CommandResult::error(r.retval, format!("sent: {} {}", r.stdout, r.stderr))
                    }
                    Err(e) => refused("osd out", format!("{e:?}")),
                }
            }
            "hostile write-data" => {
                let text = arg("text");
                let written = std::fs::write("/data/note.txt", &text)
                    .and_then(|()| std::fs::read_to_string("/data/note.txt"));
                match written {
                    Ok(back) => CommandResult::ok(back),
                    Err(e) => refused("writing /data", e),
                }
            }
            "hostile http-get" => match http_get(&arg("url")) {
                Ok(status) => CommandResult::ok(format!("status {status}")),
                Err(e) => refused("http", e),
            },
            "hostile env" => CommandResult::ok(format!(
                "{} variables, {} arguments",
                std::env::vars().count(),
                std::env::args().count()
            )),
            "hostile hang" => {
                sleep(Duration::from_secs(3600)).await;
                CommandResult::ok("woke")
            }
            other => CommandResult::error(errno::EINVAL, format!("unknown command {other}")),
        }
    }
}

impl Module for Hostile {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("hostile", env!("CARGO_PKG_VERSION"))
            .description("Test module that misbehaves on purpose")
            .option(
                ModuleOption::str("mode")
                    .default("calm")
                    .allowed(&[
                        "calm",
                        "loop-serve",
                        "loop-notify",
                        "loop-http",
                        "alloc",
                        "trap",
                    ])
                    .description("How to misbehave"),
            )
            .command("hostile ping", "Answer pong", "r")
            .command(
                "hostile read-file name=path,type=CephString",
                "Read a host file",
                "r",
            )
            .command(
                "hostile connect name=addr,type=CephString",
                "Open a TCP connection",
                "r",
            )
            .command(
                "hostile osd-out name=id,type=CephString",
                "Mark an OSD out",
                "rw",
            )
            .command(
                "hostile write-data name=text,type=CephString",
                "Write and read back /data/note.txt",
                "rw",
            )
            .command(
                "hostile http-get name=url,type=CephString",
                "GET an http:// URL",
                "r",
            )
            .command(
                "hostile env",
                "Count the environment variables it sees",
                "r",
            )
            .command("hostile hang", "Never answer", "r")
            .notify(&NotifyKind::ALL)
            .http()
    }

    async fn serve(&self) {
        match mode().as_str() {
            "loop-serve" => spin(),
            "alloc" => loop {
                // Touch every page so that the memory is really used.
                self.hoard.borrow_mut().push(vec![1u8; 1 << 20]);
            },
            "trap" if !cfg!(feature = "fixed") => panic!("hostile: trapping as asked"),
            _ => while sleep(Duration::from_secs(1)).await {},
        }
    }

    async fn notify(&self, _notification: Notification) {
        if mode() == "loop-notify" {
            spin();
        }
    }

    async fn handle_command(&self, command: &Command, _inbuf: &str) -> CommandResult {
        self.run(command).await
    }

    async fn handle_http(&self, _request: HttpRequest) -> HttpResponse {
        if mode() == "loop-http" {
            spin();
        }
        HttpResponse::text("calm")
    }
}

export_module!(Hostile);
