//! `selftest`: exercises every host service of the `ceph:mgr` contract and reports one
//! line per import, as ceph's `mgr self-test` does for ceph-mgr.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wasm_mgr_sdk::{
    Command, CommandResult, CommandTarget, Error, HealthCheck, LogLevel, Module, ModuleInfo,
    ModuleOption, Table, call_module, cluster, cluster_log, commands, errno, export_module, health,
    log, mgr_id, module_name, options, send_command, shutdown_requested, sleep, store,
};

/// What one check found: `Ok(detail)` passes, `Err(detail)` fails.
type Outcome = Result<String, String>;

/// The names `cluster.get` serves, as ceph-mgr's `get()`.
const CLASSIC_NAMES: [&str; 19] = [
    "osd_map",
    "osd_map_tree",
    "osd_metadata",
    "mon_map",
    "mon_status",
    "fs_map",
    "mgr_map",
    "health",
    "pg_summary",
    "pg_status",
    "pg_dump",
    "pg_stats",
    "pool_stats",
    "osd_stats",
    "osd_pool_stats",
    "df",
    "io_rate",
    "service_map",
    "config",
];

/// Every import the module checks, in the order it reports them.
const IMPORTS: [&str; 28] = [
    "cluster.get",
    "cluster.get-epochs",
    "cluster.get-mon-map",
    "cluster.get-osd-map",
    "cluster.get-fs-map",
    "cluster.get-mgr-map",
    "cluster.get-health",
    "cluster.get-pg-summary",
    "cluster.get-df",
    "cluster.list-servers",
    "cluster.get-server",
    "cluster.get-metadata",
    "cluster.perf-counters",
    "cluster.clog-tail",
    "cluster.have-mon-connection",
    "mgr.log",
    "mgr.module-name",
    "mgr.mgr-id",
    "mgr.get-option",
    "mgr.get-store",
    "mgr.set-store",
    "mgr.list-store",
    "mgr.set-health-checks",
    "mgr.cluster-log",
    "mgr.is-shutting-down",
    "mgr-async.sleep",
    "mgr-async.send-command",
    "mgr-async.call-module",
];

/// Health check code the module raises and clears.
const CHECK_CODE: &str = "MGR_SELFTEST_CHECK";

/// Reading a map while the cluster moves: tries before giving up.
const ATTEMPTS: usize = 5;

/// Fail with `detail` unless `condition` holds.
fn ensure(condition: bool, detail: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(detail()) }
}

/// A host error as a failure detail.
fn host_error(what: &str, error: Error) -> String {
    format!("{what}: {error:?}")
}

/// ceph-mgr's `get(name)` parsed as JSON.
fn get_value(name: &str) -> Result<Value, String> {
    cluster::get_json::<Value>(name).map_err(|e| host_error(name, e))
}

/// Length of a JSON array field, 0 if absent.
fn array_len(value: &Value, field: &str) -> usize {
    value[field].as_array().map_or(0, Vec::len)
}

/// Run `read` until the epochs it returns (typed, JSON) agree: maps move on their own.
fn at_one_epoch<T>(mut read: impl FnMut() -> Result<(u64, u64, T), String>) -> Result<T, String> {
    let mut last = (0, 0);
    for _ in 0..ATTEMPTS {
        let (typed, json, data) = read()?;
        if typed == json {
            return Ok(data);
        }
        last = (typed, json);
    }
    Err(format!(
        "epochs never agreed: typed {} vs get() {}",
        last.0, last.1
    ))
}

/// Retry `check` every 100 ms for about two seconds until it holds.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..20 {
        if check() {
            return true;
        }
        if !sleep(Duration::from_millis(100)).await {
            return false;
        }
    }
    check()
}

fn check_get() -> Outcome {
    for name in CLASSIC_NAMES {
        get_value(name)?;
    }
    match cluster::get("no_such_map") {
        Err(Error::NotFound(_)) => {}
        other => return Err(format!("unknown name gave {other:?}, not not-found")),
    }
    Ok(format!(
        "{} names are JSON; unknown name is not-found",
        CLASSIC_NAMES.len()
    ))
}

