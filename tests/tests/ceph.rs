//! The `ceph` source against a real Ceph 16.2 cluster started from Debian's packages
//! (`tests/ceph/cluster.sh`): maps equal to what `ceph` prints, notifies on OSD and
//! pool changes, the prometheus module beside the real ceph-mgr's, and a monitor
//! killed and restarted under the host.
//!
//! One test walks through the steps in order on one cluster: starting a cluster
//! takes about 15 s, and the steps change the cluster under each other.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use wasm_mgr_tests::{CephCluster, Host, check_exposition};

/// Ceph's own bound on noticing a stopped OSD, with the test cluster's short grace.
const OSD_DOWN_WITHIN: Duration = Duration::from_secs(30);

async fn module_get(host: &Host, name: &str) -> Result<Value> {
    host.command_json("probe", &format!("probe get {name}"))
        .await
}

/// Polls until the module's `get(name)` equals what `ceph <args>` prints (both
/// read close together; a map that moves in between is read again).
async fn equals_ceph(host: &Host, cluster: &CephCluster, name: &str, args: &[&str]) -> Result<()> {
    let started = Instant::now();
    loop {
        let ours = module_get(host, name).await?;
        let theirs = cluster.ceph_json(args)?;
        if ours == theirs {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!(
                "get({name}) differs from `ceph {}`:\nours:   {ours}\ntheirs: {theirs}",
                args.join(" ")
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Notifies the probe received so far, as (kind, osd map epoch at the time).
async fn notifies(host: &Host) -> Result<Vec<(String, u64)>> {
    let list = host.command_json("probe", "probe notifies").await?;
    Ok(list
        .as_array()
        .context("notifies is a list")?
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap_or("").to_string(),
                n["osd_map_epoch"].as_u64().unwrap_or(0),
            )
        })
        .collect())
}

fn health_has(health: &Value, code: &str) -> bool {
    health["checks"].get(code).is_some()
}

fn families(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

async fn osd_state(host: &Host, id: u64) -> Result<(bool, bool)> {
    let map = module_get(host, "osd_map").await?;
    let osd = map["osds"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["osd"] == id))
        .context("osd in map")?;
    Ok((osd["up"] == 1, osd["in"] == 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_cluster() -> Result<()> {
    let cluster = CephCluster::start()?;
    let args = cluster.host_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let config = "[modules.probe]\ncommands = [\"osd pool create\"]\n";
    let host = Host::start(&["probe", "status", "prometheus"], Some(config), &args).await?;
    host.wait_for(Duration::from_secs(30), "the first OSD map", || async {
        let e = host.command_json("probe", "probe epoch").await?;
        Ok((e["osd_map"].as_u64() > Some(0) && e["have_mon_connection"] == true).then_some(()))
    })
    .await?;

    // 1. The maps equal what the real CLI prints.
    equals_ceph(&host, &cluster, "osd_map", &["osd", "dump"]).await?;
    equals_ceph(&host, &cluster, "mon_map", &["mon", "dump"]).await?;
    equals_ceph(&host, &cluster, "fs_map", &["fs", "dump"]).await?;
    equals_ceph(&host, &cluster, "health", &["health", "detail"]).await?;
    equals_ceph(&host, &cluster, "df", &["df", "detail"]).await?;
    let osd_status = host.command_ok("status", "osd status").await?;
    assert_eq!(
        osd_status
            .lines()
            .filter(|l| l.contains("exists,up"))
            .count(),
        3,
        "{osd_status}"
    );

    // 2. A pool created with the real CLI shows after one osd-map notify.
    let before = notifies(&host).await?.len();
    cluster.ceph(&["osd", "pool", "create", "wasm_mgr_test", "8"])?;
    let map = cluster.ceph_json(&["osd", "dump"])?;
    let epoch = map["epoch"].as_u64().context("epoch")?;
    host.wait_for(Duration::from_secs(10), "the new pool", || async {
        let ours = module_get(&host, "osd_map").await?;
        let seen = ours["pools"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["pool_name"] == "wasm_mgr_test"));
        Ok(seen.then_some(()))
    })
    .await?;
    // The monitor's cluster log reaches modules as clog notifies.
    host.wait_for(
        Duration::from_secs(20),
        "a clog notify about the pool",
        || async {
            let list = host.command_json("probe", "probe notifies").await?;
            let seen = list.as_array().is_some_and(|l| {
                l.iter().any(|n| {
                    n["kind"] == "clog"
                        && n["id"]
                            .as_str()
                            .is_some_and(|id| id.contains("wasm_mgr_test"))
                })
            });
            Ok(seen.then_some(()))
        },
    )
    .await?;
    let after = notifies(&host).await?;
    assert!(
        after[before..]
            .iter()
            .any(|(kind, e)| kind == "osd-map" && *e >= epoch),
        "no osd-map notify at epoch {epoch} or later: {:?}",
        &after[before..]
    );

    // 3. Module commands go to the real cluster, within the module's grants.
    let stat = host
        .probe_send("mon", json!({"prefix": "osd stat", "format": "json"}))
        .await?;
    let stat: Value = serde_json::from_str(stat["stdout"].as_str().unwrap_or(""))?;
    assert_eq!(stat["num_up_osds"], 3, "{stat}");
    let denied = host
        .probe_send("mon", json!({"prefix": "osd out", "ids": ["2"]}))
        .await?;
    assert!(
        denied["error"].as_str().unwrap_or("").contains("Denied"),
        "{denied}"
    );
    let created = host
        .probe_send(
            "mon",
            json!({"prefix": "osd pool create", "pool": "from_module", "pg_num": 8}),
        )
        .await?;
    assert_eq!(created["retval"], 0, "{created}");
    let dump = cluster.ceph_json(&["osd", "dump"])?;
    let pools: Vec<&str> = dump["pools"]
        .as_array()
        .context("pools")?
        .iter()
        .filter_map(|p| p["pool_name"].as_str())
        .collect();
    assert!(pools.contains(&"from_module"), "{pools:?}");
    assert!(dump["osds"][2]["in"] == 1, "osd.2 was marked out");
    let perf = host
        .probe_send("osd.0", json!({"prefix": "perf dump", "format": "json"}))
        .await?;
    assert_eq!(perf["retval"], 0, "{perf}");
    let mgr = host
        .probe_send(
            "mgr",
            json!({"prefix": "balancer status", "format": "json"}),
        )
        .await?;
    assert_eq!(mgr["retval"], 0, "{mgr}");
    // Operators' words are parsed with the cluster's own command table.
    let ls = host.ceph("osd pool ls").await?;
    assert!(ls.contains("from_module"), "{ls}");

    // 4. A stopped OSD: osd-map and health notifies with OSD_DOWN, then cleared.
    let before = notifies(&host).await?.len();
    let stopped = Instant::now();
    cluster.script("osd-stop", &["1"])?;
    host.wait_for(OSD_DOWN_WITHIN, "OSD_DOWN after stopping osd.1", || async {
        let n = notifies(&host).await?;
        let new = &n[before..];
        let kinds = |k: &str| new.iter().any(|(kind, _)| kind == k);
        let health = module_get(&host, "health").await?;
        Ok((kinds("osd-map") && kinds("health") && health_has(&health, "OSD_DOWN")).then_some(()))
    })
    .await?;
    eprintln!(
        "OSD_DOWN reached the module {:?} after the stop",
        stopped.elapsed()
    );
    assert_eq!(osd_state(&host, 1).await?, (false, true));
    let health = module_get(&host, "health").await?;
    let detail = health["checks"]["OSD_DOWN"]["detail"].to_string();
    assert!(detail.contains("osd.1"), "{detail}");
    cluster.script("osd-start", &["1"])?;
    host.wait_for(OSD_DOWN_WITHIN, "OSD_DOWN to clear", || async {
        let health = module_get(&host, "health").await?;
        Ok((!health_has(&health, "OSD_DOWN")).then_some(()))
    })
    .await?;
    assert_eq!(osd_state(&host, 1).await?, (true, true));

    // 5. The prometheus module has every family the real ceph-mgr's module exposes.
    let port = cluster.prometheus_port()?;
    let client = reqwest::Client::new();
    // Both pages once the daemons' counters reached them (ceph-mgr gets them when
    // the daemons report, every few seconds).
    let has_counters = |page: &str| page.contains("ceph_osd_op_r{") && page.contains("ceph_paxos_");
    let theirs = host
        .wait_for(
            Duration::from_secs(60),
            "perf counters on ceph-mgr's page",
            || async {
                let page = client
                    .get(format!("http://127.0.0.1:{port}/metrics"))
                    .send()
                    .await?
                    .text()
                    .await?;
                Ok(has_counters(&page).then_some(page))
            },
        )
        .await?;
    let ours = host
        .wait_for(
            Duration::from_secs(20),
            "perf counters on our page",
            || async {
                let (code, page) = host.get("/modules/prometheus/metrics").await?;
                Ok((code == 200 && has_counters(&page)).then_some(page))
            },
        )
        .await?;
    let (theirs_f, ours_f) = (families(&theirs), families(&ours));
    assert!(
        theirs_f.len() > 100,
        "ceph-mgr exposed {} families",
        theirs_f.len()
    );
    let missing: Vec<&String> = theirs_f.difference(&ours_f).collect();
    assert!(
        missing.is_empty(),
        "families ceph-mgr exposes and we do not: {missing:?}"
    );
    check_exposition(&ours)?;
    eprintln!(
        "prometheus: ceph-mgr {} families, wasm-mgr {} families",
        theirs_f.len(),
        ours_f.len()
    );

    // 6. The monitor killed and restarted: the host keeps the last state, then
    // catches up.
    cluster.script("mon-kill", &[])?;
    host.wait_for(
        Duration::from_secs(30),
        "have-mon-connection false",
        || async {
            let e = host.command_json("probe", "probe epoch").await?;
            Ok((e["have_mon_connection"] == false).then_some(()))
        },
    )
    .await?;
    let kept = module_get(&host, "osd_map").await?;
    assert!(kept["epoch"].as_u64() >= Some(epoch), "{}", kept["epoch"]);
    assert_eq!(
        host.command_ok("status", "osd status")
            .await?
            .lines()
            .count(),
        4
    );
    cluster.script("mon-start", &[])?;
    host.wait_for(
        Duration::from_secs(60),
        "have-mon-connection true",
        || async {
            let e = host.command_json("probe", "probe epoch").await?;
            Ok((e["have_mon_connection"] == true).then_some(()))
        },
    )
    .await?;
    cluster.ceph(&["osd", "pool", "create", "after_restart", "8"])?;
    host.wait_for(
        Duration::from_secs(20),
        "a pool made after the restart",
        || async {
            let ours = module_get(&host, "osd_map").await?;
            let seen = ours["pools"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["pool_name"] == "after_restart"));
            Ok(seen.then_some(()))
        },
    )
    .await?;
    equals_ceph(&host, &cluster, "osd_map", &["osd", "dump"]).await?;
    let log = host.log();
    assert!(!log.contains("panicked"), "{log}");
    Ok(())
}
