//! Changing one module while everything else keeps answering: blue/green reloads
//! under load, a broken new version, the modules folder watched, enable/disable
//! kept across restarts, and a `shutdown` that never returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use serde_json::Value;
use wasm_mgr_tests::{Host, component, with_marker};

/// Hits `path` in a tight loop until `stop`; counts answers and failures.
fn hammer(
    host: &Host,
    path: &str,
    stop: Arc<AtomicBool>,
) -> (tokio::task::JoinHandle<()>, Arc<AtomicU64>, Arc<AtomicU64>) {
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (ok2, failed2) = (ok.clone(), failed.clone());
    let url = host.url(path);
    let task = tokio::spawn(async move {
        let client = reqwest::Client::new();
        while !stop.load(Ordering::Relaxed) {
            let outcome = match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                }
                Ok(r) => Err(r.status().to_string()),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => ok2.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    eprintln!("{url}: {e}");
                    failed2.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
    });
    (task, ok, failed)
}

async fn hash(host: &Host, name: &str) -> Result<String> {
    Ok(host.module(name).await?["hash"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_under_load_lose_no_request() -> Result<()> {
    let host = Host::start(&["prometheus", "probe"], None, &[]).await?;
    host.wait_for(Duration::from_secs(20), "the first page", || async {
        let (code, _) = host.get("/modules/prometheus/metrics").await?;
        Ok((code == 200).then_some(()))
    })
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let (scraper, scraped, scrape_failed) =
        hammer(&host, "/modules/prometheus/metrics", stop.clone());
    let (greeter, greeted, greet_failed) = hammer(&host, "/modules/probe/hello", stop.clone());
    for i in 0..20 {
        let (code, answer) = host.module_op("prometheus", "reload").await?;
        ensure!(code == 200, "reload {i}: {answer}");
        ensure!(answer["result"] == "reloaded", "reload {i}: {answer}");
        // Let some requests reach the new version before the next reload.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    scraper.await?;
    greeter.await?;
    let (scraped, greeted) = (
        scraped.load(Ordering::Relaxed),
        greeted.load(Ordering::Relaxed),
    );
    eprintln!("during 20 reloads: {scraped} scrapes, {greeted} probe requests");
    ensure!(scrape_failed.load(Ordering::Relaxed) == 0, "failed scrapes");
    ensure!(
        greet_failed.load(Ordering::Relaxed) == 0,
        "failed probe requests"
    );
    ensure!(
        scraped > 100 && greeted > 100,
        "too few requests: {scraped}, {greeted}"
    );
    let row = host.module("prometheus").await?;
    ensure!(row["state"] == "running", "{row}");
    ensure!(!host.log().contains("panicked"), "{}", host.log());
    Ok(())
}

#[tokio::test]
async fn the_folder_is_watched_and_a_broken_version_keeps_the_old_one() -> Result<()> {
    let host = Host::start(&["probe"], None, &[]).await?;
    let good = std::fs::read(component("probe"))?;
    let file = host.modules_dir().join("probe.wasm");
    host.command_ok("probe", "probe store set kept yes").await?;
    let first = hash(&host, "probe").await?;

    // A changed file is reloaded: a new hash, the store carried over.
    std::fs::write(&file, with_marker(&good, "v2"))?;
    host.wait_for(Duration::from_secs(10), "the new version", || async {
        let h = hash(&host, "probe").await?;
        Ok((h != first && !h.is_empty()).then_some(()))
    })
    .await?;
    let kept = host.command_json("probe", "probe store get kept").await?;
    ensure!(kept.to_string().contains("yes"), "{kept}");

    // A broken file: the running version stays and the failure is reported.
    let running = hash(&host, "probe").await?;
    std::fs::write(&file, b"\0asm\x0d\0\x01\0 truncated")?;
    let failure = host
        .wait_for(Duration::from_secs(10), "the failure report", || async {
            let rows = host.modules().await?;
            Ok(rows
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| {
                    r["state"] == "failed"
                        && r["path"]
                            .as_str()
                            .is_some_and(|p| p.ends_with("probe.wasm"))
                })
                .cloned())
        })
        .await?;
    let error = failure["last_error"].as_str().unwrap_or_default();
    ensure!(error.contains("the running version stays"), "{failure}");
    ensure!(
        hash(&host, "probe").await? == running,
        "the running version changed"
    );
    host.command_ok("probe", "probe epoch").await?;
    let health = host.cluster("health").await?;
    ensure!(health["checks"]["MGR_MODULE_ERROR"].is_object(), "{health}");

    // The good file back: the failure clears.
    std::fs::write(&file, with_marker(&good, "v3"))?;
    host.wait_for(Duration::from_secs(10), "recovery", || async {
        let health = host.cluster("health").await?;
        let h = hash(&host, "probe").await?;
        Ok((health["checks"].get("MGR_MODULE_ERROR").is_none() && h != running).then_some(()))
    })
    .await?;

    // A new file starts a module; a removed one stops it.
    let copy = host.modules_dir().join("selftest.wasm");
    std::fs::copy(component("selftest"), &copy)?;
    host.wait_for(Duration::from_secs(10), "selftest to start", || async {
        let rows = host.modules().await?;
        Ok(rows
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["name"] == "selftest" && r["state"] == "running")
            .then_some(()))
    })
    .await?;
    std::fs::remove_file(&copy)?;
    host.wait_for(Duration::from_secs(10), "selftest to go", || async {
        let rows = host.modules().await?;
        Ok((!rows
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["name"] == "selftest"))
        .then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn disabled_stays_disabled_across_restarts() -> Result<()> {
    let mut host = Host::start(&["probe"], None, &[]).await?;
    host.command_ok("probe", "probe store set survived yes")
        .await?;
    let (code, answer) = host.module_op("probe", "disable").await?;
    ensure!(code == 200, "{answer}");
    let row = host.module("probe").await?;
    ensure!(row["state"] == "disabled", "{row}");
    ensure!(host.log().contains("stopped"), "{}", host.log());
    let (code, _) = host.command("probe", "probe epoch").await?;
    ensure!(code == 404, "a disabled module answered ({code})");
    host.restart().await?;
    let row = host.module("probe").await?;
    ensure!(row["state"] == "disabled", "after a restart: {row}");
    let (code, answer) = host.module_op("probe", "enable").await?;
    ensure!(code == 200 && answer["result"] == "started", "{answer}");
    // Enabling after a restart takes the compiled component from the cache.
    ensure!(
        host.log()
            .lines()
            .any(|l| l.contains("loaded") && l.contains("probe.wasm") && l.contains("cached")),
        "{}",
        host.log()
    );
    let got = host
        .command_json("probe", "probe store get survived")
        .await?;
    ensure!(got.to_string().contains("yes"), "{got}");
    let (code, _) = host.module_op("nope", "enable").await?;
    ensure!(code == 404, "enabling an unknown module gave {code}");
    let (code, _) = host.module_op("probe", "reload").await?;
    ensure!(code == 200);
    Ok(())
}

#[tokio::test]
async fn a_shutdown_that_never_returns_is_dropped_after_the_grace() -> Result<()> {
    let config =
        "[modules.probe]\nshutdown_grace = 1\n[modules.probe.options]\nhang-shutdown = true\n";
    let host = Host::start(&["probe"], Some(config), &[]).await?;
    let started = Instant::now();
    let (code, answer) = host.module_op("probe", "disable").await?;
    let took = started.elapsed();
    ensure!(code == 200, "{answer}");
    ensure!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "disable took {took:?}"
    );
    ensure!(
        host.log().contains("did not stop within 1s"),
        "{}",
        host.log()
    );
    let row: Value = host.module("probe").await?;
    ensure!(row["state"] == "disabled", "{row}");
    // The host is fine.
    let (code, _) = host.get("/api/modules").await?;
    ensure!(code == 200);
    Ok(())
}