fn check_epochs() -> Outcome {
    let (osd, mon) = at_one_epoch(|| {
        let epochs = cluster::epochs();
        let (osd, mon, fs, mgr) = (
            cluster::osd_map(),
            cluster::mon_map(),
            cluster::fs_map(),
            cluster::mgr_map(),
        );
        let typed = [osd.epoch, mon.epoch, fs.epoch, mgr.epoch];
        let listed = [
            epochs.osd_map,
            epochs.mon_map,
            epochs.fs_map,
            epochs.mgr_map,
        ];
        let moved = typed.iter().zip(&listed).position(|(t, l)| t != l);
        let (t, l) = moved.map_or((0, 0), |i| (typed[i], listed[i]));
        Ok((t, l, (epochs.osd_map, epochs.mon_map)))
    })?;
    ensure(osd > 0 && mon > 0, || {
        format!("zero epoch: osd {osd}, mon {mon}")
    })?;
    Ok(format!("match the maps: osd {osd}, mon {mon}"))
}

fn check_mon_map() -> Outcome {
    let (map, json) = at_one_epoch(|| {
        let map = cluster::mon_map();
        let json = get_value("mon_map")?;
        Ok((map.epoch, json["epoch"].as_u64().unwrap_or(0), (map, json)))
    })?;
    ensure(!map.mons.is_empty(), || "no monitors".to_owned())?;
    ensure(!map.fsid.is_empty(), || "empty fsid".to_owned())?;
    ensure(map.mons.len() == array_len(&json, "mons"), || {
        format!(
            "{} mons typed, {} in get(mon_map)",
            map.mons.len(),
            array_len(&json, "mons")
        )
    })?;
    for mon in &map.mons {
        ensure(mon.in_quorum == map.quorum.contains(&mon.rank), || {
            format!("mon.{} in-quorum disagrees with the quorum list", mon.name)
        })?;
    }
    if let Some(leader) = &map.leader {
        ensure(map.mons.iter().any(|m| &m.name == leader), || {
            format!("leader {leader} is no mon")
        })?;
    }
    Ok(format!(
        "epoch {}, {} mons, quorum {:?}",
        map.epoch,
        map.mons.len(),
        map.quorum
    ))
}

fn check_osd_map() -> Outcome {
    let (map, json) = at_one_epoch(|| {
        let map = cluster::osd_map();
        let json = get_value("osd_map")?;
        Ok((map.epoch, json["epoch"].as_u64().unwrap_or(0), (map, json)))
    })?;
    let (osds, pools) = (array_len(&json, "osds"), array_len(&json, "pools"));
    ensure(map.osds.len() == osds, || {
        format!("{} OSDs typed, {osds} in get(osd_map)", map.osds.len())
    })?;
    ensure(map.pools.len() == pools, || {
        format!("{} pools typed, {pools} in get(osd_map)", map.pools.len())
    })?;
    let fsid = cluster::mon_map().fsid;
    ensure(map.fsid == fsid, || {
        format!("fsid {} differs from the mon map's {fsid}", map.fsid)
    })?;
    let up = map.osds.iter().filter(|o| o.up).count();
    Ok(format!(
        "epoch {}, {} OSDs ({up} up), {pools} pools",
        map.epoch,
        map.osds.len()
    ))
}

fn check_fs_map() -> Outcome {
    let (map, json) = at_one_epoch(|| {
        let map = cluster::fs_map();
        let json = get_value("fs_map")?;
        Ok((map.epoch, json["epoch"].as_u64().unwrap_or(0), (map, json)))
    })?;
    let listed = array_len(&json, "filesystems");
    ensure(map.filesystems.len() == listed, || {
        format!(
            "{} file systems typed, {listed} in get(fs_map)",
            map.filesystems.len()
        )
    })?;
    let pools: Vec<i64> = cluster::osd_map().pools.iter().map(|p| p.id).collect();
    for fs in &map.filesystems {
        ensure(pools.contains(&fs.metadata_pool), || {
            format!(
                "{}: metadata pool {} is not in the OSD map",
                fs.name, fs.metadata_pool
            )
        })?;
    }
    Ok(format!(
        "epoch {}, {listed} file systems, {} standbys",
        map.epoch,
        map.standbys.len()
    ))
}

fn check_mgr_map() -> Outcome {
    let (map, json) = at_one_epoch(|| {
        let map = cluster::mgr_map();
        let json = get_value("mgr_map")?;
        Ok((map.epoch, json["epoch"].as_u64().unwrap_or(0), (map, json)))
    })?;
    ensure(!map.active_name.is_empty(), || {
        "no active manager".to_owned()
    })?;
    let active = json["active_name"].as_str().unwrap_or_default();
    ensure(map.active_name == active, || {
        format!(
            "active {} typed, {active:?} in get(mgr_map)",
            map.active_name
        )
    })?;
    Ok(format!(
        "epoch {}, active {}, {} modules",
        map.epoch,
        map.active_name,
        map.modules.len()
    ))
}

