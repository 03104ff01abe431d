//! `make bench`: one small module per language in a host of its own: component
//! size, compile time (nothing cached), instantiate time, host RSS with the module
//! over a host without modules, and mean notify latency (from the host's own
//! `wasm_mgr_module_call_duration_seconds` for 40 OSD-map changes).

use std::time::Duration;

use anyhow::{Context, Result};
use wasm_mgr_tests::{Host, component, rss_mib};

/// `compile 1.2s` and `instantiate 3ms` from the host's load line.
fn load_figures(log: &str, file: &str) -> (String, String) {
    let line = log
        .lines()
        .find(|l| l.contains("loaded") && l.contains(file))
        .unwrap_or_default();
    let after = |key: &str| {
        line.split(key)
            .nth(1)
            .and_then(|r| r.split([',', ')']).next())
            .unwrap_or("?")
            .trim()
            .to_string()
    };
    (after("(compile "), after("instantiate "))
}

/// Mean of a module's notify call durations, from the host's metrics page.
fn mean_notify(metrics: &str, module: &str) -> Option<Duration> {
    let value = |suffix: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!("wasm_mgr_module_call_duration_seconds_{suffix}{{"))
                    && l.contains("call=\"notify\"")
                    && l.contains(&format!("module=\"{module}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let (sum, count) = (value("sum")?, value("count")?);
    (count > 0.0).then(|| Duration::from_secs_f64(sum / count))
}

async fn bench(lang: &str, file: &str, module: &str, baseline: f64) -> Result<()> {
    let size = std::fs::metadata(component(file))?.len();
    // A compile cache of its own, empty: the compile is measured.
    let cache =
        std::env::temp_dir().join(format!("wasm-mgr-lang-bench-{}-{file}", std::process::id()));
    let cache_arg = cache.display().to_string();
    let host = Host::start(
        &[file],
        None,
        &["--compile-cache", &cache_arg, "--tick-ms", "100000"],
    )
    .await?;
    let (compile, instantiate) = load_figures(&host.log(), &format!("{file}.wasm"));
    for i in 0..40 {
        let verb = if i % 2 == 0 { "down" } else { "up" };
        host.ceph(&format!("osd {verb} 1")).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, metrics) = host.get("/metrics").await?;
    let notify = mean_notify(&metrics, module);
    let rss = rss_mib(host.pid().context("pid")?)?;
    println!(
        "{lang:<11} {:>7.1} MiB component, compile {compile:>12}, instantiate {instantiate:>12}, \
         RSS +{:>5.1} MiB, notify mean {}",
        size as f64 / (1 << 20) as f64,
        rss - baseline,
        notify.map_or("?".to_string(), |d| format!("{d:.1?}"))
    );
    let _ = std::fs::remove_dir_all(&cache);
    Ok(())
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let empty = Host::start(&[], None, &["--tick-ms", "100000"]).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let baseline = rss_mib(empty.pid().context("pid")?)?;
        drop(empty);
        println!("host without modules: RSS {baseline:.1} MiB");
        bench("Rust", "tally", "tally", baseline).await?;
        bench("Python", "tally-py", "tally-py", baseline).await?;
        bench("JavaScript", "osdwatch-sync", "osdwatch-sync", baseline).await
    })
}
