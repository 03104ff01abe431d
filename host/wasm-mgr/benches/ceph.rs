//! `make bench-ceph`: wasm-mgr beside the real ceph-mgr on one real cluster
//! (`tests/ceph/cluster.sh`: 1 mon, 1 mgr, 3 OSDs on memstore). wasm-mgr runs the
//! prometheus, status and probe modules; ceph-mgr runs its default modules plus
//! prometheus. Both follow the same cluster at the same time. Printed:
//!
//! - the time from `ceph osd pool create` returning to the probe module's
//!   `osd-map` notify (p50/p99);
//! - CPU time per idle minute (no scrapes) and wakeups per second of wasm-mgr,
//!   of ceph-mgr, and of the monitor with and without wasm-mgr attached;
//! - RSS and threads of wasm-mgr following the cluster, and with librados loaded
//!   (an HA host over a RADOS lock);
//! - scrape latency p50/p99 of each prometheus endpoint.
//!
//! `BENCH_IDLE_SECS` (default 60) sets each idle window, `BENCH_SCRAPES` (default
//! 200) the sequential scrapes per endpoint, `BENCH_PUSHES` (default 20) the pool
//! creations. `BENCH_POLLING_BIN`, the path of a `wasm-mgr` built before the
//! protocol crate (it polled `status` through librados every second), measures
//! that host the same way, side by side.

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