fn check_health() -> Outcome {
    let (typed, json) = at_one_epoch(|| {
        let before = cluster::epochs().health;
        let (typed, json) = (cluster::health(), get_value("health")?);
        Ok((before, cluster::epochs().health, (typed, json)))
    })?;
    let status = json["status"].as_str().unwrap_or_default();
    ensure(typed.status.as_str() == status, || {
        format!(
            "status {} typed, {status:?} in get(health)",
            typed.status.as_str()
        )
    })?;
    let listed = json["checks"].as_object().map_or(0, |c| c.len());
    ensure(typed.checks.len() == listed, || {
        format!(
            "{} checks typed, {listed} in get(health)",
            typed.checks.len()
        )
    })?;
    let worst = typed.checks.iter().map(|c| c.severity).max();
    ensure(worst.is_none_or(|w| w == typed.status), || {
        format!(
            "status {} but worst check is {:?}",
            typed.status.as_str(),
            worst
        )
    })?;
    Ok(format!("{status}, {listed} checks"))
}

fn check_pg_summary() -> Outcome {
    let (summary, json) = at_one_epoch(|| {
        let before = cluster::epochs().pg_summary;
        let (summary, json) = (cluster::pg_summary(), get_value("pg_summary")?);
        Ok((before, cluster::epochs().pg_summary, (summary, json)))
    })?;
    let by_state: u64 = summary.by_state.iter().map(|s| s.count).sum();
    ensure(by_state == summary.num_pgs, || {
        format!("{by_state} PGs by state, num-pgs {}", summary.num_pgs)
    })?;
    let all: u64 = json["all"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    ensure(all == summary.num_pgs, || {
        format!(
            "{all} PGs in get(pg_summary).all, num-pgs {}",
            summary.num_pgs
        )
    })?;
    Ok(format!(
        "{} PGs in {} states",
        summary.num_pgs,
        summary.by_state.len()
    ))
}

fn check_df() -> Outcome {
    let df = cluster::df();
    ensure(df.total_bytes >= df.total_used_bytes, || {
        format!("used {} > total {}", df.total_used_bytes, df.total_bytes)
    })?;
    let map = cluster::osd_map();
    for pool in &df.pools {
        ensure(
            map.pools
                .iter()
                .any(|p| p.id == pool.id && p.name == pool.name),
            || format!("pool {} ({}) is not in the OSD map", pool.name, pool.id),
        )?;
    }
    Ok(format!(
        "{} bytes, {} used, {} pools",
        df.total_bytes,
        df.total_used_bytes,
        df.pools.len()
    ))
}

fn check_list_servers() -> Outcome {
    let servers = cluster::list_servers();
    ensure(!servers.is_empty(), || "no servers".to_owned())?;
    for osd in cluster::osd_map().osds {
        let id = osd.id.to_string();
        let found = servers
            .iter()
            .any(|s| s.daemons.iter().any(|d| d.kind == "osd" && d.id == id));
        ensure(found, || format!("osd.{id} is on no server"))?;
    }
    let daemons: usize = servers.iter().map(|s| s.daemons.len()).sum();
    Ok(format!("{} servers, {daemons} daemons", servers.len()))
}

fn check_get_server() -> Outcome {
    let first = cluster::list_servers()
        .into_iter()
        .next()
        .ok_or("no servers")?;
    let server = cluster::get_server(&first.hostname)
        .ok_or_else(|| format!("{} not found", first.hostname))?;
    ensure(server.daemons.len() == first.daemons.len(), || {
        format!(
            "{}: {} daemons, listed {}",
            server.hostname,
            server.daemons.len(),
            first.daemons.len()
        )
    })?;
    ensure(
        cluster::get_server("no-such-host.invalid").is_none(),
        || "an unknown host was found".to_owned(),
    )?;
    Ok(format!(
        "{} with {} daemons; unknown host is none",
        server.hostname,
        server.daemons.len()
    ))
}

fn check_get_metadata() -> Outcome {
    let map = cluster::osd_map();
    let osd = map.osds.first().ok_or("no OSDs")?;
    let meta = cluster::get_metadata("osd", &osd.id.to_string())
        .ok_or_else(|| format!("no metadata for osd.{}", osd.id))?;
    ensure(meta.contains_key("hostname"), || {
        format!("osd.{} metadata has no hostname", osd.id)
    })?;
    let mon = cluster::mon_map()
        .mons
        .into_iter()
        .next()
        .ok_or("no monitors")?;
    ensure(cluster::get_metadata("mon", &mon.name).is_some(), || {
        format!("no metadata for mon.{}", mon.name)
    })?;
    ensure(cluster::get_metadata("osd", "999999").is_none(), || {
        "osd.999999 has metadata".to_owned()
    })?;
    let version = meta.get("ceph_version_short").or(meta.get("ceph_version"));
    Ok(format!(
        "osd.{}: {} keys, version {version:?}; mon.{} found",
        osd.id,
        meta.len(),
        mon.name
    ))
}

fn check_perf_counters() -> Outcome {
    let all = cluster::perf_counters("", "");
    let ops = cluster::perf_counters("osd.", "osd.op_");
    ensure(
        ops.iter()
            .all(|c| c.daemon.starts_with("osd.") && c.path.starts_with("osd.op_")),
        || "a counter outside the prefixes came back".to_owned(),
    )?;
    ensure(all.len() >= ops.len(), || {
        format!("{} in all, {} filtered", all.len(), ops.len())
    })?;
    let up = cluster::osd_map().osds.iter().any(|o| o.up);
    ensure(!up || !ops.is_empty(), || {
        "OSDs are up but have no osd.op_ counters".to_owned()
    })?;
    Ok(format!("{} counters, {} osd.op_*", all.len(), ops.len()))
}

fn check_clog_tail() -> Outcome {
    let entries = cluster::clog_tail(10);
    ensure(entries.len() <= 10, || {
        format!("{} entries for max 10", entries.len())
    })?;
    ensure(entries.windows(2).all(|w| w[0].seq <= w[1].seq), || {
        "entries are not oldest first".to_owned()
    })?;
    Ok(format!("{} entries", entries.len()))
}

fn check_have_mon_connection() -> Outcome {
    ensure(cluster::have_mon_connection(), || {
        "no monitor connection".to_owned()
    })?;
    Ok("connected".to_owned())
}

fn check_log() -> Outcome {
    for level in [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ] {
        log(level, &format!("selftest: log at {level:?}"));
    }
    Ok("wrote one line at each of 5 levels".to_owned())
}

fn check_module_name() -> Outcome {
    let name = module_name();
    ensure(name == "selftest", || format!("module name is {name:?}"))?;
    Ok(name)
}

fn check_mgr_id() -> Outcome {
    let id = mgr_id();
    ensure(!id.is_empty(), || "empty mgr id".to_owned())?;
    Ok(id)
}

fn check_get_option() -> Outcome {
    let expect = |name: &str, ok: bool| ensure(ok, || format!("{name}: {:?}", options::get(name)));
    expect(
        "test-str",
        options::get_str("test-str").as_deref() == Some("selftest"),
    )?;
    expect("test-int", options::get_int("test-int") == Some(42))?;
    expect("test-float", options::get_float("test-float") == Some(0.25))?;
    expect("test-bool", options::get_bool("test-bool") == Some(true))?;
    expect("test-unset", matches!(options::get("test-unset"), Ok(None)))?;
    match options::get("no-such-option") {
        Err(Error::NotFound(_)) => {}
        other => return Err(format!("undeclared option gave {other:?}, not not-found")),
    }
    Ok("5 defaults; undeclared is not-found".to_owned())
}

fn check_get_store() -> Outcome {
    let key = "selftest/get";
    store::remove(key).map_err(|e| host_error("remove", e))?;
    let missing = store::get(key).map_err(|e| host_error("get", e))?;
    ensure(missing.is_none(), || {
        format!("removed key reads {missing:?}")
    })?;
    store::set(key, "value").map_err(|e| host_error("set", e))?;
    let read = store::get(key).map_err(|e| host_error("get", e))?;
    store::remove(key).map_err(|e| host_error("remove", e))?;
    ensure(read.as_deref() == Some("value"), || {
        format!("read back {read:?}")
    })?;
    Ok("missing key is none; set key reads back".to_owned())
}

fn check_set_store() -> Outcome {
    let key = "selftest/set";
    store::set(key, "one").map_err(|e| host_error("set", e))?;
    store::set(key, "two").map_err(|e| host_error("overwrite", e))?;
    let read = store::get(key).map_err(|e| host_error("get", e))?;
    ensure(read.as_deref() == Some("two"), || {
        format!("overwritten key reads {read:?}")
    })?;
    store::remove(key).map_err(|e| host_error("delete", e))?;
    let gone = store::get(key).map_err(|e| host_error("get", e))?;
    ensure(gone.is_none(), || format!("deleted key reads {gone:?}"))?;
    Ok("set, overwrite, delete".to_owned())
}

fn check_list_store() -> Outcome {
    let prefix = "selftest/list/";
    for (key, value) in [("b", "2"), ("a", "1")] {
        store::set(&format!("{prefix}{key}"), value).map_err(|e| host_error("set", e))?;
    }
    let listed = store::list(prefix).map_err(|e| host_error("list", e))?;
    for key in ["a", "b"] {
        store::remove(&format!("{prefix}{key}")).map_err(|e| host_error("delete", e))?;
    }
    let expected = [
        (format!("{prefix}a"), "1".to_owned()),
        (format!("{prefix}b"), "2".to_owned()),
    ];
    ensure(listed == expected, || format!("listed {listed:?}"))?;
    let after = store::list(prefix).map_err(|e| host_error("list", e))?;
    ensure(after.is_empty(), || format!("after delete: {after:?}"))?;
    Ok("2 keys in order; empty after delete".to_owned())
}

async fn check_set_health_checks() -> Outcome {
    let check = HealthCheck::warn(CHECK_CODE, "selftest raised this check").detail("and clears it");
    health::set(vec![check]).map_err(|e| host_error("set", e))?;
    let raised = |code: &str| cluster::health().checks.iter().any(|c| c.code == code);
    let appeared = eventually(|| raised(CHECK_CODE)).await;
    health::clear().map_err(|e| host_error("clear", e))?;
    ensure(appeared, || {
        format!("{CHECK_CODE} never showed in health()")
    })?;
    ensure(eventually(|| !raised(CHECK_CODE)).await, || {
        format!("{CHECK_CODE} stayed after clearing")
    })?;
    Ok(format!("{CHECK_CODE} raised, seen, cleared"))
}

async fn check_cluster_log() -> Outcome {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let message = format!("selftest cluster-log {stamp}");
    cluster_log("cluster", LogLevel::Info, &message);
    let seen = eventually(|| {
        cluster::clog_tail(200)
            .iter()
            .any(|e| e.message.contains(&message))
    })
    .await;
    ensure(seen, || format!("{message:?} not in clog-tail"))?;
    Ok("message found in clog-tail".to_owned())
}

fn check_is_shutting_down() -> Outcome {
    ensure(!shutdown_requested(), || "shutting down".to_owned())?;
    Ok("false".to_owned())
}

async fn check_sleep() -> Outcome {
    let start = Instant::now();
    let woke = sleep(Duration::from_millis(20)).await;
    let slept = start.elapsed();
    ensure(woke, || "woke early: shutting down".to_owned())?;
    ensure(slept >= Duration::from_millis(20), || {
        format!("slept only {slept:?}")
    })?;
    Ok(format!("20 ms took {:.1} ms", slept.as_secs_f64() * 1000.0))
}

async fn check_send_command() -> Outcome {
    let command = json!({"prefix": "osd stat", "format": "json"});
    let result = send_command(CommandTarget::Mon, command, "")
        .await
        .map_err(|e| host_error("osd stat", e))?;
    ensure(result.retval == 0, || {
        format!("osd stat: {} {}", result.retval, result.stderr)
    })?;
    let stat: Value =
        serde_json::from_str(&result.stdout).map_err(|e| format!("osd stat is not JSON: {e}"))?;
    Ok(format!(
        "osd stat: {} OSDs, {} up",
        stat["num_osds"], stat["num_up_osds"]
    ))
}

async fn check_call_module() -> Outcome {
    let result = call_module("selftest", json!({"prefix": "selftest ping"}), "")
        .await
        .map_err(|e| host_error("selftest ping", e))?;
    ensure(result.retval == 0 && result.stdout == "pong", || {
        format!(
            "selftest ping: {} {:?} {:?}",
            result.retval, result.stdout, result.stderr
        )
    })?;
    Ok("selftest ping answered pong".to_owned())
}

/// Run the check of one import.
async fn check(import: &str) -> Outcome {
    match import {
        "cluster.get" => check_get(),
        "cluster.get-epochs" => check_epochs(),
        "cluster.get-mon-map" => check_mon_map(),
        "cluster.get-osd-map" => check_osd_map(),
        "cluster.get-fs-map" => check_fs_map(),
        "cluster.get-mgr-map" => check_mgr_map(),
        "cluster.get-health" => check_health(),
        "cluster.get-pg-summary" => check_pg_summary(),
        "cluster.get-df" => check_df(),
        "cluster.list-servers" => check_list_servers(),
        "cluster.get-server" => check_get_server(),
        "cluster.get-metadata" => check_get_metadata(),
        "cluster.perf-counters" => check_perf_counters(),
        "cluster.clog-tail" => check_clog_tail(),
        "cluster.have-mon-connection" => check_have_mon_connection(),
        "mgr.log" => check_log(),
        "mgr.module-name" => check_module_name(),
        "mgr.mgr-id" => check_mgr_id(),
        "mgr.get-option" => check_get_option(),
        "mgr.get-store" => check_get_store(),
        "mgr.set-store" => check_set_store(),
        "mgr.list-store" => check_list_store(),
        "mgr.set-health-checks" => check_set_health_checks().await,
        "mgr.cluster-log" => check_cluster_log().await,
        "mgr.is-shutting-down" => check_is_shutting_down(),
        "mgr-async.sleep" => check_sleep().await,
        "mgr-async.send-command" => check_send_command().await,
        "mgr-async.call-module" => check_call_module().await,
        other => Err(format!("no check for {other}")),
    }
}

/// Run the checks of `imports` one after another.
async fn run<'a>(imports: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, Outcome)> {
    let mut results = Vec::new();
    for import in imports {
        results.push((import, check(import).await));
    }
    results
}

