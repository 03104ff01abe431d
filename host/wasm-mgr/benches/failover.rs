//! Failover time: from `kill -9` of the active host to the first good prometheus
//! scrape on the new one, p50/p99 over `FAILOVER_RUNS` runs (default 20), for
//! wasm-mgr's two lease backends (a shared folder with the simulated cluster, a
//! RADOS lock on a real test cluster) with the default 3 s lease, and the same
//! after SIGTERM and after `wasm-mgr step-down` (the lease handed over); and, on
//! the same
//! cluster, ceph-mgr's own failover after `ceph mgr fail` and after `kill -9` of the
//! active ceph-mgr (`CEPH_MGR_KILL_RUNS`, default 5: each waits out the monitors'
//! 30 s beacon grace).
//!
//! `make bench-ha`. Needs `make build build-test-modules` and Ceph (`make ceph-tools`).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use wasm_mgr_tests::{CephCluster, Host, env_number, percentile};

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!(
        "{what:<40} p50 {}  p99 {}  min {}  max {}  ({} runs)",
        secs(percentile(&times, 0.5)),
        secs(percentile(&times, 0.99)),
        secs(times[0]),
        secs(times[times.len() - 1]),
        times.len()
    );
}

/// Waits until `url` answers 200 with a page holding `needle`; how long since
/// `start`.
async fn good_scrape(
    client: &reqwest::Client,
    url: &str,
    needle: &str,
    start: Instant,
) -> Result<Duration> {
    while start.elapsed() < Duration::from_secs(120) {
        if let Ok(r) = client.get(url).send().await
            && r.status() == 200
            && r.text().await.is_ok_and(|t| t.contains(needle))
        {
            return Ok(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("{url} gave no good page within 120 s")
}

/// A scraping client that gives up on a silent endpoint after 1 s.
fn scraper() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()?)
}

/// A spread of kill moments over one renewal period, the same in every backend.
fn spread(run: usize) -> Duration {
    Duration::from_millis((run as u64 * 389) % 1000)
}

/// How the active host goes away.
#[derive(Clone, Copy)]
enum Stop {
    /// `kill -9`: a standby waits for the lease to expire.
    Kill,
    /// SIGTERM: the host hands the lease over as it shuts down.
    Term,
    /// `wasm-mgr step-down`: the host hands the lease over and stays a standby.
    StepDown,
}

async fn wasm_mgr_failovers(place: &[String], stop: Stop, runs: usize) -> Result<Vec<Duration>> {
    let mut hosts = Vec::new();
    for id in ["a", "b"] {
        let mut extra: Vec<&str> = place.iter().map(String::as_str).collect();
        extra.extend(["--id", id]);
        hosts.push(Host::start(&["prometheus"], None, &extra).await?);
    }
    let client = scraper()?;
    let mut times = Vec::new();
    for run in 0..runs {
        // Both ready: one active and serving, the other a standby that knows it.
        let start = Instant::now();
        let active = loop {
            let mut found = None;
            for (i, h) in hosts.iter().enumerate() {
                let Ok(status) = h.status().await else {
                    continue;
                };
                if status["role"] == "active"
                    && h.module("prometheus")
                        .await
                        .is_ok_and(|m| m["state"] == "running")
                    && hosts[1 - i]
                        .status()
                        .await
                        .is_ok_and(|s| s["role"] == "standby" && s["active"]["id"] == status["id"])
                {
                    found = Some(i);
                }
            }
            if let Some(i) = found {
                break i;
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("no active host with a ready standby");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(spread(run)).await;
        let gone = Instant::now();
        match stop {
            Stop::Kill => hosts[active].kill()?,
            Stop::Term => hosts[active].signal("TERM")?,
            Stop::StepDown => {
                let (code, body) = hosts[active].post("/api/step-down").await?;
                anyhow::ensure!(code == 200, "step-down: {code} {body}");
            }
        }
        let url = hosts[1 - active].url("/modules/prometheus/metrics");
        times.push(good_scrape(&client, &url, "ceph_health_status", gone).await?);
        if !matches!(stop, Stop::StepDown) {
            hosts[active].stop()?;
            hosts[active].start_again().await?;
        }
    }
    Ok(times)
}

fn mgr_dump(cluster: &CephCluster) -> Result<Value> {
    cluster.ceph_json(&["mgr", "dump"])
}

fn prometheus_port(cluster: &CephCluster, mgr: &str) -> Result<u16> {
    let file = if mgr == "x" {
        "prometheus-port".to_string()
    } else {
        format!("prometheus-port.{mgr}")
    };
    Ok(std::fs::read_to_string(cluster.dir.path().join(file))?
        .trim()
        .parse()?)
}

async fn ceph_mgr_failovers(
    cluster: &CephCluster,
    kill: bool,
    runs: usize,
) -> Result<Vec<Duration>> {
    let client = scraper()?;
    let mut times = Vec::new();
    for run in 0..runs {
        // Ready: an available active and the other manager as its standby.
        let start = Instant::now();
        let active = loop {
            let dump = mgr_dump(cluster)?;
            let active = dump["active_name"].as_str().unwrap_or("").to_string();
            let standby_ready = dump["standbys"].as_array().is_some_and(|s| !s.is_empty());
            if dump["available"] == true && standby_ready && !active.is_empty() {
                let url = format!(
                    "http://127.0.0.1:{}/metrics",
                    prometheus_port(cluster, &active)?
                );
                let now = Instant::now();
                if good_scrape(&client, &url, "ceph_health_status", now)
                    .await
                    .is_ok()
                {
                    break active;
                }
            }
            if start.elapsed() > Duration::from_secs(120) {
                bail!("ceph-mgr has no active with a standby: {dump}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let next = if active == "x" { "y" } else { "x" };
        let url = format!(
            "http://127.0.0.1:{}/metrics",
            prometheus_port(cluster, next)?
        );
        tokio::time::sleep(spread(run)).await;
        // From the moment the command is sent (the `ceph` CLI itself takes about
        // 0.4 s to start and connect).
        let gone = Instant::now();
        if kill {
            cluster.script("mgr-kill", &[&active])?;
        } else {
            cluster.ceph(&["mgr", "fail", &active])?;
        }
        times.push(good_scrape(&client, &url, "ceph_health_status", gone).await?);
        if kill {
            cluster.script("mgr-start", &[&active])?;
        }
    }
    Ok(times)
}

/// Reports each way of losing the active, over the lease `place` names.
async fn every_stop(backend: &str, place: &[String], runs: usize) -> Result<()> {
    for (stop, how) in [
        (Stop::Kill, "kill -9"),
        (Stop::Term, "SIGTERM"),
        (Stop::StepDown, "step-down"),
    ] {
        let times = wasm_mgr_failovers(place, stop, runs).await?;
        report(&format!("wasm-mgr, {backend}, {how}"), times);
    }
    Ok(())
}

async fn bench() -> Result<()> {
    let runs = env_number("FAILOVER_RUNS", 20);
    let kill_runs = env_number("CEPH_MGR_KILL_RUNS", 5);
    println!("failover: kill -9 of the active to the first good scrape on the new one");
    println!("wasm-mgr lease 3 s (renewed every 1 s, standbys look every 0.5 s)");

    let shared = tempfile::tempdir()?;
    let place = vec!["--ha-dir".to_string(), shared.path().display().to_string()];
    every_stop("folder lease", &place, runs).await?;

    let cluster = CephCluster::start()?;
    cluster.ceph(&["osd", "pool", "create", "wasm-mgr-ha", "8"])?;
    let mut place = cluster.host_args();
    place.extend(["--ha-pool".into(), "wasm-mgr-ha".into()]);
    every_stop("RADOS lock", &place, runs).await?;

    cluster.script("mgr-start", &["y"])?;
    report(
        "ceph-mgr, `ceph mgr fail`",
        ceph_mgr_failovers(&cluster, false, runs).await?,
    );
    let grace = cluster
        .ceph(&["config", "get", "mon", "mon_mgr_beacon_grace"])
        .context("reading mon_mgr_beacon_grace")?;
    report(
        &format!("ceph-mgr, kill -9 (beacon grace {} s)", grace.trim()),
        ceph_mgr_failovers(&cluster, true, kill_runs).await?,
    );
    Ok(())
}

fn main() -> Result<()> {
    tokio::runtime::Runtime::new()?.block_on(bench())
}
