//! HTTP for modules and the host's own metrics, through the real binary.

use std::time::Duration;

use anyhow::Result;
use wasm_mgr_tests::{Host, check_exposition};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn module_routes_answer_and_every_request_gets_an_answer() -> Result<()> {
    let config = "[modules.probe]\nhttp_timeout = 1\n";
    let host = Host::start(&["probe", "status"], Some(config), &[]).await?;
    assert_eq!(
        host.get("/modules/probe/hello").await?,
        (200, "hello".into())
    );
    let (status, body) = host.get("/modules/status/osd").await?;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("OSDs"), "{body}");

    // Unknown things: 404 with a reason.
    assert_eq!(host.get("/modules/nope/x").await?.0, 404);
    assert_eq!(host.get("/modules/probe/nope").await?.0, 404);
    assert_eq!(host.get("/no/such/route").await?.0, 404);

    // Too slow: 503 with the reason, not a hang.
    let (status, body) = host.get("/modules/probe/slow?ms=5000").await?;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("did not answer"), "{body}");
    // The module still answers afterwards.
    assert_eq!(host.get("/modules/probe/hello").await?.0, 200);

    // Oversized body: 413.
    let client = reqwest::Client::new();
    let big = vec![b'x'; 5 << 20];
    let resp = client
        .post(host.url("/modules/probe/echo"))
        .body(big)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 413);
    let resp = client
        .post(host.url("/modules/probe/echo"))
        .body(vec![b'x'; 1000])
        .send()
        .await?;
    assert_eq!(resp.text().await?, "1000 bytes");
    Ok(())
}

#[tokio::test]
async fn published_pages_are_served_by_the_host() -> Result<()> {
    let host = Host::start(&["probe"], None, &[]).await?;
    assert_eq!(host.get("/modules/probe/page").await?.0, 404);
    host.command_ok("probe", "probe publish /page first")
        .await?;
    let calls = host.module("probe").await?["http_requests"].clone();
    for _ in 0..5 {
        assert_eq!(
            host.get("/modules/probe/page").await?,
            (200, "first".into())
        );
    }
    assert_eq!(
        host.module("probe").await?["http_requests"],
        calls,
        "the host answered without entering the module"
    );
    host.command_ok("probe", "probe publish /page second")
        .await?;
    assert_eq!(
        host.get("/modules/probe/page").await?,
        (200, "second".into())
    );
    // Other paths still reach handle-http.
    assert_eq!(
        host.get("/modules/probe/hello").await?,
        (200, "hello".into())
    );
    let (status, v) = host.command("probe", "probe publish no-slash x").await?;
    assert!(
        status == 200 && v["retval"] != 0,
        "a bad path is refused: {v}"
    );
    Ok(())
}

#[tokio::test]
async fn a_failing_module_answers_503_with_the_reason() -> Result<()> {
    let host = Host::start(&["crasher", "probe"], None, &[]).await?;
    // crasher traps on every OSD map change. A request that reached it just
    // before a trap is answered by the restarted instance, so the map keeps
    // changing until a request meets it down.
    let flips = std::cell::Cell::new(0u32);
    let (status, body) = host
        .wait_for(WAIT, "crasher's route to answer 503", || async {
            if flips.get().is_multiple_of(10) {
                let verb = if flips.get().is_multiple_of(20) {
                    "down"
                } else {
                    "up"
                };
                host.ceph(&format!("osd {verb} 4")).await?;
            }
            flips.set(flips.get() + 1);
            let (status, body) = host.get("/modules/crasher/anything").await?;
            Ok((status == 503).then_some((status, body)))
        })
        .await?;
    assert_eq!(status, 503);
    assert!(body.contains("not running"), "{body}");
    assert_eq!(host.get("/modules/probe/hello").await?.0, 200);
    Ok(())
}

#[tokio::test]
async fn a_module_gets_a_listener_of_its_own() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = format!("[modules.probe]\nlisten = \"127.0.0.1:{port}\"\n");
    let host = Host::start(&["probe"], Some(&config), &[]).await?;
    let body = reqwest::get(format!("http://127.0.0.1:{port}/hello"))
        .await?
        .text()
        .await?;
    assert_eq!(body, "hello");
    let resp = reqwest::get(format!("http://127.0.0.1:{port}/nope")).await?;
    assert_eq!(resp.status().as_u16(), 404);
    // The shared API still routes to it too.
    assert_eq!(host.get("/modules/probe/hello").await?.0, 200);
    Ok(())
}

#[tokio::test]
async fn host_metrics_are_valid_exposition_with_per_module_figures() -> Result<()> {
    let host = Host::start(&["probe", "crasher"], None, &[]).await?;
    host.command_ok("probe", "probe serve").await?;
    host.get("/modules/probe/hello").await?;
    host.ceph("osd down 2").await?;
    let page = host
        .wait_for(WAIT, "metrics to show the crasher restart", || async {
            let (_, page) = host.get("/metrics").await?;
            Ok(page
                .contains("wasm_mgr_module_restarts_total{module=\"crasher\"} 1")
                .then_some(page))
        })
        .await?;
    let lint = check_exposition(&page)?;
    assert!(
        lint.is_empty(),
        "our own metric names pass promtool's lint: {lint:?}"
    );
    for needle in [
        "wasm_mgr_module_state{module=\"probe\",state=\"running\"} 1",
        "wasm_mgr_module_notify_queue_depth{module=\"probe\"}",
        "wasm_mgr_module_calls_total{call=\"command\",module=\"probe\"}",
        "wasm_mgr_module_call_duration_seconds_bucket{call=\"http\",module=\"probe\"",
        "wasm_mgr_module_memory_bytes{module=\"probe\"}",
        "wasm_mgr_module_cpu_seconds_total{module=\"probe\"}",
    ] {
        assert!(page.contains(needle), "missing {needle}:\n{page}");
    }
    let memory: f64 = page
        .lines()
        .find(|l| l.starts_with("wasm_mgr_module_memory_bytes{module=\"probe\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(memory > 0.0, "probe holds some memory");
    Ok(())
}
