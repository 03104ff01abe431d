//! Ceph 16.2.15's own Python modules, copied unchanged from Debian's package, on
//! wasm-mgr's shared runtime against a real test cluster, side by side with the
//! real ceph-mgr running the same modules: `status`'s `osd status` prints what
//! `ceph osd status` prints, and `crash` takes a crash report a real OSD wrote
//! and answers `crash ls`, `crash info` and `crash stat` as ceph-mgr does.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use wasm_mgr_tests::{CephCluster, Host};

const FIRST_LOAD: Duration = Duration::from_secs(180);

/// `osd status` with the rate columns (WR OPS, WR DATA, RD OPS, RD DATA) left
/// out: the same code on the same data, but rates come from two samples of
/// counters that each manager takes at its own moments.
fn without_rates(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            cells
                .iter()
                .enumerate()
                .filter(|(i, _)| !(4..8).contains(i))
                .map(|(_, c)| c.to_string())
                .collect()
        })
        .filter(|cells: &Vec<String>| !cells.is_empty())
        .collect()
}

/// The `meta` file of the crash report the cluster's OSDs wrote.
fn crash_report(cluster: &CephCluster) -> Result<(String, String)> {
    let dir = cluster.dir.path().join("crash");
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let meta = entry?.path().join("meta");
        if meta.is_file() {
            let text = std::fs::read_to_string(&meta)?;
            let report: Value = serde_json::from_str(&text)?;
            let id = report["crash_id"].as_str().unwrap_or_default().to_string();
            return Ok((id, text));
        }
    }
    anyhow::bail!("no crash report in {}", dir.display())
}

#[tokio::test]
async fn cephs_own_modules_match_ceph_mgr_on_a_real_cluster() -> Result<()> {
    let cluster = CephCluster::start()?;
    let args = cluster.host_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let host = Host::start(&["ceph:status", "ceph:crash", "ceph:iostat"], None, &args).await?;
    for name in ["status", "crash", "iostat"] {
        host.wait_running(name, FIRST_LOAD).await?;
    }

    // status: `osd status` through wasm-mgr is what ceph-mgr prints.
    // PG statistics (USED, AVAIL, and the host of each OSD with statistics)
    // come from ceph-mgr every couple of seconds: both tables settle to the same.
    let settled = host
        .wait_for(
            Duration::from_secs(30),
            "osd status to match ceph's",
            || async {
                let ours = host.command_ok("status", "osd status").await?;
                let theirs = cluster.ceph(&["osd", "status"])?;
                let same = ours.lines().filter(|l| l.contains("exists,up")).count() == 3
                    && without_rates(&ours) == without_rates(&theirs);
                Ok(same.then_some(()))
            },
        )
        .await;
    if settled.is_err() {
        let ours = host.command_ok("status", "osd status").await?;
        let theirs = cluster.ceph(&["osd", "status"])?;
        anyhow::bail!("wasm-mgr:\n{ours}\nceph-mgr:\n{theirs}");
    }
    let table = host.command_ok("iostat", "iostat --print-header").await?;
    ensure!(table.contains("Read IOPS"), "{table}");

    // crash: a real OSD crash, reported to both managers.
    cluster.script("osd-crash", &["2"])?;
    let (id, report) = host
        .wait_for(
            Duration::from_secs(30),
            "the OSD's crash report",
            || async { Ok(crash_report(&cluster).ok()) },
        )
        .await?;
    let (code, posted) = host.command_input("crash", "crash post", &report).await?;
    ensure!(code == 200 && posted["retval"] == 0, "{code} {posted}");
    let file = cluster.dir.path().join("posted-crash.json");
    std::fs::write(&file, &report)?;
    cluster.ceph(&["crash", "post", "-i", &file.display().to_string()])?;

    let ours = host.command_ok("crash", "crash ls").await?;
    let theirs = cluster.ceph(&["crash", "ls"])?;
    ensure!(
        ours.trim_end() == theirs.trim_end() && ours.contains(&id),
        "wasm-mgr:\n{ours}\nceph-mgr:\n{theirs}"
    );
    let ours = host
        .command_json("crash", &format!("crash info {id}"))
        .await?;
    let theirs: Value = serde_json::from_str(&cluster.ceph(&["crash", "info", &id])?)?;
    ensure!(ours == theirs, "wasm-mgr: {ours}\nceph-mgr: {theirs}");
    let ours = host.command_ok("crash", "crash stat").await?;
    let theirs = cluster.ceph(&["crash", "stat"])?;
    ensure!(
        ours.trim_end() == theirs.trim_end(),
        "wasm-mgr:\n{ours}\nceph-mgr:\n{theirs}"
    );

    // wasm-mgr's crash module raises RECENT_CRASH in the health it serves.
    host.wait_for(Duration::from_secs(15), "RECENT_CRASH", || async {
        let h = host.cluster("health").await?;
        Ok(h["checks"].get("RECENT_CRASH").is_some().then_some(()))
    })
    .await?;
    host.command_ok("crash", "crash archive-all").await?;
    let new = host.command_ok("crash", "crash ls-new").await?;
    ensure!(!new.contains(&id), "{new}");
    Ok(())
}
