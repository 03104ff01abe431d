//! `make bench`: the prometheus module on the simulated cluster at 100, 1,000 and
//! 10,000 OSDs: scrape latency with 4 concurrent scrapers (plain and gzip, as
//! Prometheus asks), page size, collection time, and host RSS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasm_mgr_tests::percentile;

const SCRAPERS: usize = 4;
const SCRAPES_EACH: usize = 50;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `wasm-mgr serve` with the prometheus module; killed on drop.
struct Server {
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(osds: u32, port: u16) -> Result<Server> {
    let dir =
        std::env::temp_dir().join(format!("wasm-mgr-prom-bench-{}-{osds}", std::process::id()));
    std::fs::create_dir_all(dir.join("modules"))?;
    std::fs::copy(
        workspace().join("target/modules/prometheus.wasm"),
        dir.join("modules/prometheus.wasm"),
    )
    .context("target/modules/prometheus.wasm: run `make build`")?;
    let hosts = (osds / 20).max(1);
    let pgs = u64::from(osds) * 100;
    let child = Command::new(workspace().join("target/release/wasm-mgr"))
        .arg("serve")
        .arg("--modules")
        .arg(dir.join("modules"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--http")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--osds", &osds.to_string(), "--hosts", &hosts.to_string()])
        .args(["--pgs", &pgs.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Server { child, dir })
}

fn rss_mib(pid: u32) -> f64 {
    wasm_mgr_tests::rss_mib(pid).unwrap_or(0.0)
}

/// Mean duration of a whole collection: the per-step sums added up, divided by the
/// number of collections (the count of any one step).
fn collect_seconds(page: &str) -> Option<f64> {
    let values = |name: &str| -> Vec<f64> {
        page.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .collect()
    };
    let sum: f64 = values("ceph_prometheus_collect_duration_seconds_sum")
        .iter()
        .sum();
    let count = values("ceph_prometheus_collect_duration_seconds_count")
        .into_iter()
        .fold(0.0, f64::max);
    (count > 0.0).then(|| sum / count)
}

/// `SCRAPERS` concurrent scrapers, `SCRAPES_EACH` scrapes each, with or without
/// `accept-encoding: gzip`; the latencies, sorted, and the bytes of one answer.
async fn scrape_round(
    client: &reqwest::Client,
    url: &str,
    gzip: bool,
) -> Result<(Vec<Duration>, usize)> {
    let mut tasks = Vec::new();
    for _ in 0..SCRAPERS {
        let client = client.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(SCRAPES_EACH);
            for _ in 0..SCRAPES_EACH {
                let t0 = Instant::now();
                let mut req = client.get(&url);
                if gzip {
                    req = req.header("accept-encoding", "gzip");
                }
                let resp = req.send().await?;
                anyhow::ensure!(
                    resp.status().is_success(),
                    "scrape failed: {}",
                    resp.status()
                );
                let len = resp.bytes().await?.len();
                samples.push((t0.elapsed(), len));
            }
            Ok::<_, anyhow::Error>(samples)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let bytes = all.last().map(|s| s.1).unwrap_or(0);
    let mut samples: Vec<Duration> = all.into_iter().map(|s| s.0).collect();
    samples.sort();
    Ok((samples, bytes))
}

async fn bench(osds: u32) -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let server = start(osds, port)?;
    let url = format!("http://127.0.0.1:{port}/modules/prometheus/metrics");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let first = loop {
        if let Ok(resp) = client.get(&url).send().await
            && resp.status().is_success()
        {
            break resp.text().await?;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("no page within 120 s at {osds} OSDs");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ready = started.elapsed();
    // Let the compressed copy of the page be made before timing gzip scrapes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (plain, bytes_plain) = scrape_round(&client, &url, false).await?;
    let (gzip, bytes_gzip) = scrape_round(&client, &url, true).await?;
    let last = client.get(&url).send().await?.text().await?;
    let pgs = u64::from(osds) * 100;
    for (what, samples, bytes) in [("plain", plain, bytes_plain), ("gzip", gzip, bytes_gzip)] {
        println!(
            "prometheus {osds:>6} OSDs {pgs:>8} PGs  {what:<5} scrape p50={:>9.3?} p99={:>9.3?} ({} scrapes, {SCRAPERS} concurrent), {:.2} MiB each",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            samples.len(),
            bytes as f64 / (1024.0 * 1024.0),
        );
    }
    println!(
        "prometheus {osds:>6} OSDs {pgs:>8} PGs  page {:.2} MiB, mean collection {:.1} ms, first page {:.2?} after start, host RSS {:.1} MiB",
        first.len() as f64 / (1024.0 * 1024.0),
        collect_seconds(&last).unwrap_or(f64::NAN) * 1000.0,
        ready,
        rss_mib(server.child.id()),
    );
    Ok(())
}

fn main() -> Result<()> {
    println!(
        "machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let rt = tokio::runtime::Runtime::new()?;
    for osds in [100, 1_000, 10_000] {
        rt.block_on(bench(osds))?;
    }
    Ok(())
}