/// The report: a table (or JSON), retval 0 if every check passed, else -EIO.
fn report(command: &Command, results: &[(&str, Outcome)]) -> CommandResult {
    let failed = results
        .iter()
        .filter(|(_, outcome)| outcome.is_err())
        .count();
    let passed = results.len() - failed;
    let mut answer = if command.wants_json() {
        let list: Vec<Value> = results
            .iter()
            .map(|(import, outcome)| {
                let (pass, detail) = match outcome {
                    Ok(detail) => (true, detail),
                    Err(detail) => (false, detail),
                };
                json!({"import": import, "pass": pass, "detail": detail})
            })
            .collect();
        CommandResult::json_for(
            command,
            &json!({"results": list, "passed": passed, "failed": failed}),
        )
    } else {
        let mut table = Table::new(&["import", "result", "detail"]);
        for (import, outcome) in results {
            match outcome {
                Ok(detail) => table.row([*import, "pass", detail]),
                Err(detail) => table.row([*import, "fail", detail]),
            }
        }
        CommandResult::ok(table.to_string())
    };
    if failed > 0 {
        answer.retval = -errno::EIO;
    }
    answer.with_stderr(format!("{passed} passed, {failed} failed"))
}

/// The module: stateless, every check reads the host afresh.
#[derive(Default)]
struct Selftest;

