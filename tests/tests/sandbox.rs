//! No module can hurt the host, the cluster or another module: busy loops, calls
//! that never return, unbounded allocation and a module that traps every time are
//! each stopped and restarted alone; what the operator did not grant is denied.
//! The hostile behaviour comes from the `hostile` test module.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use wasm_mgr_tests::{Host, component, rss_mib};

async fn restarts(host: &Host, name: &str) -> Result<u64> {
    Ok(host.module(name).await?["restarts"].as_u64().unwrap_or(0))
}

fn hostile_config(mode: &str, extra: &str) -> String {
    format!(
        "[modules.hostile]\nmax_run = 1\n{extra}\n[modules.hostile.options]\nmode = \"{mode}\"\n"
    )
}

/// Starts `hostile` in `mode` beside `probe`, waits until `hostile` has been
/// stopped and restarted, checking all along that `probe` answers within 1 s.
async fn spinning(mode: &str) -> Result<Host> {
    let host = Host::start(
        &["hostile", "probe"],
        Some(&hostile_config(mode, "http_timeout = 2")),
        &[],
    )
    .await?;
    if mode == "loop-http" {
        let url = host.url("/modules/hostile/spin");
        tokio::spawn(async move {
            // The client gets 503; the instance is stopped by max_run.
            let _ = reqwest::get(url).await;
        });
    }
    let started = Instant::now();
    while restarts(&host, "hostile").await? == 0 {
        let t0 = Instant::now();
        host.command_ok("probe", "probe epoch").await?;
        ensure!(
            t0.elapsed() < Duration::from_secs(1),
            "probe took {:?} while hostile spun",
            t0.elapsed()
        );
        ensure!(
            started.elapsed() < Duration::from_secs(20),
            "hostile ({mode}) was not stopped:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(host.log().contains("without a pause"), "{}", host.log());
    let (code, _) = host.get("/api/modules").await?;
    ensure!(code == 200);
    Ok(host)
}

#[tokio::test]
async fn a_busy_loop_in_serve_is_stopped() -> Result<()> {
    spinning("loop-serve").await.map(drop)
}

#[tokio::test]
async fn a_busy_loop_in_notify_is_stopped() -> Result<()> {
    spinning("loop-notify").await.map(drop)
}

#[tokio::test]
async fn a_busy_loop_in_handle_http_is_stopped() -> Result<()> {
    spinning("loop-http").await.map(drop)
}

#[tokio::test]
async fn a_call_that_never_returns_is_stopped_at_its_deadline() -> Result<()> {
    let host = Host::start(
        &["hostile"],
        Some(&hostile_config("calm", "call_deadline = 2")),
        &[],
    )
    .await?;
    let t0 = Instant::now();
    let (code, answer) = host.command("hostile", "hostile hang").await?;
    ensure!(code == 503, "{code} {answer}");
    ensure!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    ensure!(
        host.log().contains("ran past its deadline of 2s"),
        "{}",
        host.log()
    );
    host.wait_for(Duration::from_secs(10), "the restart", || async {
        Ok((restarts(&host, "hostile").await? > 0).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn unbounded_allocation_is_limited_and_the_host_stays_small() -> Result<()> {
    let host = Host::start(
        &["hostile"],
        Some(&hostile_config("alloc", "memory_limit = \"64M\"")),
        &[],
    )
    .await?;
    host.wait_for(Duration::from_secs(20), "two restarts", || async {
        Ok((restarts(&host, "hostile").await? >= 2).then_some(()))
    })
    .await?;
    ensure!(
        host.log().contains("over its limit of 67108864 bytes"),
        "{}",
        host.log()
    );
    let rss = rss_mib(host.pid().context("pid")?)?;
    ensure!(rss < 250.0, "host RSS {rss:.0} MiB");
    Ok(())
}

fn has_check(health: &Value, code: &str) -> bool {
    health["checks"].get(code).is_some()
}

#[tokio::test]
async fn a_module_that_always_traps_ends_failed_and_recovers_when_fixed() -> Result<()> {
    let host = Host::start(
        &["hostile", "probe"],
        Some(&hostile_config("trap", "")),
        &[],
    )
    .await?;
    let row = host
        .wait_for(Duration::from_secs(40), "the failed state", || async {
            let row = host.module("hostile").await?;
            Ok((row["state"] == "failed").then_some(row))
        })
        .await?;
    ensure!(row["restarts"] == 5, "{row}");
    let log = host.log();
    for delay in ["500ms", "1s", "2s", "4s", "8s"] {
        ensure!(
            log.contains(&format!("restarting in {delay}")),
            "no {delay} back-off:\n{log}"
        );
    }
    ensure!(log.contains("staying down until an operator acts"), "{log}");
    let health = host.cluster("health").await?;
    ensure!(has_check(&health, "MGR_MODULE_ERROR"), "{health}");
    ensure!(has_check(&health, "RECENT_MGR_MODULE_CRASH"), "{health}");
    // The host's metrics say so too.
    let (_, metrics) = host.get("/metrics").await?;
    ensure!(
        metrics.contains("wasm_mgr_module_state{module=\"hostile\",state=\"failed\"} 1"),
        "{metrics}"
    );
    // Another module was never touched.
    host.command_ok("probe", "probe epoch").await?;

    // The operator drops a repaired build in.
    std::fs::copy(
        component("hostile-fixed"),
        host.modules_dir().join("hostile.wasm"),
    )?;
    host.wait_for(Duration::from_secs(10), "the repaired module", || async {
        let row = host.module("hostile").await?;
        let health = host.cluster("health").await?;
        Ok((row["state"] == "running" && !has_check(&health, "MGR_MODULE_ERROR")).then_some(()))
    })
    .await?;
    host.command_ok("hostile", "hostile ping").await?;
    let crashes = host.get("/api/crash").await?.1;
    ensure!(crashes.contains("serve: wasm trap"), "{crashes}");
    ensure!(
        host.log().contains("trapping as asked"),
        "the panic message is not in the log"
    );
    let archived: Value = serde_json::from_str(&host.post("/api/crash/archive-all").await?.1)?;
    ensure!(archived["archived"].as_u64() >= Some(6), "{archived}");
    let health = host.cluster("health").await?;
    ensure!(!has_check(&health, "RECENT_MGR_MODULE_CRASH"), "{health}");
    Ok(())
}

#[tokio::test]
async fn what_was_not_granted_is_denied() -> Result<()> {
    let config = "[modules.hostile]\ndata_dir = true\n";
    let host = Host::start(&["hostile"], Some(config), &[]).await?;
    let expect_denied = |what: &'static str, answer: (u16, Value)| -> Result<String> {
        let (code, v) = answer;
        ensure!(code == 200 && v["retval"] != 0, "{what} was allowed: {v}");
        Ok(v["stderr"].as_str().unwrap_or_default().to_string())
    };
    let read = expect_denied(
        "reading /etc/hostname",
        host.command("hostile", "hostile read-file /etc/hostname")
            .await?,
    )?;
    ensure!(read.starts_with("reading:"), "{read}");
    let port = host.base.rsplit(':').next().unwrap_or("7000").to_string();
    let connect = expect_denied(
        "a socket",
        host.command("hostile", &format!("hostile connect 127.0.0.1:{port}"))
            .await?,
    )?;
    ensure!(connect.starts_with("connecting:"), "{connect}");
    let out = expect_denied(
        "osd out",
        host.command("hostile", "hostile osd-out 1").await?,
    )?;
    ensure!(
        out.contains("Denied") && out.contains("not granted"),
        "{out}"
    );
    let map = host.cluster("osd_map").await?;
    ensure!(map["osds"][1]["in"] == 1, "osd.1 was marked out");
    let env = host.command_ok("hostile", "hostile env").await?;
    ensure!(
        env == "0 variables, 0 arguments",
        "the host's environment leaked: {env}"
    );
    // The data folder it was granted works, and is where the operator expects it.
    let back = host
        .command_ok("hostile", "hostile write-data kept")
        .await?;
    ensure!(back == "kept", "{back}");
    let on_host = std::fs::read_to_string(host.dir.path().join("state/data/hostile/note.txt"))?;
    ensure!(on_host == "kept", "{on_host}");
    Ok(())
}

#[tokio::test]
async fn the_api_needs_its_token_to_change_anything() -> Result<()> {
    let host = Host::start(&["probe"], None, &[]).await?;
    let path = host.dir.path().join("state/api-token");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path)?.permissions());
    ensure!(mode & 0o777 == 0o600, "token file mode {mode:o}");
    let anonymous = reqwest::Client::new();
    // Reading is open on loopback.
    let r = anonymous.get(host.url("/api/modules")).send().await?;
    ensure!(r.status() == 200);
    // Changing is not.
    for path in [
        "/api/modules/probe/disable",
        "/api/modules/probe/command",
        "/api/ceph",
    ] {
        let r = anonymous
            .post(host.url(path))
            .json(&serde_json::json!({"words": ["osd", "down", "1"]}))
            .send()
            .await?;
        ensure!(r.status() == 401, "{path}: {}", r.status());
        let text = r.text().await?;
        ensure!(text.contains("API token"), "{text}");
    }
    let wrong = anonymous
        .post(host.url("/api/modules/probe/disable"))
        .bearer_auth("0".repeat(64))
        .send()
        .await?;
    ensure!(wrong.status() == 401);
    ensure!(host.module("probe").await?["state"] == "running");
    // With the token it works.
    let (code, _) = host.module_op("probe", "disable").await?;
    ensure!(code == 200);
    Ok(())
}

#[tokio::test]
async fn an_open_api_on_the_network_is_refused() -> Result<()> {
    let bin = wasm_mgr_tests::target_dir().join("release/wasm-mgr");
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("modules"))?;
    let out = std::process::Command::new(bin)
        .args(["serve", "--no-auth", "--http", "0.0.0.0:0", "--modules"])
        .arg(dir.path().join("modules"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()?;
    ensure!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        err.contains("refusing to serve the API on 0.0.0.0:0 without authentication"),
        "{err}"
    );
    // On the network with its token, reading needs the token too.
    let port = std::net::TcpListener::bind("0.0.0.0:0")?
        .local_addr()?
        .port();
    let mut child =
        std::process::Command::new(wasm_mgr_tests::target_dir().join("release/wasm-mgr"))
            .args(["serve", "--http", &format!("0.0.0.0:{port}"), "--modules"])
            .arg(dir.path().join("modules"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .stderr(std::process::Stdio::null())
            .spawn()?;
    let url = format!("http://127.0.0.1:{port}/api/modules");
    let started = Instant::now();
    let status = loop {
        if let Ok(r) = reqwest::get(&url).await {
            break r.status();
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            anyhow::bail!("the host did not answer on 0.0.0.0:{port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let token = std::fs::read_to_string(dir.path().join("state/api-token"))?;
    let with_token = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token.trim())
        .send()
        .await?
        .status();
    let _ = child.kill();
    let _ = child.wait();
    ensure!(status == 401, "without the token: {status}");
    ensure!(with_token == 200, "with the token: {with_token}");
    Ok(())
}

#[tokio::test]
async fn malformed_input_gets_a_clear_answer_and_the_host_runs_on() -> Result<()> {
    let host = Host::start(&["probe"], None, &[]).await?;
    let client = reqwest::Client::new();
    // A header far over any sane size.
    let huge = client
        .get(host.url("/api/modules"))
        .header("x-huge", "a".repeat(1 << 20))
        .send()
        .await;
    match huge {
        Ok(r) => ensure!(
            r.status().is_client_error(),
            "a 1 MiB header got {}",
            r.status()
        ),
        Err(e) => ensure!(e.is_request() || e.is_connect() || e.is_body(), "{e}"),
    }
    // A body that is not UTF-8, to the command API (with the token).
    let token = host.token()?;
    let r = client
        .post(host.url("/api/modules/probe/command"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await?;
    ensure!(r.status() == 400, "{}", r.status());
    // A command's words that are not valid for it.
    let (code, v) = host.command("probe", "probe store set").await?;
    ensure!(code == 400 && v["error"].as_str().is_some(), "{code} {v}");
    // A module route with a body over the limit, and one to an unknown module.
    let r = client
        .post(host.url("/modules/probe/echo"))
        .body(vec![0u8; 5 << 20])
        .send()
        .await?;
    ensure!(r.status() == 413, "{}", r.status());
    let (code, _) = host.get("/modules/nope/x").await?;
    ensure!(code == 404);
    // After all that, everything still answers.
    host.command_ok("probe", "probe epoch").await?;
    Ok(())
}

#[tokio::test]
async fn a_config_with_wrong_types_is_refused_with_the_reason() -> Result<()> {
    let bin = wasm_mgr_tests::target_dir().join("release/wasm-mgr");
    for (config, expect) in [
        (
            "[host]\nmemory_limit = true\n",
            "memory_limit: `true` is not a size",
        ),
        ("[modules.probe]\nlisten = 5\n", "listen"),
        ("[modules.probe]\nno_such_key = 1\n", "no_such_key"),
    ] {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("modules"))?;
        std::fs::write(dir.path().join("config.toml"), config)?;
        let out = std::process::Command::new(&bin)
            .args(["serve", "--http", "127.0.0.1:0", "--modules"])
            .arg(dir.path().join("modules"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(!out.status.success(), "{config} was accepted");
        ensure!(err.contains(expect), "{config}: {err}");
    }
    // A module's own wrong option keeps that module down, and the host up.
    let config = "[modules.probe.options]\nratio = \"lots\"\n";
    let host = Host::start(&["probe", "status"], Some(config), &[]).await?;
    let rows = host.modules().await?;
    let failed = rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["state"] == "failed")
        .cloned()
        .context("probe should have failed")?;
    ensure!(
        failed["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("ratio"),
        "{failed}"
    );
    host.command_ok("status", "osd status").await?;
    Ok(())
}

/// A one-request-at-a-time HTTP server on loopback answering 200; counts requests.
fn tiny_server() -> Result<(u16, std::sync::Arc<std::sync::atomic::AtomicU64>)> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    Ok((port, hits))
}

#[tokio::test]
async fn outbound_http_goes_only_to_the_named_hosts() -> Result<()> {
    let (allowed, allowed_hits) = tiny_server()?;
    let (other, other_hits) = tiny_server()?;
    let config = format!("[modules.hostile]\nhttp_hosts = [\"127.0.0.1:{allowed}\"]\n");
    let host = Host::start(&["hostile"], Some(&config), &[]).await?;
    let ok = host
        .command_ok(
            "hostile",
            &format!("hostile http-get http://127.0.0.1:{allowed}/write"),
        )
        .await?;
    ensure!(ok == "status 200", "{ok}");
    ensure!(allowed_hits.load(std::sync::atomic::Ordering::Relaxed) == 1);
    let (code, v) = host
        .command(
            "hostile",
            &format!("hostile http-get http://127.0.0.1:{other}/write"),
        )
        .await?;
    ensure!(code == 200 && v["retval"] != 0, "{v}");
    ensure!(
        v["stderr"]
            .as_str()
            .unwrap_or("")
            .contains("HttpRequestDenied"),
        "{v}"
    );
    ensure!(
        other_hits.load(std::sync::atomic::Ordering::Relaxed) == 0,
        "the request went out"
    );
    ensure!(
        host.log()
            .contains(&format!("denied an HTTP request to 127.0.0.1:{other}")),
        "{}",
        host.log()
    );
    Ok(())
}
