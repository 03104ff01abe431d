//! The limits of every HTTP listener, through the real binary: half-open
//! connections are cut after the header timeout and capped per listener and per
//! client while the API and a neighbour module keep answering, and clients that
//! ask for large answers without reading them cost the host little memory.
//!
//! Attackers connect from other loopback addresses (127.0.0.2, ...), so that they
//! count as other clients than the harness (127.0.0.1).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wasm_mgr_tests::{Host, percentile, rss_mib};

/// The header timeout the tests configure.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Neighbour latency bound during an attack (2 cores, other work on the machine).
const NEIGHBOUR_P99: Duration = Duration::from_millis(300);

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A connection to `to` from loopback address `127.0.0.<client>`.
async fn connect_from(client: u8, to: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, client], 0)))?;
    Ok(socket.connect(to).await?)
}

/// Whether the host still holds `stream` open without answering: nothing has
/// arrived (a refused connection is told 503 and closed at once).
fn held(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 512];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Opens `per_client` half-open connections from each of `clients` to `to`; every
/// other one sends a partial request head. Returns those the host holds and the
/// number it refused.
async fn half_open(
    to: SocketAddr,
    clients: std::ops::RangeInclusive<u8>,
    per_client: usize,
) -> Result<(Vec<TcpStream>, usize)> {
    let mut all = Vec::new();
    for client in clients {
        for i in 0..per_client {
            let mut s = connect_from(client, to).await?;
            if i % 2 == 1 {
                s.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n").await?;
            }
            all.push(s);
        }
    }
    // Give the host time to accept (or refuse) every connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut kept, mut refused) = (Vec::new(), 0);
    for s in all {
        if held(&s) {
            kept.push(s);
        } else {
            refused += 1;
        }
    }
    Ok((kept, refused))
}

/// Waits until the host has closed every connection in `streams`; returns when
/// the last one ended, or fails past `limit`.
async fn all_closed(streams: Vec<TcpStream>, limit: Duration) -> Result<Duration> {
    let started = Instant::now();
    let mut last = Duration::ZERO;
    for mut s in streams {
        let left = limit.saturating_sub(started.elapsed());
        let mut buf = [0u8; 512];
        tokio::time::timeout(left, s.read(&mut buf))
            .await
            .with_context(|| format!("a half-open connection still open after {limit:?}"))?
            .ok();
        last = started.elapsed();
    }
    Ok(last)
}

#[tokio::test]
async fn half_open_connections_are_cut_and_capped_while_neighbours_answer() -> Result<()> {
    let (probe_port, status_port) = (free_port()?, free_port()?);
    let config = format!(
        "[host]\nhttp_header_timeout = {}\napi_max_connections_per_client = 16\n\
         [modules.probe]\nlisten = \"127.0.0.1:{probe_port}\"\nhttp_max_connections = 64\n\
         http_max_connections_per_client = 16\n\
         [modules.status]\nlisten = \"127.0.0.1:{status_port}\"\n",
        HEADER_TIMEOUT.as_secs()
    );
    let host = Host::start(&["probe", "status"], Some(&config), &[]).await?;
    let probe: SocketAddr = ([127, 0, 0, 1], probe_port).into();
    let api: SocketAddr = host.base.trim_start_matches("http://").parse()?;
    let status_url = format!("http://127.0.0.1:{status_port}/osd");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    assert_eq!(client.get(&status_url).send().await?.status(), 200);
    let fds_before = std::fs::read_dir(format!("/proc/{}/fd", host.pid().unwrap()))?.count();

    // 10 clients x 20 connections at the module's listener: 16 per client, 64 in all.
    let attack_started = Instant::now();
    let (probe_held, probe_refused) = half_open(probe, 2..=11, 20).await?;
    // One client x 24 at the API: 16 held.
    let (api_held, api_refused) = half_open(api, 12..=12, 24).await?;
    assert_eq!(probe_held.len(), 64, "the module listener holds its cap");
    assert_eq!(probe_refused, 200 - 64);
    assert_eq!(api_held.len(), 16, "the API holds its per-client cap");
    assert_eq!(api_refused, 24 - 16);
    let fds_during = std::fs::read_dir(format!("/proc/{}/fd", host.pid().unwrap()))?.count();
    // A new client gets nothing from the saturated listener...
    let late = connect_from(13, probe).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held(&late), "a connection past the cap is refused");
    let set_up = attack_started.elapsed();
    ensure!(
        set_up < HEADER_TIMEOUT - Duration::from_secs(2),
        "the attack took {set_up:?} to set up"
    );

    // ...while the API, a neighbour module's command and its listener answer.
    let mut samples = Vec::new();
    while attack_started.elapsed() < HEADER_TIMEOUT - Duration::from_millis(500) {
        let t = Instant::now();
        host.command_ok("status", "osd status").await?;
        samples.push(t.elapsed());
        let t = Instant::now();
        let resp = client.get(&status_url).send().await?;
        assert_eq!(resp.status(), 200);
        resp.bytes().await?;
        samples.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(host.get("/api/modules").await?.0, 200);
        samples.push(t.elapsed());
    }
    samples.sort();
    let p99 = percentile(&samples, 0.99);
    eprintln!(
        "attack: {} held + {probe_refused} refused at the module listener, {} held + \
         {api_refused} refused at the API; host fds {fds_before} -> {fds_during}; \
         neighbour p50 {:?} p99 {p99:?} over {} requests (attack set up in {set_up:?})",
        probe_held.len(),
        api_held.len(),
        percentile(&samples, 0.5),
        samples.len()
    );
    ensure!(samples.len() >= 20, "only {} samples", samples.len());
    ensure!(
        p99 < NEIGHBOUR_P99,
        "neighbour p99 {p99:?} over {NEIGHBOUR_P99:?}"
    );

    // Every half-open connection is closed after the header timeout.
    let mut held_all = probe_held;
    held_all.extend(api_held);
    let limit = HEADER_TIMEOUT + Duration::from_secs(3);
    let since = attack_started.elapsed();
    let closed = all_closed(held_all, limit.saturating_sub(since)).await? + since;
    eprintln!("half-open connections closed {closed:?} after the attack began");
    ensure!(closed >= HEADER_TIMEOUT - Duration::from_millis(500));
    // And the listener takes new connections again.
    let body = client
        .get(format!("http://127.0.0.1:{probe_port}/hello"))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(body, "hello");
    Ok(())
}

