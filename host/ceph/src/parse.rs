//! A real cluster's JSON (`ceph ... --format json`, Ceph 16.2) into the host's model.
//! Missing fields read as zero or empty: the model never fails on a field a release
//! added or dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use wasm_mgr_cluster::model::*;
use wasm_mgr_cluster::time::parse_unix_secs;

/// Tolerant field access: numbers may arrive as strings (`"last_change": "16"`).
trait Field {
    fn u(&self, key: &str) -> u64;
    fn i(&self, key: &str) -> i64;
    fn f(&self, key: &str) -> f64;
    fn s(&self, key: &str) -> String;
    fn arr(&self, key: &str) -> &[Value];
}

impl Field for Value {
    fn u(&self, key: &str) -> u64 {
        match self.get(key) {
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| n.as_f64().map(|f| f.max(0.0) as u64))
                .unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            Some(Value::Bool(b)) => u64::from(*b),
            _ => 0,
        }
    }

    fn i(&self, key: &str) -> i64 {
        match self.get(key) {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    }

    fn f(&self, key: &str) -> f64 {
        match self.get(key) {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
            _ => 0.0,
        }
    }

    fn s(&self, key: &str) -> String {
        match self.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    }

    fn arr(&self, key: &str) -> &[Value] {
        self.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// The v2 `ip:port` and nonce of an `addrvec` (`public_addrs`), falling back to the
/// legacy `ip:port/nonce` string.
fn v2_addr(addrs: Option<&Value>, legacy: &str) -> (String, u32) {
    let vec = addrs.map(|a| a.arr("addrvec")).unwrap_or(&[]);
    let pick = vec
        .iter()
        .find(|a| a.s("type") == "v2")
        .or_else(|| vec.first());
    match pick {
        Some(a) => (a.s("addr"), a.u("nonce") as u32),
        None => {
            let (addr, nonce) = legacy.split_once('/').unwrap_or((legacy, "0"));
            (addr.to_string(), nonce.parse().unwrap_or(0))
        }
    }
}

/// `mon dump` plus `quorum_status` (leader, election epoch).
pub fn mon_map(dump: &Value, quorum: &Value) -> MonMap {
    let ranks: Vec<u32> = quorum
        .arr("quorum")
        .iter()
        .chain(if quorum.get("quorum").is_none() {
            dump.arr("quorum")
        } else {
            &[]
        })
        .filter_map(|r| r.as_u64().map(|r| r as u32))
        .collect();
    let mons = dump
        .arr("mons")
        .iter()
        .map(|m| {
            let rank = m.u("rank") as u32;
            MonInfo {
                name: m.s("name"),
                rank,
                public_addr: v2_addr(m.get("public_addrs"), &m.s("public_addr")).0,
                in_quorum: ranks.contains(&rank),
            }
        })
        .collect();
    let leader = quorum.s("quorum_leader_name");
    MonMap {
        epoch: dump.u("epoch"),
        fsid: dump.s("fsid"),
        mons,
        quorum: ranks,
        leader: (!leader.is_empty()).then_some(leader),
        election_epoch: quorum.u("election_epoch"),
        created: dump.s("created"),
        modified: dump.s("modified"),
    }
}

/// Host and device class of every OSD, from `osd tree`.
struct Placement {
    host: HashMap<i64, String>,
    class: HashMap<i64, String>,
    crush_weight: HashMap<i64, f64>,
}

fn placement(tree: &Value) -> Placement {
    let mut p = Placement {
        host: HashMap::new(),
        class: HashMap::new(),
        crush_weight: HashMap::new(),
    };
    for node in tree.arr("nodes") {
        match node.s("type").as_str() {
            "osd" => {
                let id = node.i("id");
                p.class.insert(id, node.s("device_class"));
                p.crush_weight.insert(id, node.f("crush_weight"));
            }
            "host" => {
                for child in node.arr("children") {
                    if let Some(id) = child.as_i64() {
                        p.host.insert(id, node.s("name"));
                    }
                }
            }
            _ => {}
        }
    }
    p
}

/// `osd dump` plus `osd tree` (hosts, device classes, CRUSH weights).
pub fn osd_map(dump: &Value, tree: &Value) -> OsdMap {
    let place = placement(tree);
    let osds = dump
        .arr("osds")
        .iter()
        .map(|o| {
            let id = o.i("osd");
            let (public_addr, nonce) = v2_addr(o.get("public_addrs"), &o.s("public_addr"));
            let (cluster_addr, _) = v2_addr(o.get("cluster_addrs"), &o.s("cluster_addr"));
            OsdInfo {
                id: id as i32,
                uuid: o.s("uuid"),
                up: o.u("up") == 1,
                in_: o.u("in") == 1,
                weight: o.f("weight"),
                crush_weight: place.crush_weight.get(&id).copied().unwrap_or(0.0),
                primary_affinity: o.f("primary_affinity"),
                host: place.host.get(&id).cloned().unwrap_or_default(),
                device_class: place.class.get(&id).cloned().unwrap_or_default(),
                public_addr,
                cluster_addr,
                up_from: o.u("up_from"),
                down_at: o.u("down_at"),
                nonce,
            }
        })
        .collect();
    let pools = dump
        .arr("pools")
        .iter()
        .map(|p| PoolInfo {
            id: p.i("pool"),
            name: p.s("pool_name"),
            pool_type: if p.u("type") == 3 {
                "erasure".into()
            } else {
                "replicated".into()
            },
            size: p.u("size") as u32,
            min_size: p.u("min_size") as u32,
            pg_num: p.u("pg_num") as u32,
            pgp_num: p.u("pg_placement_num") as u32,
            crush_rule: p.u("crush_rule") as u32,
            applications: p
                .get("application_metadata")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            quota_max_bytes: p.u("quota_max_bytes"),
            quota_max_objects: p.u("quota_max_objects"),
            create_time: p.s("create_time"),
            last_change: p.u("last_change"),
        })
        .collect();
    let flags = dump
        .s("flags")
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    OsdMap {
        epoch: dump.u("epoch"),
        fsid: dump.s("fsid"),
        flags,
        osds,
        pools,
        full_ratio: dump.f("full_ratio"),
        backfillfull_ratio: dump.f("backfillfull_ratio"),
        nearfull_ratio: dump.f("nearfull_ratio"),
        created: dump.s("created"),
        modified: dump.s("modified"),
        pool_max: dump.i("pool_max"),
        last_up_change: parse_unix_secs(&dump.s("last_up_change")).unwrap_or(0),
        last_in_change: parse_unix_secs(&dump.s("last_in_change")).unwrap_or(0),
    }
}

fn mds(i: &Value) -> MdsInfo {
    MdsInfo {
        name: i.s("name"),
        gid: i.u("gid"),
        rank: i.i("rank") as i32,
        state: i.s("state"),
        addr: v2_addr(i.get("addrs"), &i.s("addr")).0,
    }
}

/// `fs dump`.
pub fn fs_map(dump: &Value) -> FsMap {
    let filesystems = dump
        .arr("filesystems")
        .iter()
        .map(|f| {
            let m = f.get("mdsmap").cloned().unwrap_or(Value::Null);
            let mdss = m
                .get("info")
                .and_then(Value::as_object)
                .map(|info| info.values().map(mds).collect())
                .unwrap_or_default();
            Filesystem {
                id: f.i("id"),
                name: m.s("fs_name"),
                metadata_pool: m.i("metadata_pool"),
                data_pools: m
                    .arr("data_pools")
                    .iter()
                    .filter_map(Value::as_i64)
                    .collect(),
                max_mds: m.u("max_mds") as u32,
                mdss,
                created: m.s("created"),
                mds_epoch: m.u("epoch"),
            }
        })
        .collect();
    FsMap {
        epoch: dump.u("epoch"),
        filesystems,
        standbys: dump.arr("standbys").iter().map(mds).collect(),
    }
}

/// `mgr dump`.
pub fn mgr_map(dump: &Value) -> MgrMap {
    MgrMap {
        epoch: dump.u("epoch"),
        active_name: dump.s("active_name"),
        active_gid: dump.u("active_gid"),
        active_addr: v2_addr(dump.get("active_addrs"), &dump.s("active_addr")).0,
        available: dump
            .get("available")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        standbys: dump
            .arr("standbys")
            .iter()
            .map(|s| MgrStandby {
                name: s.s("name"),
                gid: s.u("gid"),
            })
            .collect(),
        modules: dump
            .arr("modules")
            .iter()
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect(),
        services: dump
            .get("services")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `health detail`: the checks, sorted by code.
pub fn health_checks(detail: &Value) -> Vec<HealthCheck> {
    let Some(checks) = detail.get("checks").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out: Vec<HealthCheck> = checks
        .iter()
        .map(|(code, c)| {
            let summary = c.get("summary").cloned().unwrap_or(Value::Null);
            HealthCheck {
                code: code.clone(),
                severity: c.s("severity").parse().unwrap_or(HealthStatus::Warn),
                summary: summary.s("message"),
                detail: c.arr("detail").iter().map(|d| d.s("message")).collect(),
                count: summary.u("count"),
            }
        })
        .collect();
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out
}

/// A PG state string (`active+undersized+degraded`) as state bits; words the model
/// has no bit for are left out.
pub fn pg_state(name: &str) -> PgState {
    name.split('+').fold(PgState::default(), |s, word| {
        let bit = match word {
            "active" => PgState::ACTIVE,
            "clean" => PgState::CLEAN,
            "undersized" => PgState::UNDERSIZED,
            "degraded" => PgState::DEGRADED,
            "remapped" => PgState::REMAPPED,
            "scrubbing" => PgState::SCRUBBING,
            "deep" => PgState::DEEP,
            "backfill_wait" => PgState::BACKFILL_WAIT,
            "backfilling" => PgState::BACKFILLING,
            "recovering" => PgState::RECOVERING,
            "recovery_wait" => PgState::RECOVERY_WAIT,
            "peered" => PgState::PEERED,
            "stale" => PgState::STALE,
            "peering" => PgState::PEERING,
            _ => PgState::default(),
        };
        s.with(bit)
    })
}

/// Client IO and recovery rates of the whole cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// Bytes read per second.
    pub read_bytes_sec: u64,
    /// Bytes written per second.
    pub write_bytes_sec: u64,
    /// Read operations per second.
    pub read_op_per_sec: u64,
    /// Write operations per second.
    pub write_op_per_sec: u64,
    /// Recovered bytes per second.
    pub recovering_bytes_per_sec: u64,
    /// Recovered objects per second.
    pub recovering_objects_per_sec: u64,
}

/// The cluster's IO and recovery rates from `pg dump`'s `pg_stats_delta` (the
/// growth over the manager's last interval), as `ceph status` computes them.
pub fn rates_from_delta(pg_map: &Value) -> Rates {
    let delta = pg_map.get("pg_stats_delta").unwrap_or(&Value::Null);
    let secs = delta.f("stamp_delta");
    if secs <= 0.0 {
        return Rates::default();
    }
    let sum = delta.get("stat_sum").unwrap_or(&Value::Null);
    let per_sec = |v: u64| (v as f64 / secs) as u64;
    Rates {
        read_bytes_sec: per_sec(sum.u("num_read_kb") * 1024),
        write_bytes_sec: per_sec(sum.u("num_write_kb") * 1024),
        read_op_per_sec: per_sec(sum.u("num_read")),
        write_op_per_sec: per_sec(sum.u("num_write")),
        recovering_bytes_per_sec: per_sec(sum.u("num_bytes_recovered")),
        recovering_objects_per_sec: per_sec(sum.u("num_objects_recovered")),
    }
}

/// A daemon's messenger v2 address with its nonce, from an `addrvec` in a dump
/// (`public_addrs`, `active_addrs`).
pub fn msgr2_addr(addrs: &Value) -> Option<String> {
    addrs
        .arr("addrvec")
        .iter()
        .find(|a| a.s("type") == "v2")
        .map(|a| format!("v2:{}/{}", a.s("addr"), a.u("nonce")))
}

fn pool_stat(p: &Value, previous: Option<&PoolStat>, secs: f64) -> PoolStat {
    let sum = p.get("stat_sum").cloned().unwrap_or(Value::Null);
    let mut s = PoolStat {
        id: p.i("poolid"),
        num_pg: p.u("num_pg"),
        objects: sum.u("num_objects"),
        bytes: sum.u("num_bytes"),
        rd: sum.u("num_read"),
        rd_bytes: sum.u("num_read_kb") * 1024,
        wr: sum.u("num_write"),
        wr_bytes: sum.u("num_write_kb") * 1024,
        degraded_objects: sum.u("num_objects_degraded"),
        misplaced_objects: sum.u("num_objects_misplaced"),
        ..PoolStat::default()
    };
    if let Some(prev) = previous.filter(|_| secs > 0.0) {
        let rate = |now: u64, then: u64| (now.saturating_sub(then) as f64 / secs) as u64;
        s.read_bytes_sec = rate(s.rd_bytes, prev.rd_bytes);
        s.write_bytes_sec = rate(s.wr_bytes, prev.wr_bytes);
        s.read_op_per_sec = rate(s.rd, prev.rd);
        s.write_op_per_sec = rate(s.wr, prev.wr);
    }
    s
}

/// `pg dump` (all of it) into the PG summary and the table of PG states. Per-pool
/// rates are the growth of each pool's totals since `previous`, over the time
/// between the two dumps; cluster rates come from the dump's delta.
pub fn pg_summary(dump: &Value, previous: &PgSummary, rates: Rates) -> (PgSummary, PgTable) {
    let map = dump.get("pg_map").unwrap_or(dump);
    let stamp = map.s("stamp");
    let secs = match (parse_unix_secs(&stamp), parse_unix_secs(&previous.stamp)) {
        (Some(now), Some(then)) if now > then => (now - then) as f64,
        _ => 0.0,
    };
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_pool: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
    let mut table: BTreeMap<i64, Vec<PgState>> = BTreeMap::new();
    let mut primary: HashMap<i64, u32> = HashMap::new();
    for pg in map.arr("pg_stats") {
        let state = pg.s("state");
        let Some((pool, ps)) = parse_pgid(&pg.s("pgid")) else {
            continue;
        };
        *by_state.entry(state.clone()).or_default() += 1;
        *by_pool
            .entry(pool)
            .or_default()
            .entry(state.clone())
            .or_default() += 1;
        let states = table.entry(pool).or_default();
        if states.len() <= ps as usize {
            states.resize(ps as usize + 1, PgState::default());
        }
        states[ps as usize] = pg_state(&state);
        *primary.entry(pg.i("acting_primary")).or_default() += 1;
    }
    let counts = |m: BTreeMap<String, u64>| {
        m.into_iter()
            .map(|(state, count)| PgStateCount { state, count })
            .collect::<Vec<_>>()
    };
    let pools: Vec<PoolStat> = map
        .arr("pool_stats")
        .iter()
        .map(|p| {
            let id = p.i("poolid");
            pool_stat(p, previous.pools.iter().find(|q| q.id == id), secs)
        })
        .collect();
    let osds = map
        .arr("osd_stats")
        .iter()
        .map(|o| {
            let id = o.i("osd");
            let perf = o.get("perf_stat").cloned().unwrap_or(Value::Null);
            OsdStat {
                id: id as i32,
                up_from: o.u("up_from"),
                total_bytes: o.u("kb") * 1024,
                used_bytes: o.u("kb_used") * 1024,
                num_pgs: o.u("num_pgs") as u32,
                num_pgs_primary: primary.get(&id).copied().unwrap_or(0),
                commit_latency_ms: perf.u("commit_latency_ms") as u32,
                apply_latency_ms: perf.u("apply_latency_ms") as u32,
            }
        })
        .collect();
    let sum = map
        .get("pg_stats_sum")
        .and_then(|s| s.get("stat_sum"))
        .cloned()
        .unwrap_or(Value::Null);
    let osd_sum = map.get("osd_stats_sum").cloned().unwrap_or(Value::Null);
    let delta = map.get("pg_stats_delta").cloned().unwrap_or(Value::Null);
    let summary = PgSummary {
        epoch: map.u("version"),
        num_pgs: map.arr("pg_stats").len() as u64,
        num_objects: sum.u("num_objects"),
        by_state: counts(by_state),
        by_pool: by_pool
            .into_iter()
            .map(|(pool_id, m)| PoolPgStates {
                pool_id,
                states: counts(m),
            })
            .collect(),
        degraded_objects: sum.u("num_objects_degraded"),
        misplaced_objects: sum.u("num_objects_misplaced"),
        read_bytes_sec: rates.read_bytes_sec,
        write_bytes_sec: rates.write_bytes_sec,
        read_op_per_sec: rates.read_op_per_sec,
        write_op_per_sec: rates.write_op_per_sec,
        recovering_bytes_per_sec: rates.recovering_bytes_per_sec,
        recovering_objects_per_sec: rates.recovering_objects_per_sec,
        num_object_copies: sum.u("num_object_copies"),
        data_bytes: sum.u("num_bytes"),
        bytes_used: osd_sum.u("kb_used") * 1024,
        bytes_avail: osd_sum.u("kb_avail") * 1024,
        bytes_total: osd_sum.u("kb") * 1024,
        stamp,
        stamp_delta: delta.f("stamp_delta"),
        pools,
        osds,
    };
    let table = PgTable {
        pools: table
            .into_iter()
            .map(|(pool, states)| Arc::new(PoolPgs { pool, states }))
            .collect(),
    };
    (summary, table)
}

/// `df detail`.
pub fn df(dump: &Value) -> Df {
    let stats = dump.get("stats").cloned().unwrap_or(Value::Null);
    Df {
        epoch: 0,
        total_bytes: stats.u("total_bytes"),
        total_used_bytes: stats.u("total_used_bytes"),
        total_avail_bytes: stats.u("total_avail_bytes"),
        pools: dump
            .arr("pools")
            .iter()
            .map(|p| {
                let s = p.get("stats").cloned().unwrap_or(Value::Null);
                PoolUsage {
                    id: p.i("id"),
                    name: p.s("name"),
                    stored: s.u("stored"),
                    objects: s.u("objects"),
                    bytes_used: s.u("bytes_used"),
                    max_avail: s.u("max_avail"),
                    percent_used: s.f("percent_used"),
                    rd: s.u("rd"),
                    rd_bytes: s.u("rd_bytes"),
                    wr: s.u("wr"),
                    wr_bytes: s.u("wr_bytes"),
                    quota_objects: s.u("quota_objects"),
                    quota_bytes: s.u("quota_bytes"),
                }
            })
            .collect(),
        by_class: dump
            .get("stats_by_class")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(class, c)| ClassUsage {
                        class: class.clone(),
                        total_bytes: c.u("total_bytes"),
                        total_used_bytes: c.u("total_used_bytes"),
                        total_avail_bytes: c.u("total_avail_bytes"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        num_osds: stats.u("num_osds") as u32,
    }
}

/// `service dump`.
pub fn service_map(dump: &Value) -> ServiceMap {
    ServiceMap {
        epoch: dump.u("epoch"),
        modified: dump.s("modified"),
        services: dump
            .get("services")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(name, s)| ServiceEntry {
                        name: name.clone(),
                        daemons: s
                            .get("daemons")
                            .and_then(Value::as_object)
                            .map(|d| d.keys().filter(|k| *k != "summary").cloned().collect())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `config dump`.
pub fn config(dump: &Value) -> Vec<ConfigEntry> {
    dump.as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|e| ConfigEntry {
            section: e.s("section"),
            name: e.s("name"),
            value: e.s("value"),
            level: e.s("level"),
            can_update_at_runtime: e
                .get("can_update_at_runtime")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            mask: e.s("mask"),
        })
        .collect()
}

/// `osd metadata`, `mon metadata` or `mgr metadata` (a list of objects, the daemon's
/// id under `id_key`) into metadata of daemons of `kind`.
pub fn metadata(kind: &str, id_key: &str, list: &Value, into: &mut MetadataMap) {
    into.retain(|k, _| k.kind != kind);
    let common = Arc::new(Vec::new());
    for m in list.as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let Some(obj) = m.as_object() else { continue };
        let id = m.s(id_key);
        if id.is_empty() {
            continue;
        }
        let own = obj
            .iter()
            .filter(|(k, _)| k.as_str() != id_key)
            .map(|(k, _)| (k.clone(), m.s(k)))
            .collect();
        into.insert(
            DaemonKey {
                kind: kind.to_string(),
                id,
            },
            DaemonMetadata {
                common: Arc::clone(&common),
                own,
            },
        );
    }
}

/// Hosts and their daemons, from the daemons' metadata (`hostname`, `ceph_version`).
pub fn servers(metadata: &MetadataMap) -> Vec<Server> {
    let mut by_host: BTreeMap<String, Server> = BTreeMap::new();
    for (key, meta) in metadata {
        let find = |name: &str| {
            meta.own
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let host = find("hostname");
        if host.is_empty() {
            continue;
        }
        let server = by_host.entry(host.clone()).or_insert_with(|| Server {
            hostname: host,
            ceph_version: find("ceph_version"),
            daemons: Vec::new(),
        });
        server.daemons.push(key.clone());
    }
    by_host.into_values().collect()
}

/// Lowest priority of the counters a daemon reports to the manager (Ceph's
/// `PRIO_USEFUL`, the default `mgr_stats_threshold`).
pub const PRIO_USEFUL: u64 = 5;

/// Perf counter type bits (`PERFCOUNTER_*`).
const TYPE_TIME: u64 = 0x1;
const TYPE_LONGRUNAVG: u64 = 0x4;
const TYPE_COUNTER: u64 = 0x8;
const TYPE_HISTOGRAM: u64 = 0x10;

/// Where to read one counter in a daemon's `perf dump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterRead {
    section: String,
    name: String,
    /// The value is a time in seconds (kept in nanoseconds).
    time: bool,
}

/// A daemon's `perf schema` as counter definitions and where to read each in `perf
/// dump`. Histograms and
/// counters below [`PRIO_USEFUL`] are left out, as a daemon leaves them out of its
/// reports to the manager.
pub fn perf_schema(schema: &Value) -> (Arc<[CounterDef]>, Vec<CounterRead>) {
    let mut defs = Vec::new();
    let mut reads = Vec::new();
    for (section, counters) in schema.as_object().into_iter().flatten() {
        for (name, c) in counters.as_object().into_iter().flatten() {
            let ty = c.u("type");
            if ty & TYPE_HISTOGRAM != 0 || c.u("priority") < PRIO_USEFUL {
                continue;
            }
            let kind = if ty & TYPE_LONGRUNAVG != 0 {
                CounterKind::Average
            } else if ty & TYPE_COUNTER != 0 {
                CounterKind::Counter
            } else {
                CounterKind::Gauge
            };
            defs.push(CounterDef {
                path: format!("{section}.{name}"),
                kind,
                description: c.s("description"),
            });
            reads.push(CounterRead {
                section: section.clone(),
                name: name.clone(),
                time: ty & TYPE_TIME != 0,
            });
        }
    }
    (defs.into(), reads)
}

/// Values of a daemon's `perf dump` in the order of its schema: times in
/// nanoseconds, averages as (sum, count).
pub fn perf_values(dump: &Value, reads: &[CounterRead]) -> Vec<(u64, u64)> {
    let scale = |v: Option<&Value>, time: bool| -> u64 {
        let Some(v) = v else { return 0 };
        if time {
            (v.as_f64().unwrap_or(0.0) * 1e9) as u64
        } else {
            v.as_u64()
                .or_else(|| v.as_f64().map(|f| f as u64))
                .unwrap_or(0)
        }
    };
    reads
        .iter()
        .map(
            |r| match dump.get(&r.section).and_then(|s| s.get(&r.name)) {
                Some(v @ Value::Object(_)) => (scale(v.get("sum"), r.time), v.u("avgcount")),
                v => (scale(v, r.time), 0),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn osd_map_with_tree() {
        let dump = json!({
            "epoch": 19, "fsid": "f", "flags": "noout,sortbitwise",
            "last_up_change": "2026-11-24T14:58:28.000000+0000",
            "osds": [{"osd": 0, "uuid": "u", "up": 1, "in": 1, "weight": 1,
                      "primary_affinity": 1, "up_from": 5, "down_at": 0,
                      "public_addrs": {"addrvec": [{"type": "v2", "addr": "127.0.0.1:6800", "nonce": 7}]},
                      "cluster_addr": "127.0.0.1:6803/7"}],
            "pools": [{"pool": 1, "pool_name": "rbd", "type": 1, "size": 3, "pg_num": 8,
                       "pg_placement_num": 8, "last_change": "16",
                       "application_metadata": {"rbd": {}}}]
        });
        let tree = json!({"nodes": [
            {"id": -2, "type": "host", "name": "h1", "children": [0]},
            {"id": 0, "type": "osd", "device_class": "hdd", "crush_weight": 0.5}
        ]});
        let m = osd_map(&dump, &tree);
        assert_eq!(m.epoch, 19);
        assert!(m.has_flag("noout"));
        let o = &m.osds[0];
        assert_eq!((o.up, o.in_, o.nonce), (true, true, 7));
        assert_eq!((o.host.as_str(), o.device_class.as_str()), ("h1", "hdd"));
        assert_eq!(o.public_addr, "127.0.0.1:6800");
        assert_eq!(o.cluster_addr, "127.0.0.1:6803");
        assert_eq!(m.pools[0].last_change, 16);
        assert_eq!(m.pools[0].applications, vec!["rbd".to_string()]);
        assert_eq!(m.last_up_change, 1_795_532_308);
    }

    #[test]
    fn health_and_pg_states() {
        let h = json!({"status": "HEALTH_WARN", "checks": {"OSD_DOWN": {
            "severity": "HEALTH_WARN", "summary": {"message": "1 osds down", "count": 1},
            "detail": [{"message": "osd.1 is down"}]}}});
        let c = health_checks(&h);
        assert_eq!(c[0].code, "OSD_DOWN");
        assert_eq!(c[0].severity, HealthStatus::Warn);
        assert_eq!(c[0].detail, vec!["osd.1 is down".to_string()]);
        assert_eq!(
            pg_state("active+undersized+degraded").name(),
            "active+undersized+degraded"
        );
    }

    #[test]
    fn perf_counters_keep_useful_ones() {
        let schema = json!({"osd": {
            "op": {"type": 10, "priority": 8, "description": "ops"},
            "op_latency": {"type": 5, "priority": 9, "description": "latency"},
            "quiet": {"type": 2, "priority": 0, "description": "debug"},
            "hist": {"type": 18, "priority": 9, "description": "histogram"}
        }});
        let (defs, reads) = perf_schema(&schema);
        assert_eq!(defs.len(), 2);
        let dump = json!({"osd": {"op": 42, "op_latency": {"avgcount": 2, "sum": 0.5}}});
        let values = perf_values(&dump, &reads);
        let op = defs.iter().position(|d| d.path == "osd.op").unwrap();
        let lat = defs
            .iter()
            .position(|d| d.path == "osd.op_latency")
            .unwrap();
        assert_eq!(defs[op].kind, CounterKind::Counter);
        assert_eq!(defs[lat].kind, CounterKind::Average);
        assert_eq!(values[op], (42, 0));
        assert_eq!(values[lat], (500_000_000, 2));
    }
}