fn start_host(
    bin: &Path,
    cluster: &Cluster,
    port: u16,
    state: &Path,
    extra: &[&str],
) -> Result<Host> {
    let dir =
        std::env::temp_dir().join(format!("wasm-mgr-ceph-bench-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("modules"))?;
    for m in ["modules/prometheus", "modules/status", "test-modules/probe"] {
        let name = m.rsplit('/').next().unwrap_or(m);
        std::fs::copy(
            workspace().join(format!("target/{m}.wasm")),
            dir.join(format!("modules/{name}.wasm")),
        )
        .with_context(|| format!("target/{m}.wasm: run `make build build-test-modules`"))?;
    }
    let child = Command::new(bin)
        .arg("serve")
        .arg("--modules")
        .arg(dir.join("modules"))
        .arg("--state-dir")
        .arg(state)
        .arg("--http")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--cluster", "ceph", "--ceph-conf"])
        .arg(cluster.dir.join("ceph.conf"))
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
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

/// Context switches of all of a process's threads so far (each one a wakeup or
/// a preemption).
fn switches(pid: u32) -> Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let status = std::fs::read_to_string(task?.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// CPU seconds per minute and wakeups per second of each process over an idle
/// window.
async fn idle(pids: &[(&str, u32)], window: Duration) -> Result<Vec<(f64, f64)>> {
    let before: Vec<(Duration, u64)> = pids
        .iter()
        .map(|(_, p)| Ok((cpu(*p)?, switches(*p)?)))
        .collect::<Result<_>>()?;
    tokio::time::sleep(window).await;
    let secs = window.as_secs_f64();
    pids.iter()
        .zip(before)
        .map(|((_, p), (c, w))| {
            let used = cpu(*p)?.saturating_sub(c).as_secs_f64();
            Ok((used * 60.0 / secs, (switches(*p)? - w) as f64 / secs))
        })
        .collect()
}

/// Milliseconds from `ceph osd pool create` returning to the probe's `osd-map`
/// notify for the new epoch (negative: the notify came first), sorted.
async fn push_latency(
    cluster: &Cluster,
    client: &reqwest::Client,
    base: &str,
    tag: &str,
    n: u64,
) -> Result<Vec<i64>> {
    let notifies = || async {
        let list: serde_json::Value = client
            .get(format!("{base}/modules/probe/notifies"))
            .send()
            .await?
            .json()
            .await?;
        Ok::<_, anyhow::Error>(list.as_array().cloned().unwrap_or_default())
    };
    let mut samples = Vec::new();
    for i in 0..n {
        let out = Command::new("ceph")
            .arg("-c")
            .arg(cluster.dir.join("ceph.conf"))
            .args(["osd", "pool", "create", &format!("bench_{tag}_{i}"), "4"])
            .output()?;
        let returned = now_ms();
        if !out.status.success() {
            bail!(
                "ceph osd pool create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let epoch = cluster_epoch(cluster)?;
        let started = Instant::now();
        let at = loop {
            let seen = notifies()
                .await?
                .into_iter()
                .find(|n| n["kind"] == "osd-map" && n["osd_map_epoch"].as_u64() >= Some(epoch));
            if let Some(n) = seen {
                break n["at_ms"].as_u64().unwrap_or(0);
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("no osd-map notify for epoch {epoch} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        samples.push(at as i64 - returned as i64);
    }
    samples.sort();
    Ok(samples)
}

/// p50, p99 and the extremes of sorted milliseconds.
fn spread(sorted: &[i64]) -> String {
    let at = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "p50={} ms p99={} ms (min {} ms, max {} ms; negative: before the CLI returned)",
        at(0.5),
        at(0.99),
        sorted[0],
        sorted[sorted.len() - 1]
    )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The OSD map epoch, from the CLI.
fn cluster_epoch(cluster: &Cluster) -> Result<u64> {
    let out = Command::new("ceph")
        .arg("-c")
        .arg(cluster.dir.join("ceph.conf"))
        .args(["osd", "dump", "-f", "json"])
        .output()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    v["epoch"].as_u64().context("osd dump epoch")
}

fn pid_of(cluster: &Cluster, daemon: &str) -> Result<u32> {
    Ok(
        std::fs::read_to_string(cluster.dir.join(format!("run/{daemon}.pid")))?
            .trim()
            .parse()?,
    )
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
    let base = format!("http://127.0.0.1:{port}");
    let ours = format!("{base}/modules/prometheus/metrics");
    let theirs = format!("http://127.0.0.1:{}/metrics", cluster.prometheus_port()?);
    let client = reqwest::Client::new();
    let bin = workspace().join("target/release/wasm-mgr");
    // A first start compiles the modules into the state folder; measure a restart,
    // as an operator's host runs.
    let state =
        std::env::temp_dir().join(format!("wasm-mgr-ceph-bench-state-{}", std::process::id()));
    let host = start_host(&bin, &cluster, port, &state, &[])?;
    wait_for_page(&client, &ours).await?;
    drop(host);
    let host = start_host(&bin, &cluster, port, &state, &[])?;
    wait_for_page(&client, &ours).await?;
    wait_for_page(&client, &theirs).await?;
    let mon = pid_of(&cluster, "mon.a")?;
    let mgr = cluster.mgr_pid()?;

    let pushes = env_number("BENCH_PUSHES", 20);
    let lat = push_latency(&cluster, &client, &base, "sub", pushes).await?;
    println!(
        "wasm-mgr  pool create returning -> osd-map notify (subscription), n={pushes}: {}",
        spread(&lat)
    );

    let window = Duration::from_secs(env_number("BENCH_IDLE_SECS", 60));
    let pids = [
        ("wasm-mgr", host.child.id()),
        ("ceph-mgr", mgr),
        ("ceph-mon", mon),
    ];
    let figures = idle(&pids, window).await?;
    for ((name, pid), (cpu, wakeups)) in pids.iter().zip(&figures) {
        let (mib, anon, threads) = rss(*pid)?;
        println!(
            "{name:<9} idle {:>3.0} s, wasm-mgr attached: CPU {cpu:>5.2} s per minute, \
             {wakeups:>6.1} wakeups/s, RSS {mib:>6.1} MiB ({anon:.1} MiB anonymous), {threads} threads",
            window.as_secs_f64(),
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
    drop(host);

    // The monitor and ceph-mgr with no wasm-mgr attached.
    let alone = idle(&pids[1..], window).await?;
    for ((name, _), (cpu, wakeups)) in pids[1..].iter().zip(&alone) {
        println!(
            "{name:<9} idle {:>3.0} s, no wasm-mgr:       CPU {cpu:>5.2} s per minute, \
             {wakeups:>6.1} wakeups/s",
            window.as_secs_f64()
        );
    }

    // librados loaded: an HA host over a RADOS lock.
    Command::new("ceph")
        .arg("-c")
        .arg(cluster.dir.join("ceph.conf"))
        .args(["osd", "pool", "create", "wasm_mgr_ha", "4"])
        .output()?;
    let ha_state = state.with_extension("ha");
    let host = start_host(
        &bin,
        &cluster,
        port,
        &ha_state,
        &["--id", "bench", "--ha-pool", "wasm_mgr_ha"],
    )?;
    wait_for_page(&client, &ours).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (mib, anon, threads) = rss(host.child.id())?;
    println!(
        "wasm-mgr  with librados (--ha-pool): RSS {mib:.1} MiB ({anon:.1} MiB anonymous), \
         {threads} threads"
    );
    drop(host);
    let _ = std::fs::remove_dir_all(&ha_state);

    // The polling host of before, side by side.
    if let Ok(old) = std::env::var("BENCH_POLLING_BIN") {
        let old_state = state.with_extension("polling");
        let host = start_host(Path::new(&old), &cluster, port, &old_state, &[])?;
        wait_for_page(&client, &ours).await?;
        let lat = push_latency(&cluster, &client, &base, "poll", pushes).await?;
        println!(
            "polling   pool create returning -> osd-map notify (status every 1 s), n={pushes}: {}",
            spread(&lat)
        );
        let pids = [("polling", host.child.id()), ("ceph-mon", mon)];
        let figures = idle(&pids, window).await?;
        for ((name, pid), (cpu, wakeups)) in pids.iter().zip(&figures) {
            let (mib, anon, threads) = rss(*pid)?;
            println!(
                "{name:<9} idle {:>3.0} s, polling host attached: CPU {cpu:>5.2} s per minute, \
                 {wakeups:>6.1} wakeups/s, RSS {mib:>6.1} MiB ({anon:.1} MiB anonymous), \
                 {threads} threads",
                window.as_secs_f64()
            );
        }
        drop(host);
        let _ = std::fs::remove_dir_all(&old_state);
    }

    // What an operator's `ceph mgr module enable|disable` costs ceph-mgr's endpoint:
    // the daemon respawns, and its prometheus module answers again only after.
    for action in ["disable", "enable"] {
        let outage = ceph_mgr_outage(&cluster, &client, &theirs, action).await?;
        println!(
            "ceph-mgr  `ceph mgr module {action} iostat`: prometheus endpoint down for {outage:.2?}"
        );
    }
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
