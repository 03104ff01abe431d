//! Modules in other languages beside Rust ones: the Python `iostat` module in one
//! host with Rust modules, and one behavioural test run against the Rust and the
//! Python build of the same small module (`tally`).

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::Value;
use wasm_mgr_tests::Host;

/// Python components are about 20 MB; the first host to load one compiles it.
const FIRST_LOAD: Duration = Duration::from_secs(120);

/// What `tally` must do, whatever language it is written in.
async fn tally_behaves(component: &str) -> Result<()> {
    let host = Host::start(&[component, "status"], None, &[]).await?;
    let row = host.module("tally").await?;
    ensure!(row["state"] == "running", "{row}");
    // Notifies arrive while its serve loop runs.
    host.ceph("osd down 1").await?;
    let seen = host
        .wait_for(FIRST_LOAD, "an osd-map notify", || async {
            let n = host.command_json("tally", "tally notifies").await?;
            Ok((n["while_serving"].as_u64() > Some(0)).then_some(n))
        })
        .await?;
    ensure!(
        seen["notifies"].as_u64() >= seen["while_serving"].as_u64(),
        "{seen}"
    );
    // Commands and the store.
    host.command_ok("tally", "tally add 2").await?;
    let total = host.command_json("tally", "tally add 3").await?;
    ensure!(total["total"] == 5, "{total}");
    let (code, page) = host.get("/modules/tally/total").await?;
    ensure!(code == 200, "{code} {page}");
    let page: Value = serde_json::from_str(&page)?;
    ensure!(page["total"] == 5, "{page}");
    let (code, _) = host.get("/modules/tally/nothing").await?;
    ensure!(code == 404);
    let (code, v) = host.command("tally", "tally add lots").await?;
    ensure!(code == 400, "{code} {v}");
    // A reload keeps the store; the other module never noticed.
    let (code, answer) = host.module_op("tally", "reload").await?;
    ensure!(code == 200 && answer["result"] == "reloaded", "{answer}");
    let total = host.command_json("tally", "tally total").await?;
    ensure!(total["total"] == 5, "after the reload: {total}");
    host.command_ok("status", "osd status").await?;
    Ok(())
}

#[tokio::test]
async fn tally_in_rust() -> Result<()> {
    tally_behaves("tally").await
}

#[tokio::test]
async fn tally_in_python() -> Result<()> {
    tally_behaves("tally-py as tally").await
}

#[tokio::test]
async fn the_python_iostat_module_runs_beside_rust_modules() -> Result<()> {
    let config = "[modules.iostat.options]\ninterval = 1\n";
    let host = Host::start(&["iostat", "status", "prometheus"], Some(config), &[]).await?;
    // Plain source on the shared runtime: `loading` until the runtime is ready.
    host.wait_running("iostat", FIRST_LOAD).await?;
    let stats = host
        .wait_for(FIRST_LOAD, "iostat samples and notifies", || async {
            let s = host.command_json("iostat", "iostat stats").await?;
            Ok((s["samples"].as_u64() >= Some(2) && s["notifies"].as_u64() > Some(0)).then_some(s))
        })
        .await?;
    ensure!(stats["serving"] == true, "{stats}");
    ensure!(stats["samples_taken"].as_u64() >= Some(2), "{stats}");
    let table = host.command_ok("iostat", "iostat --print-header").await?;
    let lines: Vec<&str> = table.lines().collect();
    ensure!(
        lines.len() == 2 && lines[0].contains("Read IOPS"),
        "{table}"
    );
    let rates = host.command_json("iostat", "iostat --format json").await?;
    // The sim's client IO: the module's rates are the cluster's.
    let summary = host.cluster("pg_summary").await?;
    ensure!(
        rates["read_op_per_sec"].as_f64() > Some(0.0),
        "{rates} {summary}"
    );
    let (code, latest) = host.get("/modules/iostat/").await?;
    ensure!(code == 200, "{code} {latest}");
    let latest: Value = serde_json::from_str(&latest)?;
    ensure!(latest["total_op_per_sec"].as_f64() > Some(0.0), "{latest}");
    // Every module in one `module ls`, the same way.
    for name in ["iostat", "status", "prometheus"] {
        let row = host.module(name).await?;
        ensure!(row["state"] == "running", "{row}");
    }
    Ok(())
}

#[tokio::test]
async fn the_javascript_osdwatch_module_runs_beside_rust_and_python_modules() -> Result<()> {
    // osdwatch built the old way, as a single componentize-js component (the
    // shipped osdwatch is plain source now: tests/tests/js_runtime.rs).
    let mut host = Host::start(
        &["osdwatch-sync as osdwatch", "iostat", "status"],
        None,
        &[],
    )
    .await?;
    host.wait_running("iostat", FIRST_LOAD).await?;
    // A sync module, listed like any other.
    let row = host.module("osdwatch").await?;
    ensure!(row["state"] == "running", "{row}");
    host.wait_for(FIRST_LOAD, "osdwatch's first tick", || async {
        let s = host.command_json("osdwatch", "osdwatch status").await?;
        Ok((s["ticks"].as_u64() > Some(0)).then_some(()))
    })
    .await?;
    // Notifies arrive between ticks.
    host.ceph("osd down 3").await?;
    let events = host
        .wait_for(Duration::from_secs(10), "the down event", || async {
            let e = host
                .command_json("osdwatch", "osdwatch events --format json")
                .await?;
            let seen = e
                .as_array()
                .is_some_and(|l| l.iter().any(|e| e["osd"] == 3 && e["change"] == "down"));
            Ok(seen.then_some(e))
        })
        .await?;
    let status = host.command_json("osdwatch", "osdwatch status").await?;
    ensure!(status["notifies"].as_u64() > Some(0), "{status}");
    ensure!(status["up"] == 11, "{status}");
    // HTTP.
    let (code, page) = host.get("/modules/osdwatch/").await?;
    ensure!(code == 200, "{code} {page}");
    let page: Value = serde_json::from_str(&page)?;
    ensure!(page == events, "{page} vs {events}");
    // Reload and restart keep the events (the store).
    let (code, answer) = host.module_op("osdwatch", "reload").await?;
    ensure!(code == 200 && answer["result"] == "reloaded", "{answer}");
    host.restart().await?;
    let after = host
        .command_json("osdwatch", "osdwatch events --format json")
        .await?;
    ensure!(after == events, "after a restart: {after}");
    // The Python module in the same host runs again after the restart.
    host.wait_running("iostat", FIRST_LOAD).await?;
    host.command_ok("iostat", "iostat").await?;
    Ok(())
}
