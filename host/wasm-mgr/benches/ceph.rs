//! `make bench-ceph`: wasm-mgr beside the real ceph-mgr on one real cluster
//! (`tests/ceph/cluster.sh`: 1 mon, 1 mgr, 3 OSDs on memstore). wasm-mgr runs the
//! prometheus and status modules; ceph-mgr runs its default modules plus prometheus.
//! Both follow the same cluster at the same time. Printed: RSS, CPU time per minute
//! while idle (no scrapes), and scrape latency p50/p99 of each prometheus endpoint.
//!
//! `BENCH_IDLE_SECS` (default 60) sets the idle window, `BENCH_SCRAPES` (default 200)
//! the sequential scrapes per endpoint.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasm_mgr_tests::{env_number, percentile, proc_status};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The test cluster; its daemons are stopped on drop.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    fn script(&self, action: &str) -> Result<()> {
        let status = Command::new("bash")
            .arg(workspace().join("tests/ceph/cluster.sh"))
            .arg(action)
            .arg(&self.dir)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("cluster.sh {action} failed");
        }
        Ok(())
    }

    fn mgr_pid(&self) -> Result<u32> {
        Ok(std::fs::read_to_string(self.dir.join("run/mgr.x.pid"))?
            .trim()
            .parse()?)
    }

    fn prometheus_port(&self) -> Result<u16> {
        Ok(std::fs::read_to_string(self.dir.join("prometheus-port"))?
            .trim()
            .parse()?)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `wasm-mgr serve` against the cluster; killed on drop.
struct Host {
    child: Child,
    dir: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_host(cluster: &Cluster, port: u16, state: &Path) -> Result<Host> {
    let dir = std::env::temp_dir().join(format!("wasm-mgr-ceph-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("modules"))?;
    for m in ["prometheus", "status"] {
        std::fs::copy(
            workspace().join(format!("target/modules/{m}.wasm")),
            dir.join(format!("modules/{m}.wasm")),
        )
        .with_context(|| format!("target/modules/{m}.wasm: run `make build`"))?;
    }
    let child = Command::new(workspace().join("target/release/wasm-mgr"))
        .arg("serve")
        .arg("--modules")
        .arg(dir.join("modules"))
        .arg("--state-dir")
        .arg(state)
        .arg("--http")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--cluster", "ceph", "--ceph-conf"])
        .arg(cluster.dir.join("ceph.conf"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting target/release/wasm-mgr")?;
    Ok(Host { child, dir })
}

/// (RSS, anonymous RSS in MiB, threads) of a process. The rest of RSS is mapped
/// files, mostly Ceph's shared libraries.
fn rss(pid: u32) -> Result<(f64, f64, u64)> {
    Ok((
        proc_status(pid, "VmRSS:")? as f64 / 1024.0,
        proc_status(pid, "RssAnon:")? as f64 / 1024.0,
        proc_status(pid, "Threads:")?,
    ))
}

/// CPU time (user + system) a process used so far.
fn cpu(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_millis(ticks * 1000 / hz))
}

async fn wait_for_page(client: &reqwest::Client, url: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
            && let Ok(page) = r.text().await
            && page.contains("ceph_osd_op_r{")
            && page.contains("ceph_paxos_")
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("{url} did not show perf counters within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn scrapes(client: &reqwest::Client, url: &str, n: u64) -> Result<(Vec<Duration>, usize)> {
    let mut samples = Vec::new();
    let mut size = 0;
    for _ in 0..n {
        let t0 = Instant::now();
        let page = client
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        samples.push(t0.elapsed());
        size = page.len();
    }
    samples.sort();
    Ok((samples, size))
}

async fn bench() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("wasm-mgr-bench-cluster-{}", std::process::id()));
    let cluster = Cluster { dir };
    let t0 = Instant::now();
    cluster.script("start")?;
    println!("test cluster up in {:.1?}", t0.elapsed());
    let port = free_port()?;
    let ours = format!("http://127.0.0.1:{port}/modules/prometheus/metrics");
    let theirs = format!("http://127.0.0.1:{}/metrics", cluster.prometheus_port()?);
    let client = reqwest::Client::new();
    // A first start compiles the modules into the state folder; measure a restart,
    // as an operator's host runs.
    let state =
        std::env::temp_dir().join(format!("wasm-mgr-ceph-bench-state-{}", std::process::id()));
    let host = start_host(&cluster, port, &state)?;
    wait_for_page(&client, &ours).await?;
    drop(host);
    let host = start_host(&cluster, port, &state)?;
    wait_for_page(&client, &ours).await?;
    wait_for_page(&client, &theirs).await?;
    let pids = [
        ("wasm-mgr", host.child.id()),
        ("ceph-mgr", cluster.mgr_pid()?),
    ];

    let idle = Duration::from_secs(env_number("BENCH_IDLE_SECS", 60));
    let before: Vec<Duration> = pids.iter().map(|(_, p)| cpu(*p)).collect::<Result<_>>()?;
    tokio::time::sleep(idle).await;
    for ((name, pid), before) in pids.iter().zip(before) {
        let used = cpu(*pid)?.saturating_sub(before);
        let per_minute = used.as_secs_f64() * 60.0 / idle.as_secs_f64();
        let (mib, anon, threads) = rss(*pid)?;
        println!(
            "{name:<9} idle {:>4.0} s: CPU {per_minute:>6.2} s per minute ({:>5.2} % of a core), \
             RSS {mib:>6.1} MiB ({anon:.1} MiB anonymous), {threads} threads",
            idle.as_secs_f64(),
            per_minute / 60.0 * 100.0
        );
    }

    let n = env_number("BENCH_SCRAPES", 200);
    for ((name, pid), url) in pids.iter().zip([&ours, &theirs]) {
        let (samples, size) = scrapes(&client, url, n).await?;
        let (mib, _, _) = rss(*pid)?;
        println!(
            "{name:<9} scrape ({size} bytes) n={n}: p50={:>8.3?} p99={:>8.3?} max={:>8.3?}, \
             RSS after {mib:.1} MiB",
            percentile(&samples, 0.50),
            percentile(&samples, 0.99),
            samples[samples.len() - 1]
        );
    }
    // What an operator's `ceph mgr module enable|disable` costs ceph-mgr's endpoint:
    // the daemon respawns, and its prometheus module answers again only after.
    for action in ["disable", "enable"] {
        let outage = ceph_mgr_outage(&cluster, &client, &theirs, action).await?;
        println!(
            "ceph-mgr  `ceph mgr module {action} iostat`: prometheus endpoint down for {outage:.2?}"
        );
    }
    drop(host);
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

/// Scrapes `url` every 10 ms while `ceph mgr module <action> iostat` runs; returns
/// how long the endpoint did not answer (from the first failed scrape to the next
/// good one).
async fn ceph_mgr_outage(
    cluster: &Cluster,
    client: &reqwest::Client,
    url: &str,
    action: &str,
) -> Result<Duration> {
    let status = Command::new("ceph")
        .arg("-c")
        .arg(cluster.dir.join("ceph.conf"))
        .args(["mgr", "module", action, "iostat"])
        .status()?;
    if !status.success() {
        bail!("ceph mgr module {action} iostat failed");
    }
    let issued = Instant::now();
    let mut down_since: Option<Instant> = None;
    loop {
        let ok = match client.get(url).timeout(Duration::from_secs(2)).send().await {
            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        match (ok, down_since) {
            (false, None) => down_since = Some(Instant::now()),
            (true, Some(since)) => return Ok(since.elapsed()),
            // Still answering: the respawn has not begun yet (give it 10 s).
            (true, None) if issued.elapsed() > Duration::from_secs(10) => {
                return Ok(Duration::ZERO);
            }
            _ => {}
        }
        if issued.elapsed() > Duration::from_secs(120) {
            bail!("ceph-mgr's endpoint did not come back within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn main() -> Result<()> {
    if Command::new("ceph-mon").arg("--version").output().is_err() {
        bail!("Ceph is not installed: `make ceph-tools` installs Debian's packages");
    }
    tokio::runtime::Runtime::new()?.block_on(bench())
}