#[commands]
impl Module for Selftest {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("selftest", env!("CARGO_PKG_VERSION"))
            .description("Checks every host service of the ceph:mgr contract")
            .option(
                ModuleOption::str("test-str")
                    .default("selftest")
                    .desc("Checked for its default"),
            )
            .option(
                ModuleOption::int("test-int")
                    .default(42)
                    .min(0)
                    .desc("Checked for its default"),
            )
            .option(
                ModuleOption::float("test-float")
                    .default(0.25)
                    .desc("Checked for its default"),
            )
            .option(
                ModuleOption::bool("test-bool")
                    .default(true)
                    .desc("Checked for its default"),
            )
            .option(ModuleOption::str("test-unset").desc("Has no default: checked to read none"))
    }

    /// Check every host import, or the one named (cluster.get, mgr.sleep, ...)
    #[write_command("selftest run")]
    async fn run(&self, command: &Command, import: Option<&str>) -> CommandResult {
        match import {
            None => report(command, &run(IMPORTS).await),
            Some(import) if IMPORTS.contains(&import) => report(command, &run([import]).await),
            Some(import) => CommandResult::error(
                errno::ENOENT,
                format!("unknown import {import}; known: {}", IMPORTS.join(", ")),
            ),
        }
    }

    /// Answer pong (the call-module check calls it)
    #[read_command("selftest ping")]
    fn ping(&self) -> &'static str {
        "pong"
    }
}

export_module!(Selftest);
