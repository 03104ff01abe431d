//! `make bench`: modules given as source on the shared runtimes.
//!
//! - Memory, as PSS and anonymous memory from `/proc/PID/smaps_rollup` (VmRSS
//!   counts the runtime's compiled code, mapped once, again for every instance):
//!   a host with one Python module, with 20 (Ceph 16.2.15's own iostat, status,
//!   crash, insights and progress, copied unchanged, four times each), the
//!   marginal cost of one more; the same for JavaScript (osdwatch.js).
//! - Instance start: the host's `instantiate` time of each module (instantiating
//!   the runtime and loading the module's source).
//! - Reload: from writing a changed single-file module to its new version
//!   answering a command.
//! - First start of `make run`'s host, with an empty compile cache (three runs):
//!   when the API and a Rust module answer, when the Python and JavaScript
//!   modules run, and the host's peak RSS (VmHWM) and PSS once they do.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasm_mgr_tests::{Host, install_module, percentile, proc_status, smaps_rollup, target_dir};

const CEPH_MODULES: [&str; 5] = ["iostat", "status", "crash", "insights", "progress"];
const WAIT: Duration = Duration::from_secs(240);

/// Every figure after `key` in the host's log lines that have it, in milliseconds.
fn figures_ms(log: &str, key: &str, end: char) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains(key))
        .filter_map(|l| {
            let figure = l.split(key).nth(1)?.split([end, ',']).next()?.trim();
            let (number, unit) = figure
                .find(|c: char| c.is_alphabetic() || c == 'µ')
                .map(|i| figure.split_at(i))?;
            let n: f64 = number.parse().ok()?;
            Some(match unit {
                "ms" => n,
                "s" => n * 1000.0,
                "µs" => n / 1000.0,
                _ => return None,
            })
        })
        .collect()
}

fn describe(ms: &mut [f64]) -> String {
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() {
        return "none".into();
    }
    format!(
        "min {:.1} ms, median {:.1} ms, max {:.1} ms ({} instances)",
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms.len()
    )
}

async fn settled_smaps(host: &Host) -> Result<wasm_mgr_tests::Smaps> {
    // Let the modules' first loops run and the allocator settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    smaps_rollup(host.pid().context("pid")?)
}

/// A host with `n` copies of the given module sources, every one running.
async fn host_with(sources: &[(&Path, &str)], n: usize) -> Result<Host> {
    let host = Host::start_logging(
        &[],
        None,
        &["--tick-ms", "100000"],
        "info,wasm_mgr_runtime::bindings=debug",
    )
    .await?;
    let mut names = Vec::new();
    for i in 0..n {
        let (source, base) = sources[i % sources.len()];
        let name = format!("{base}{i}");
        install_module(source, &host.modules_dir(), &name)?;
        names.push(name);
    }
    for name in &names {
        host.wait_running(name, WAIT).await?;
    }
    Ok(host)
}

async fn memory(language: &str, sources: &[(&Path, &str)]) -> Result<()> {
    let empty = Host::start(&[], None, &["--tick-ms", "100000"]).await?;
    let none = settled_smaps(&empty).await?;
    drop(empty);
    let one = host_with(sources, 1).await?;
    let first = settled_smaps(&one).await?;
    drop(one);
    let twenty = host_with(sources, 20).await?;
    let all = settled_smaps(&twenty).await?;
    let log = twenty.log();
    let mut starts = figures_ms(&log, "loaded in", ' ');
    let mut instances = figures_ms(&log, "runtime instance ", ',');
    let mut loads = figures_ms(&log, "its source loaded in ", ' ');
    drop(twenty);
    let marginal_pss = (all.pss_mib - first.pss_mib) / 19.0;
    let marginal_anon = (all.anon_mib - first.anon_mib) / 19.0;
    println!(
        "{language:<10} host alone: PSS {:.1} MiB, anon {:.1} MiB",
        none.pss_mib, none.anon_mib
    );
    println!(
        "{language:<10} 1 module:   PSS {:.1} MiB, anon {:.1} MiB, RSS {:.1} MiB",
        first.pss_mib, first.anon_mib, first.rss_mib
    );
    println!(
        "{language:<10} 20 modules: PSS {:.1} MiB, anon {:.1} MiB, RSS {:.1} MiB",
        all.pss_mib, all.anon_mib, all.rss_mib
    );
    println!(
        "{language:<10} one more module: PSS +{marginal_pss:.1} MiB, anon +{marginal_anon:.1} MiB"
    );
    println!(
        "{language:<10} runtime instance: {}",
        describe(&mut instances)
    );
    println!(
        "{language:<10} loading the module's source into it: {}",
        describe(&mut loads)
    );
    let _ = &mut starts;
    Ok(())
}