/// Sends `requests` pipelined copies of `GET path` from `127.0.0.<client>` and
/// never reads the answers.
async fn non_reader(to: SocketAddr, client: u8, path: &str, requests: usize) -> Result<TcpStream> {
    let mut s = connect_from(client, to).await?;
    let one = format!("GET {path} HTTP/1.1\r\nhost: x\r\naccept-encoding: identity\r\n\r\n");
    s.write_all(one.repeat(requests).as_bytes()).await?;
    Ok(s)
}

/// Reads what the host sent on `s` until it closes the connection (or `limit`):
/// bytes received.
async fn drain(mut s: TcpStream, limit: Duration) -> Result<usize> {
    let started = Instant::now();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => anyhow::bail!("the host kept a stalled connection past {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(total),
            Ok(Ok(n)) => total += n,
        }
    }
}

#[tokio::test]
async fn clients_that_do_not_read_large_answers_cost_the_host_little() -> Result<()> {
    let port = free_port()?;
    let send_timeout = Duration::from_secs(3);
    let config = format!(
        "[host]\nhttp_send_timeout = {}\nhttp_header_timeout = {}\n\
         [modules.probe]\nlisten = \"127.0.0.1:{port}\"\n",
        send_timeout.as_secs(),
        HEADER_TIMEOUT.as_secs()
    );
    let host = Host::start(&["probe"], Some(&config), &["--pgs", "8192"]).await?;
    let pid = host.pid().unwrap();
    let page_size = 3 << 20;
    let dict = json!({"prefix": "probe publish", "path": "/big", "text": "x".repeat(page_size)});
    let (status, v) = host
        .post_json("/api/modules/probe/command", &json!({ "command": dict }))
        .await?;
    ensure!(status == 200 && v.contains("published"), "{status} {v}");
    let pg_dump = host.get("/api/cluster/pg_dump").await?.1.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_mib(pid)?;

    // 96 clients (12 addresses x 8) each pipeline 4 requests for the published
    // 3 MiB page on the module's listener; 24 more pipeline 4 pg_dumps (made per
    // request) at the API. Nobody reads.
    let listener: SocketAddr = ([127, 0, 0, 1], port).into();
    let api: SocketAddr = host.base.trim_start_matches("http://").parse()?;
    let started = Instant::now();
    let mut stalled = Vec::new();
    for client in 2..=13u8 {
        for _ in 0..8 {
            stalled.push(non_reader(listener, client, "/big", 4).await?);
        }
    }
    for client in 14..=16u8 {
        for _ in 0..8 {
            stalled.push(non_reader(api, client, "/api/cluster/pg_dump", 4).await?);
        }
    }
    let unbounded_mib = (96 * 4 * page_size + 24 * 4 * pg_dump) as f64 / (1 << 20) as f64;
    let mut peak = baseline;
    // Meanwhile a reading client is served.
    let mut busy = 0;
    while started.elapsed() < send_timeout - Duration::from_millis(500) {
        peak = peak.max(rss_mib(pid)?);
        let (status, body) = host.get("/modules/probe/big").await?;
        assert_eq!((status, body.len()), (200, page_size));
        let (status, _) = host.get("/api/cluster/pg_dump").await?;
        assert!(status == 200 || status == 503, "{status}");
        busy += usize::from(status == 503);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Stalled clients are dropped after the send timeout (those whose answers were
    // all small 503s after the header timeout, idle): each got only what fit in the
    // socket buffers, not its 12 MiB.
    while started.elapsed() < send_timeout + Duration::from_secs(2) {
        peak = peak.max(rss_mib(pid)?);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut received = 0;
    for s in stalled {
        received += drain(s, HEADER_TIMEOUT + Duration::from_secs(3)).await?;
    }
    peak = peak.max(rss_mib(pid)?);
    let bound = baseline + 64.0 + 4.0 * pg_dump as f64 / (1 << 20) as f64 + 48.0;
    eprintln!(
        "non-readers: 96 x 4 x {} MiB page + 24 x 4 x {:.1} MiB pg_dump ({unbounded_mib:.0} MiB \
         if each were held); host RSS {baseline:.1} MiB -> peak {peak:.1} MiB (bound \
         {bound:.0}); {busy} pg_dump answers 503 to the reader; {:.0} MiB reached the \
         stalled clients before {:?}",
        page_size >> 20,
        pg_dump as f64 / (1 << 20) as f64,
        received as f64 / (1 << 20) as f64,
        started.elapsed()
    );
    ensure!(
        peak < bound,
        "host RSS peak {peak:.1} MiB over {bound:.0} MiB"
    );
    ensure!(
        (received as f64) < unbounded_mib * (1 << 20) as f64 / 2.0,
        "stalled clients were dropped"
    );
    // And the listener is free again.
    let body = reqwest::get(format!("http://127.0.0.1:{port}/hello"))
        .await?
        .text()
        .await?;
    assert_eq!(body, "hello");
    Ok(())
}
