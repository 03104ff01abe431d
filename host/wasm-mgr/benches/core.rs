//! `make bench`: notify fan-out latency to 20 modules, instantiation from a cached
//! compiled component, and host RSS with the shipped modules on the default sim.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wasm_mgr::serve::ClusterKind;
use wasm_mgr::serve::{ServeOptions, start};
use wasm_mgr_ceph::CephConfig;
use wasm_mgr_cluster::model::NotifyKind;
use wasm_mgr_runtime::module::State;
use wasm_mgr_sim::SimConfig;
use wasm_mgr_tests::{percentile, proc_status};

const FANOUT_MODULES: usize = 20;
const FANOUT_ROUNDS: usize = 2000;
const INSTANTIATIONS: usize = 500;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what:<56} n={:<5} p50={:>9.3?} p99={:>9.3?} max={:>9.3?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

fn main() -> Result<()> {
    let probe = workspace().join("target/test-modules/probe.wasm");
    if !probe.exists() {
        bail!("{} missing: run `make build-test-modules`", probe.display());
    }
    println!("machine: {} cores, {}", num_cpus(), cpu_model());
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(fanout_and_instantiate(&probe))?;
    rss()?;
    Ok(())
}

async fn fanout_and_instantiate(probe: &Path) -> Result<()> {
    let dir = tempdir()?;
    std::fs::create_dir_all(dir.join("modules"))?;
    let host = start(ServeOptions {
        id: None,
        ha: None,
        modules: dir.join("modules"),
        cluster: ClusterKind::Sim,
        ceph: CephConfig::default(),
        no_auth: false,
        compile_cache: None,
        config: None,
        state_dir: dir.join("state"),
        http: "127.0.0.1:0".parse()?,
        sim: SimConfig {
            // No background movement: only the bench's own changes notify.
            tick: Duration::from_secs(3600),
            ..SimConfig::default()
        },
    })
    .await?;
    let manager = host.manager.clone();

    let mut handles = Vec::new();
    for i in 0..FANOUT_MODULES {
        let (h, _) = manager
            .load_file(probe, Some(&format!("probe-{i}")))
            .await?;
        handles.push(h);
    }
    for h in &handles {
        while h.state() != State::Running {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Let the first notifies and serve loops settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut watchers: Vec<_> = handles.iter().map(|h| h.notify_completions()).collect();
    let cluster = manager.services.cluster.clone();
    let mut samples = Vec::with_capacity(FANOUT_ROUNDS);
    for _ in 0..FANOUT_ROUNDS {
        let baseline: Vec<u64> = watchers
            .iter_mut()
            .map(|w| *w.borrow_and_update())
            .collect();
        let t0 = Instant::now();
        cluster.notify(NotifyKind::OsdMap, "");
        for (w, base) in watchers.iter_mut().zip(&baseline) {
            w.wait_for(|n| *n > *base).await?;
        }
        samples.push(t0.elapsed());
    }
    report(
        &format!("notify fan-out to {FANOUT_MODULES} modules"),
        samples,
    );

    // Instantiation of a Rust module from the compiled-component cache.
    let bytes = std::fs::read(probe)?;
    let t0 = Instant::now();
    let (pre, outcome) =
        manager.prepare(&bytes, &wasm_mgr_runtime::engine::content_hash(&bytes))?;
    println!(
        "{:<56} {:?} ({outcome:?})",
        "load compiled probe component from cache",
        t0.elapsed()
    );
    let mut samples = Vec::with_capacity(INSTANTIATIONS);
    let sandbox = manager.default_sandbox();
    for _ in 0..INSTANTIATIONS {
        let t0 = Instant::now();
        let instance = manager
            .instantiate(
                "bench",
                &pre,
                Default::default(),
                &sandbox,
                Default::default(),
            )
            .await?;
        samples.push(t0.elapsed());
        drop(instance);
    }
    report("instantiate a Rust module (cached compile)", samples);
    manager.stop_all().await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// RSS of the real binary on the default sim: without modules, with the shipped
/// modules on a first start (compiling them), and on a restart (compile cache hit).
fn rss() -> Result<()> {
    // The Rust modules only: the Python module's figures are in the languages bench.
    let modules = tempdir()?;
    std::fs::create_dir_all(&modules)?;
    for m in ["prometheus", "selftest", "status"] {
        std::fs::copy(
            workspace().join(format!("target/modules/{m}.wasm")),
            modules.join(format!("{m}.wasm")),
        )?;
    }
    let empty = tempdir()?;
    let state = tempdir()?;
    for (label, dir, state) in [
        ("no modules", &empty, empty.join("state")),
        ("shipped Rust modules, first start", &modules, state.clone()),
        (
            "shipped Rust modules, restart (cached)",
            &modules,
            state.clone(),
        ),
    ] {
        let (rss, peak, threads) = measure_rss(dir, &state)?;
        println!(
            "{:<56} RSS={rss:.1} MiB (peak {peak:.1} MiB), threads={threads}",
            format!("host RSS, default sim, {label}")
        );
    }
    std::fs::remove_dir_all(&empty).ok();
    std::fs::remove_dir_all(&modules).ok();
    std::fs::remove_dir_all(&state).ok();
    Ok(())
}

/// Starts the host, lets it run 5 s, and reads RSS, peak RSS (MiB) and threads.
fn measure_rss(modules: &Path, state: &Path) -> Result<(f64, f64, u64)> {
    let bin = workspace().join("target/release/wasm-mgr");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = Command::new(&bin)
        .arg("serve")
        .arg("--modules")
        .arg(modules)
        .arg("--state-dir")
        .arg(state)
        .arg("--http")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting wasm-mgr")?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            bail!("host did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the modules run a few sim ticks.
    std::thread::sleep(Duration::from_secs(5));
    let pid = child.id();
    let figures = (
        proc_status(pid, "VmRSS:")? as f64 / 1024.0,
        proc_status(pid, "VmHWM:")? as f64 / 1024.0,
        proc_status(pid, "Threads:")?,
    );
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    Ok(figures)
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "wasm-mgr-bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