const HELLO: &str = r#"
from wasm_mgr import CLIReadCommand, MgrModule, export


class Hello(MgrModule):
    @CLIReadCommand("hello")
    def hello(self):
        return 0, "VERSION", ""


WitWorld = export(Hello)
"#;

async fn reload() -> Result<()> {
    let host = Host::start(&[], None, &[]).await?;
    let file = host.modules_dir().join("hello.py");
    std::fs::write(&file, HELLO.replace("VERSION", "v0"))?;
    host.wait_running("hello", WAIT).await?;
    let mut times = Vec::new();
    for round in 1..=15 {
        let version = format!("v{round}");
        let started = Instant::now();
        std::fs::write(&file, HELLO.replace("VERSION", &version))?;
        loop {
            let (_, answer) = host.command("hello", "hello").await?;
            if answer["stdout"] == version.as_str() {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("version {version} never answered:\n{}", host.log());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        times.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    times.sort();
    println!(
        "reload of a single-file Python module, file written to new version answering: \
         p50 {:.0?}, max {:.0?} (15 edits; the watcher waits 50 ms for the file to settle)",
        percentile(&times, 0.5),
        times[times.len() - 1]
    );
    Ok(())
}

/// `make run`'s host (the shipped modules) with an empty state and compile cache,
/// three times (the first start's figures vary from run to run on 2 cores).
async fn first_starts() -> Result<()> {
    for run in 1..=3 {
        println!("first start, run {run} of 3:");
        first_start().await?;
    }
    Ok(())
}

/// `make run`'s host (the shipped modules) with an empty state and compile cache.
async fn first_start() -> Result<()> {
    let modules = target_dir().join("modules");
    let scratch = tempfile::tempdir()?;
    let started = Instant::now();
    let mut child = std::process::Command::new(target_dir().join("release/wasm-mgr"))
        .args([
            "serve",
            "--no-auth",
            "--http",
            "127.0.0.1:7399",
            "--modules",
        ])
        .arg(&modules)
        .arg("--state-dir")
        .arg(scratch.path().join("state"))
        .arg("--config")
        .arg(target_dir().join("../wasm-mgr.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:7399{p}");
    let mut api = None;
    let mut rust = None;
    let mut all = None;
    let mut peak_before = 0;
    while all.is_none() && started.elapsed() < WAIT {
        if let Ok(resp) = client.get(url("/api/modules")).send().await {
            api.get_or_insert(started.elapsed());
            let rows: serde_json::Value = resp.json().await.unwrap_or_default();
            let states: Vec<(String, String)> = rows
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["name"].as_str().unwrap_or("").to_string(),
                        r["state"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            if states.iter().any(|(n, s)| n == "status" && s == "running") {
                rust.get_or_insert(started.elapsed());
            }
            if !states.is_empty() && states.iter().all(|(_, s)| s == "running") {
                all = Some(started.elapsed());
            }
        }
        peak_before = peak_before.max(proc_status(pid, "VmHWM:").unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let peak = proc_status(pid, "VmHWM:")? as f64 / 1024.0;
    let now = smaps_rollup(pid)?;
    let _ = child.kill();
    let _ = child.wait();
    let show = |d: Option<Duration>| d.map_or("never".to_string(), |d| format!("{d:.2?}"));
    println!(
        "first start of make run's host (empty compile cache): API answers after {}, \
         the Rust status module runs after {}, every module (Python, JavaScript) after {}",
        show(api),
        show(rust),
        show(all)
    );
    println!(
        "first start: peak RSS (VmHWM) {peak:.1} MiB; once running: PSS {:.1} MiB, \
         anon {:.1} MiB, RSS {:.1} MiB",
        now.pss_mib, now.anon_mib, now.rss_mib
    );
    Ok(())
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let mgr = Path::new("/usr/share/ceph/mgr");
        if !mgr.is_dir() {
            bail!("Ceph's modules are not installed: `make ceph-tools`");
        }
        let python: Vec<(std::path::PathBuf, &str)> =
            CEPH_MODULES.iter().map(|m| (mgr.join(m), *m)).collect();
        let python: Vec<(&Path, &str)> = python.iter().map(|(p, n)| (p.as_path(), *n)).collect();
        memory("Python", &python).await?;
        let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules/osdwatch/osdwatch.js");
        memory("JavaScript", &[(js.as_path(), "osdwatch")]).await?;
        reload().await?;
        first_starts().await
    })
}
