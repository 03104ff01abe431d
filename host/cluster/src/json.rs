//! The JSON ceph-mgr 16.2.15's `get(data_name)` returns, rendered from a [`Snapshot`]
//! with Ceph's field names, plus the JSON of a few CLI commands built from the same
//! pieces (`status`, `osd df`, `quorum_status`, `pg dump`).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::model::{DaemonKey, Filesystem, MdsInfo, OsdInfo, PgState, PoolInfo, PoolStat};
use super::placement::Placement;
use super::{Snapshot, time};

/// The names [`Snapshot::get_json`] knows.
pub const GET_NAMES: &[&str] = &[
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

/// Why `get` failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetError {
    /// Unknown name; the message lists the known ones.
    NotFound(String),
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::NotFound(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for GetError {}

/// Ceph's version string of the daemons the host reports.
pub const CEPH_VERSION: &str =
    "ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)";

/// Feature bits Pacific daemons report.
const FEATURES: u64 = 4_540_138_314_316_775_423;

const MON_FEATURES: [&str; 8] = [
    "kraken",
    "luminous",
    "mimic",
    "osdmap-prune",
    "nautilus",
    "octopus",
    "pacific",
    "elector-pinging",
];

fn ip_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip)
}

fn port_of(addr: &str) -> u32 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0)
}

/// `{"addrvec": [v2, v1]}` for a v2 address `ip:port` (v1 on port + 1).
fn addrvec(v2: &str, nonce: u32) -> Value {
    let v1 = format!("{}:{}", ip_of(v2), port_of(v2) + 1);
    json!({"addrvec": [
        {"type": "v2", "addr": v2, "nonce": nonce},
        {"type": "v1", "addr": v1, "nonce": nonce},
    ]})
}

/// Legacy `ip:port/nonce` of the v1 address.
fn legacy_addr(v2: &str, nonce: u32) -> String {
    format!("{}:{}/{}", ip_of(v2), port_of(v2) + 1, nonce)
}

/// `[v2:ip:port/nonce,v1:ip:port+1/nonce]`.
pub fn addrvec_str(v2: &str, nonce: u32) -> String {
    format!(
        "[v2:{v2}/{nonce},v1:{}:{}/{nonce}]",
        ip_of(v2),
        port_of(v2) + 1
    )
}

fn stamp_secs(secs: u64) -> String {
    time::ceph_stamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Per-object statistics as Ceph's `object_stat_sum_t`.
#[derive(Clone, Copy, Debug, Default)]
struct StatSum {
    bytes: u64,
    objects: u64,
    copies: u64,
    degraded: u64,
    misplaced: u64,
    read: u64,
    read_kb: u64,
    write: u64,
    write_kb: u64,
}

impl StatSum {
    fn json(&self) -> Value {
        let mut m = Map::new();
        let fields: [(&str, u64); 40] = [
            ("num_bytes", self.bytes),
            ("num_objects", self.objects),
            ("num_object_clones", 0),
            ("num_object_copies", self.copies),
            ("num_objects_missing_on_primary", 0),
            ("num_objects_missing", 0),
            ("num_objects_degraded", self.degraded),
            ("num_objects_misplaced", self.misplaced),
            ("num_objects_unfound", 0),
            ("num_objects_dirty", self.objects),
            ("num_whiteouts", 0),
            ("num_read", self.read),
            ("num_read_kb", self.read_kb),
            ("num_write", self.write),
            ("num_write_kb", self.write_kb),
            ("num_scrub_errors", 0),
            ("num_shallow_scrub_errors", 0),
            ("num_deep_scrub_errors", 0),
            ("num_objects_recovered", 0),
            ("num_bytes_recovered", 0),
            ("num_keys_recovered", 0),
            ("num_objects_omap", 0),
            ("num_objects_hit_set_archive", 0),
            ("num_bytes_hit_set_archive", 0),
            ("num_flush", 0),
            ("num_flush_kb", 0),
            ("num_evict", 0),
            ("num_evict_kb", 0),
            ("num_promote", 0),
            ("num_flush_mode_high", 0),
            ("num_flush_mode_low", 0),
            ("num_evict_mode_some", 0),
            ("num_evict_mode_full", 0),
            ("num_objects_pinned", 0),
            ("num_legacy_snapsets", 0),
            ("num_large_omap_objects", 0),
            ("num_objects_manifest", 0),
            ("num_omap_bytes", 0),
            ("num_omap_keys", 0),
            ("num_objects_repaired", 0),
        ];
        for (k, v) in fields {
            m.insert(k.to_string(), json!(v));
        }
        Value::Object(m)
    }

    fn of_pool(s: &PoolStat, size: u32) -> StatSum {
        StatSum {
            bytes: s.bytes,
            objects: s.objects,
            copies: s.objects * u64::from(size),
            degraded: s.degraded_objects,
            misplaced: s.misplaced_objects,
            read: s.rd,
            read_kb: s.rd_bytes / 1024,
            write: s.wr,
            write_kb: s.wr_bytes / 1024,
        }
    }

    fn add(&mut self, o: &StatSum) {
        self.bytes += o.bytes;
        self.objects += o.objects;
        self.copies += o.copies;
        self.degraded += o.degraded;
        self.misplaced += o.misplaced;
        self.read += o.read;
        self.read_kb += o.read_kb;
        self.write += o.write;
        self.write_kb += o.write_kb;
    }
}

fn store_stats(total: u64, available: u64, stored: u64) -> Value {
    json!({
        "total": total,
        "available": available,
        "internally_reserved": 0,
        "allocated": total.saturating_sub(available),
        "data_stored": stored,
        "data_compressed": 0,
        "data_compressed_allocated": 0,
        "data_compressed_original": 0,
        "omap_allocated": 0,
        "internal_metadata": 0,
    })
}

fn pg_sum_json(sum: &StatSum, up: u64, extra: Option<(&str, Value)>) -> Value {
    let mut v = json!({
        "stat_sum": sum.json(),
        "store_stats": store_stats(0, 0, 0),
        "log_size": 0,
        "ondisk_log_size": 0,
        "up": up,
        "acting": up,
        "num_store_stats": 0,
    });
    if let (Some((k, x)), Some(m)) = (extra, v.as_object_mut()) {
        m.insert(k.to_string(), x);
    }
    v
}

/// Split `total` evenly over `n` parts; part `i` gets the remainder first.
fn share(total: u64, n: u64, i: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    total / n + u64::from(i < total % n)
}

/// Per-PG objects of a pool.
fn pg_objects(s: &PoolStat, pg_num: u32, ps: u32) -> u64 {
    share(s.objects, u64::from(pg_num), u64::from(ps))
}

impl Snapshot {
    /// The JSON ceph-mgr's `get(name)` returns for `name`.
    pub fn get_json(&self, name: &str) -> Result<String, GetError> {
        if let Some(raw) = self.raw.get(name) {
            return Ok(raw.to_string());
        }
        match name {
            // Generated on demand (huge at 1,000,000 PGs): no cache, no copy.
            "pg_dump" => Ok(self.pg_dump_json()),
            "pg_stats" => Ok(self.pg_stats_json()),
            _ => self.get_json_shared(name).map(|s| s.to_string()),
        }
    }

    fn pg_stats_json(&self) -> String {
        let mut out = String::from("{\"pg_stats\":");
        self.write_pg_stats(&mut out);
        out.push('}');
        out
    }

    /// As [`Snapshot::get_json`], sharing the cached string (no copy) where there is one.
    pub fn get_json_shared(&self, name: &str) -> Result<Arc<str>, GetError> {
        if let Some(raw) = self.raw.get(name) {
            return Ok(Arc::clone(raw));
        }
        let s = match name {
            "osd_map" => self.osd_map.cached(0, || self.osd_map_json()),
            "osd_map_tree" => self.osd_map.cached(1, || self.osd_tree_value().to_string()),
            "osd_metadata" => self
                .metadata
                .cached(0, || self.osd_metadata_value().to_string()),
            "mon_map" => self.mon_map.cached(0, || self.mon_map_value().to_string()),
            "mon_status" => self
                .mon_map
                .cached(1, || self.mon_status_value().to_string()),
            "fs_map" => self.fs_map.cached(0, || self.fs_map_value().to_string()),
            "mgr_map" => self.mgr_map.cached(0, || self.mgr_map_value().to_string()),
            "health" => self
                .health
                .cached(0, || self.health_value(true).to_string()),
            "pg_summary" => self
                .pg_summary
                .cached(0, || self.pg_summary_value().to_string()),
            "pg_status" => self
                .pg_summary
                .cached(1, || self.pg_status_value().to_string()),
            "pool_stats" => self.pg_summary.cached(2, || {
                json!({"pool_stats": self.pool_stats_value()}).to_string()
            }),
            "osd_stats" => self.pg_summary.cached(3, || {
                json!({"osd_stats": self.osd_stats_value()}).to_string()
            }),
            "osd_pool_stats" => self
                .pg_summary
                .cached(4, || self.osd_pool_stats_value().to_string()),
            "io_rate" => self
                .pg_summary
                .cached(5, || self.io_rate_value().to_string()),
            "df" => self.df.cached(0, || self.df_value().to_string()),
            "service_map" => self
                .service_map
                .cached(0, || self.service_map_value().to_string()),
            "config" => self.config.cached(0, || self.config_value().to_string()),
            "pg_dump" => Arc::from(self.pg_dump_json()),
            "pg_stats" => Arc::from(self.pg_stats_json()),
            _ => {
                return Err(GetError::NotFound(format!(
                    "no data named '{name}' (known: {})",
                    GET_NAMES.join(", ")
                )));
            }
        };
        Ok(s)
    }

    /// One OSD of `osd dump`, written straight to text (10,000 of them per map).
    fn write_osd(out: &mut String, o: &OsdInfo) {
        let n = o.nonce;
        let hb_back = format!(
            "{}:{}",
            ip_of(&o.cluster_addr),
            port_of(&o.cluster_addr) + 4
        );
        let hb_front = format!("{}:{}", ip_of(&o.public_addr), port_of(&o.public_addr) + 4);
        let vec = |a: &str| addrvec(a, n).to_string();
        let weight = if o.in_ { o.weight } else { 0.0 };
        let _ = write!(
            out,
            "{{\"osd\":{},\"uuid\":{},\"up\":{},\"in\":{},\"weight\":{},\"primary_affinity\":{},\
             \"last_clean_begin\":0,\"last_clean_end\":0,\"up_from\":{},\"up_thru\":{},\"down_at\":{},\"lost_at\":0,\
             \"public_addrs\":{},\"cluster_addrs\":{},\"heartbeat_back_addrs\":{},\"heartbeat_front_addrs\":{},\
             \"public_addr\":\"{}\",\"cluster_addr\":\"{}\",\"heartbeat_back_addr\":\"{}\",\"heartbeat_front_addr\":\"{}\",\
             \"state\":{}}}",
            o.id,
            Value::String(o.uuid.clone()),
            u8::from(o.up),
            u8::from(o.in_),
            json!(weight),
            json!(o.primary_affinity),
            o.up_from,
            o.up_from,
            o.down_at,
            vec(&o.public_addr),
            vec(&o.cluster_addr),
            vec(&hb_back),
            vec(&hb_front),
            legacy_addr(&o.public_addr, n),
            legacy_addr(&o.cluster_addr, n),
            legacy_addr(&hb_back, n),
            legacy_addr(&hb_front, n),
            if o.up {
                "[\"exists\",\"up\"]"
            } else {
                "[\"exists\"]"
            },
        );
    }

    /// One pool as `ceph osd dump` prints it (`id_key` is `pool` there and `pool_id`
    /// in `osd pool ls detail`).
    pub fn pool_json(&self, p: &PoolInfo, id_key: &str) -> Value {
        let apps: Map<String, Value> = p
            .applications
            .iter()
            .map(|a| (a.clone(), json!({})))
            .collect();
        let mut v = json!({
            "pool_name": p.name,
            "create_time": p.create_time,
            "flags": 1,
            "flags_names": "hashpspool",
            "type": if p.pool_type == "erasure" { 3 } else { 1 },
            "size": p.size,
            "min_size": p.min_size,
            "crush_rule": p.crush_rule,
            "peering_crush_bucket_count": 0,
            "peering_crush_bucket_target": 0,
            "peering_crush_bucket_barrier": 0,
            "peering_crush_bucket_mandatory_member": 2_147_483_647,
            "object_hash": 2,
            "pg_autoscale_mode": "on",
            "pg_num": p.pg_num,
            "pg_placement_num": p.pgp_num,
            "pg_placement_num_target": p.pgp_num,
            "pg_num_target": p.pg_num,
            "pg_num_pending": p.pg_num,
            "last_pg_merge_meta": {
                "source_pgid": "0.0",
                "ready_epoch": 0,
                "last_epoch_started": 0,
                "last_epoch_clean": 0,
                "source_version": "0'0",
                "target_version": "0'0",
            },
            "last_change": p.last_change.to_string(),
        });
        let rest = json!({
            "last_force_op_resend": "0",
            "last_force_op_resend_prenautilus": "0",
            "last_force_op_resend_preluminous": "0",
            "auid": 0,
            "snap_mode": "selfmanaged",
            "snap_seq": 0,
            "snap_epoch": 0,
            "pool_snaps": [],
            "removed_snaps": "[]",
            "quota_max_bytes": p.quota_max_bytes,
            "quota_max_objects": p.quota_max_objects,
            "tiers": [],
            "tier_of": -1,
            "read_tier": -1,
            "write_tier": -1,
            "cache_mode": "none",
            "target_max_bytes": 0,
            "target_max_objects": 0,
            "cache_target_dirty_ratio_micro": 400_000,
            "cache_target_dirty_high_ratio_micro": 600_000,
            "cache_target_full_ratio_micro": 800_000,
            "cache_min_flush_age": 0,
            "cache_min_evict_age": 0,
            "erasure_code_profile": "",
            "hit_set_params": {"type": "none"},
            "hit_set_period": 0,
            "hit_set_count": 0,
            "use_gmt_hitset": true,
            "min_read_recency_for_promote": 0,
            "min_write_recency_for_promote": 0,
            "hit_set_grade_decay_rate": 0,
            "hit_set_search_last_n": 0,
            "grade_table": [],
            "stripe_width": 0,
            "expected_num_objects": 0,
            "fast_read": false,
            "options": {},
            "application_metadata": apps,
        });
        if let (Some(m), Value::Object(r)) = (v.as_object_mut(), rest) {
            m.extend(r);
            m.insert(id_key.to_string(), json!(p.id));
        }
        v
    }

    fn osd_map_json(&self) -> String {
        let m = &self.osd_map;
        let operator: Vec<&str> = m.flags.iter().map(String::as_str).collect();
        let mut flags_set = operator.clone();
        flags_set.sort_unstable();
        let rest = json!({
            "epoch": m.epoch,
            "fsid": m.fsid,
            "created": m.created,
            "modified": m.modified,
            "last_up_change": stamp_secs(m.last_up_change),
            "last_in_change": stamp_secs(m.last_in_change),
            "flags": operator.join(","),
            "flags_num": m.flags_num(),
            "flags_set": flags_set,
            "crush_version": m.osds.len() + 1,
            "full_ratio": m.full_ratio,
            "backfillfull_ratio": m.backfillfull_ratio,
            "nearfull_ratio": m.nearfull_ratio,
            "cluster_snapshot": "",
            "pool_max": m.pool_max,
            "max_osd": m.osds.iter().map(|o| o.id + 1).max().unwrap_or(0),
            "require_min_compat_client": "luminous",
            "min_compat_client": "jewel",
            "require_osd_release": "pacific",
            "pools": m.pools.iter().map(|p| self.pool_json(p, "pool")).collect::<Vec<_>>(),
            "pg_upmap": [],
            "pg_upmap_items": [],
            "pg_temp": [],
            "primary_temp": [],
            "blocklist": {},
            "range_blocklist": {},
            "erasure_code_profiles": {
                "default": {"k": "2", "m": "2", "plugin": "jerasure", "technique": "reed_sol_van"}
            },
            "removed_snaps_queue": [],
            "new_removed_snaps": [],
            "new_purged_snaps": [],
            "crush_node_flags": {},
            "device_class_flags": {},
            "stretch_mode": {
                "stretch_mode_enabled": false,
                "stretch_bucket_count": 0,
                "degraded_stretch_mode": 0,
                "recovering_stretch_mode": 0,
                "stretch_mode_bucket": 0,
            },
        })
        .to_string();
        let mut out = String::with_capacity(m.osds.len() * 1100 + rest.len() + 16);
        out.push_str("{\"osds\":[");
        for (i, o) in m.osds.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            Self::write_osd(&mut out, o);
        }
        out.push_str("],\"osd_xinfo\":[");
        let created = Value::String(m.created.clone());
        for (i, o) in m.osds.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"osd\":{},\"down_stamp\":\"0.000000\",\"laggy_probability\":0,\"laggy_interval\":0,\
                 \"features\":{FEATURES},\"old_weight\":0,\"last_purged_snaps_scrub\":{created},\"dead_epoch\":0}}",
                o.id
            );
        }
        out.push_str("],");
        out.push_str(rest.strip_prefix('{').unwrap_or(&rest));
        out
    }

    /// CRUSH bucket id of the host at `index` (the root is -1).
    fn host_bucket_id(index: usize) -> i64 {
        -(index as i64) - 2
    }

    fn osd_node(o: &OsdInfo) -> Value {
        json!({
            "id": o.id,
            "device_class": o.device_class,
            "name": format!("osd.{}", o.id),
            "type": "osd",
            "type_id": 0,
            "crush_weight": o.crush_weight,
            "depth": 2,
            "pool_weights": {},
            "reweight": if o.in_ { o.weight } else { 0.0 },
            "status": if o.up { "up" } else { "down" },
        })
    }

    fn osd_tree_value(&self) -> Value {
        let m = &self.osd_map;
        let hosts = m.hosts();
        let mut nodes = vec![json!({
            "id": -1,
            "name": "default",
            "type": "root",
            "type_id": 11,
            "children": (0..hosts.len()).rev().map(Self::host_bucket_id).collect::<Vec<_>>(),
        })];
        let mut by_host: std::collections::HashMap<&str, Vec<&OsdInfo>> =
            std::collections::HashMap::new();
        for o in &m.osds {
            by_host.entry(o.host.as_str()).or_default().push(o);
        }
        let mut osd_nodes = Vec::new();
        for (i, h) in hosts.iter().enumerate() {
            let members = by_host.get(h).map(Vec::as_slice).unwrap_or_default();
            let children: Vec<i32> = members.iter().rev().map(|o| o.id).collect();
            nodes.push(json!({
                "id": Self::host_bucket_id(i),
                "name": h,
                "type": "host",
                "type_id": 1,
                "pool_weights": {},
                "children": children,
            }));
            for o in members {
                let mut n = Self::osd_node(o);
                if let Some(obj) = n.as_object_mut() {
                    obj.insert("exists".into(), json!(1));
                    obj.insert("primary_affinity".into(), json!(o.primary_affinity));
                }
                osd_nodes.push(n);
            }
        }
        nodes.extend(osd_nodes);
        json!({"nodes": nodes, "stray": []})
    }

    fn osd_metadata_value(&self) -> Value {
        let mut out = Map::new();
        for o in &self.osd_map.osds {
            let key = DaemonKey {
                kind: "osd".into(),
                id: o.id.to_string(),
            };
            if let Some(md) = self.metadata.get(&key) {
                let obj: Map<String, Value> = md
                    .pairs()
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                out.insert(o.id.to_string(), Value::Object(obj));
            }
        }
        Value::Object(out)
    }

    fn mon_map_value(&self) -> Value {
        let m = &self.mon_map;
        let mons: Vec<Value> = m
            .mons
            .iter()
            .map(|mon| {
                let v1 = format!("{}:6789", ip_of(&mon.public_addr));
                json!({
                    "rank": mon.rank,
                    "name": mon.name,
                    "public_addrs": {"addrvec": [
                        {"type": "v2", "addr": mon.public_addr, "nonce": 0},
                        {"type": "v1", "addr": v1, "nonce": 0},
                    ]},
                    "addr": format!("{v1}/0"),
                    "public_addr": format!("{v1}/0"),
                    "priority": 0,
                    "weight": 0,
                    "crush_location": "{}",
                })
            })
            .collect();
        json!({
            "epoch": m.epoch,
            "fsid": m.fsid,
            "modified": m.modified,
            "created": m.created,
            "min_mon_release": 16,
            "min_mon_release_name": "pacific",
            "election_strategy": 1,
            "disallowed_leaders: ": "",
            "stretch_mode": false,
            "tiebreaker_mon": "",
            "removed_ranks: ": "",
            "features": {"persistent": MON_FEATURES, "optional": []},
            "mons": mons,
            "quorum": m.quorum,
        })
    }

    /// `ceph quorum_status`.
    pub fn quorum_status_value(&self) -> Value {
        let m = &self.mon_map;
        let names = m.quorum_names();
        let mut monmap = self.mon_map_value();
        if let Some(o) = monmap.as_object_mut() {
            o.remove("quorum");
        }
        json!({
            "election_epoch": m.election_epoch,
            "quorum": m.quorum,
            "quorum_names": names,
            "quorum_leader_name": m.leader.clone().unwrap_or_default(),
            "quorum_age": 0,
            "features": {"quorum_con": FEATURES.to_string(), "quorum_mon": MON_FEATURES},
            "monmap": monmap,
        })
    }

    fn mon_status_value(&self) -> Value {
        let m = &self.mon_map;
        let leader = m.leader.clone().unwrap_or_default();
        let rank = m
            .mons
            .iter()
            .find(|x| x.name == leader)
            .map_or(-1, |x| i64::from(x.rank));
        let outside: Vec<&str> = m
            .mons
            .iter()
            .filter(|x| !x.in_quorum)
            .map(|x| x.name.as_str())
            .collect();
        let mut v = self.quorum_status_value();
        if let Some(o) = v.as_object_mut() {
            o.insert("name".into(), json!(leader));
            o.insert("rank".into(), json!(rank));
            o.insert(
                "state".into(),
                json!(if m.leader.is_some() {
                    "leader"
                } else {
                    "probing"
                }),
            );
            o.insert("outside_quorum".into(), json!(outside));
            o.insert("extra_probe_peers".into(), json!([]));
            o.insert("sync_provider".into(), json!([]));
            o.insert("monmap".into(), self.mon_map_value());
        }
        v
    }

    fn mds_json(i: &MdsInfo, fscid: i64) -> Value {
        json!({
            "gid": i.gid,
            "name": i.name,
            "rank": i.rank,
            "incarnation": if i.rank >= 0 { 4 } else { 0 },
            "state": i.state,
            "state_seq": 2,
            "addr": legacy_addr(&i.addr, 0),
            "addrs": addrvec(&i.addr, 0),
            "join_fscid": fscid,
            "export_targets": [],
            "features": FEATURES,
            "flags": 0,
            "compat": Self::mds_compat(),
        })
    }

    fn mds_compat() -> Value {
        json!({
            "compat": {},
            "ro_compat": {},
            "incompat": {
                "feature_1": "base v0.20",
                "feature_2": "client writeable ranges",
                "feature_3": "default file layouts on dirs",
                "feature_4": "dir inode in separate object",
                "feature_5": "mds uses versioned encoding",
                "feature_6": "dirfrag is stored in omap",
                "feature_7": "mds uses inline data",
                "feature_8": "no anchor table",
                "feature_9": "file layout v2",
                "feature_10": "snaprealm v2",
            }
        })
    }

    fn filesystem_json(f: &Filesystem) -> Value {
        let mut info = Map::new();
        let mut up = Map::new();
        let mut ins = Vec::new();
        for m in &f.mdss {
            info.insert(format!("gid_{}", m.gid), Self::mds_json(m, f.id));
            if m.rank >= 0 {
                up.insert(format!("mds_{}", m.rank), json!(m.gid));
                ins.push(m.rank);
            }
        }
        let failed: Vec<u32> = (0..f.max_mds)
            .filter(|r| !ins.contains(&(*r as i32)))
            .collect();
        json!({
            "mdsmap": {
                "epoch": f.mds_epoch,
                "flags": 18,
                "ever_allowed_features": 0,
                "explicitly_allowed_features": 0,
                "created": f.created,
                "modified": f.created,
                "tableserver": 0,
                "root": 0,
                "session_timeout": 60,
                "session_autoclose": 300,
                "required_client_features": {},
                "max_file_size": 1_099_511_627_776_u64,
                "last_failure": 0,
                "last_failure_osd_epoch": 0,
                "compat": Self::mds_compat(),
                "max_mds": f.max_mds,
                "in": ins,
                "up": up,
                "failed": if f.mdss.is_empty() { vec![] } else { failed },
                "damaged": [],
                "stopped": [],
                "info": info,
                "data_pools": f.data_pools,
                "metadata_pool": f.metadata_pool,
                "enabled": true,
                "fs_name": f.name,
                "balancer": "",
                "standby_count_wanted": 1,
            },
            "id": f.id,
        })
    }

    fn fs_map_value(&self) -> Value {
        let m = &self.fs_map;
        let standbys: Vec<Value> = m
            .standbys
            .iter()
            .map(|s| {
                let mut v = Self::mds_json(s, -1);
                if let Some(o) = v.as_object_mut() {
                    o.insert("epoch".into(), json!(m.epoch));
                }
                v
            })
            .collect();
        json!({
            "epoch": m.epoch,
            "default_fscid": m.filesystems.first().map_or(-1, |f| f.id),
            "compat": Self::mds_compat(),
            "feature_flags": {"enable_multiple": true, "ever_enabled_multiple": true},
            "standbys": standbys,
            "filesystems": m.filesystems.iter().map(Self::filesystem_json).collect::<Vec<_>>(),
        })
    }

    fn mgr_map_value(&self) -> Value {
        let m = &self.mgr_map;
        let services: Map<String, Value> = m
            .services
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let available: Vec<Value> = m
            .modules
            .iter()
            .map(|n| json!({"name": n, "can_run": true, "error_string": "", "module_options": {}}))
            .collect();
        json!({
            "epoch": m.epoch,
            "active_gid": m.active_gid,
            "active_name": m.active_name,
            "active_addrs": addrvec(&m.active_addr, 0),
            "active_addr": legacy_addr(&m.active_addr, 0),
            "active_change": self.osd_map.created,
            "active_mgr_features": FEATURES,
            "available": m.available,
            "standbys": m.standbys.iter().map(|s| json!({
                "gid": s.gid,
                "name": s.name,
                "mgr_features": FEATURES,
                "available_modules": [],
            })).collect::<Vec<_>>(),
            "modules": m.modules,
            "available_modules": available,
            "services": services,
            "always_on_modules": {"nautilus": [], "octopus": [], "pacific": []},
            "last_failure_osd_epoch": 0,
            "active_clients": [],
        })
    }

    /// `ceph health [detail]` JSON.
    pub fn health_value(&self, detail: bool) -> Value {
        let h = &self.health;
        let mut checks = Map::new();
        for c in &h.checks {
            let mut v = json!({
                "severity": c.severity.as_str(),
                "summary": {"message": c.summary, "count": c.count},
                "muted": false,
            });
            if detail && let Some(o) = v.as_object_mut() {
                let d: Vec<Value> = c.detail.iter().map(|m| json!({"message": m})).collect();
                o.insert("detail".into(), json!(d));
            }
            checks.insert(c.code.clone(), v);
        }
        json!({"status": h.status.as_str(), "checks": checks, "mutes": []})
    }

    fn pool_size(&self, id: i64) -> u32 {
        self.osd_map.pool(id).map_or(1, |p| p.size)
    }

    fn pg_summary_value(&self) -> Value {
        let s = &self.pg_summary;
        // Clean PGs sit on all their OSDs: start from each up OSD's PG count and
        // map only the PGs that are not clean (few), instead of all of them.
        let placement = Placement::new(&self.osd_map);
        let mut by_osd: BTreeMap<i32, BTreeMap<PgState, u64>> = BTreeMap::new();
        let mut clean: BTreeMap<i32, u64> = BTreeMap::new();
        for o in &s.osds {
            if placement.is_up(o.id) && o.num_pgs > 0 {
                clean.insert(o.id, u64::from(o.num_pgs));
            }
        }
        for pool in &self.pgs.pools {
            let size = self.pool_size(pool.pool);
            for (ps, st) in pool.states.iter().enumerate() {
                if *st == PgState::ACTIVE_CLEAN {
                    continue;
                }
                let m = placement.map(pool.pool, ps as u32, size);
                for osd in m.raw() {
                    if let Some(n) = clean.get_mut(osd) {
                        *n = n.saturating_sub(1);
                    }
                }
                for osd in m.up() {
                    *by_osd.entry(*osd).or_default().entry(*st).or_default() += 1;
                }
            }
        }
        for (osd, n) in clean {
            if n > 0 {
                by_osd
                    .entry(osd)
                    .or_default()
                    .insert(PgState::ACTIVE_CLEAN, n);
            }
        }
        let by_osd: Map<String, Value> = by_osd
            .into_iter()
            .map(|(osd, states)| {
                let m: Map<String, Value> = states
                    .into_iter()
                    .map(|(st, n)| (st.name(), json!(n)))
                    .collect();
                (osd.to_string(), Value::Object(m))
            })
            .collect();
        let by_pool: Map<String, Value> = s
            .by_pool
            .iter()
            .map(|p| {
                let m: Map<String, Value> = p
                    .states
                    .iter()
                    .map(|c| (c.state.clone(), json!(c.count)))
                    .collect();
                (p.pool_id.to_string(), Value::Object(m))
            })
            .collect();
        let all: Map<String, Value> = s
            .by_state
            .iter()
            .map(|c| (c.state.clone(), json!(c.count)))
            .collect();
        json!({
            "by_osd": by_osd,
            "by_pool": by_pool,
            "all": all,
            "pg_stats_sum": pg_sum_json(&self.stat_total(), s.num_pgs, None),
        })
    }

    fn stat_total(&self) -> StatSum {
        let mut t = StatSum::default();
        for p in &self.pg_summary.pools {
            t.add(&StatSum::of_pool(p, self.pool_size(p.id)));
        }
        t
    }

    /// The `pgmap` section of `ceph status`.
    pub fn pg_status_value(&self) -> Value {
        let s = &self.pg_summary;
        let by_state: Vec<Value> = s
            .by_state
            .iter()
            .map(|c| json!({"state_name": c.state, "count": c.count}))
            .collect();
        let mut v = json!({
            "pgs_by_state": by_state,
            "num_pgs": s.num_pgs,
            "num_pools": s.pools.len(),
            "num_objects": s.num_objects,
            "data_bytes": s.data_bytes,
            "bytes_used": s.bytes_used,
            "bytes_avail": s.bytes_avail,
            "bytes_total": s.bytes_total,
            "read_bytes_sec": s.read_bytes_sec,
            "write_bytes_sec": s.write_bytes_sec,
            "read_op_per_sec": s.read_op_per_sec,
            "write_op_per_sec": s.write_op_per_sec,
        });
        if let Some(o) = v.as_object_mut() {
            let total = s.num_object_copies.max(1) as f64;
            if s.degraded_objects > 0 {
                o.insert("degraded_objects".into(), json!(s.degraded_objects));
                o.insert("degraded_total".into(), json!(s.num_object_copies));
                o.insert(
                    "degraded_ratio".into(),
                    json!(s.degraded_objects as f64 / total),
                );
            }
            if s.misplaced_objects > 0 {
                o.insert("misplaced_objects".into(), json!(s.misplaced_objects));
                o.insert("misplaced_total".into(), json!(s.num_object_copies));
                o.insert(
                    "misplaced_ratio".into(),
                    json!(s.misplaced_objects as f64 / total),
                );
            }
            if s.recovering_bytes_per_sec > 0 {
                o.insert(
                    "recovering_objects_per_sec".into(),
                    json!(s.recovering_objects_per_sec),
                );
                o.insert(
                    "recovering_bytes_per_sec".into(),
                    json!(s.recovering_bytes_per_sec),
                );
                o.insert("recovering_keys_per_sec".into(), json!(0));
                o.insert(
                    "num_objects_recovered".into(),
                    json!(s.recovering_objects_per_sec),
                );
                o.insert(
                    "num_bytes_recovered".into(),
                    json!(s.recovering_bytes_per_sec),
                );
                o.insert("num_keys_recovered".into(), json!(0));
            }
        }
        v
    }

    fn pool_stats_value(&self) -> Vec<Value> {
        self.pg_summary
            .pools
            .iter()
            .map(|p| {
                let sum = StatSum::of_pool(p, self.pool_size(p.id));
                pg_sum_json(
                    &sum,
                    p.num_pg * u64::from(self.pool_size(p.id)),
                    Some(("poolid", json!(p.id))),
                )
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("num_pg".into(), json!(p.num_pg));
                    Value::Object(o)
                })
                .unwrap_or(Value::Null)
            })
            .collect()
    }

    fn osd_stat_json(o: &super::model::OsdStat, peers: Vec<i32>) -> Value {
        let kb = o.total_bytes / 1024;
        let kb_used = o.used_bytes / 1024;
        json!({
            "osd": o.id,
            "up_from": o.up_from,
            "seq": (o.up_from << 32) + 100,
            "num_pgs": o.num_pgs,
            "num_osds": 1,
            "num_per_pool_osds": 1,
            "num_per_pool_omap_osds": 1,
            "kb": kb,
            "kb_used": kb_used,
            "kb_used_data": kb_used,
            "kb_used_omap": 0,
            "kb_used_meta": 0,
            "kb_avail": kb.saturating_sub(kb_used),
            "statfs": store_stats(o.total_bytes, o.total_bytes.saturating_sub(o.used_bytes), o.used_bytes),
            "hb_peers": peers,
            "snap_trim_queue_len": 0,
            "num_snap_trimming": 0,
            "num_shards_repaired": 0,
            "op_queue_age_hist": {"histogram": [], "upper_bound": 1},
            "perf_stat": {
                "commit_latency_ms": o.commit_latency_ms,
                "apply_latency_ms": o.apply_latency_ms,
                "commit_latency_ns": u64::from(o.commit_latency_ms) * 1_000_000,
                "apply_latency_ns": u64::from(o.apply_latency_ms) * 1_000_000,
            },
            "alerts": [],
            "network_ping_times": [],
        })
    }

    fn osd_stats_value(&self) -> Vec<Value> {
        let up: Vec<i32> = self
            .osd_map
            .osds
            .iter()
            .filter(|o| o.up)
            .map(|o| o.id)
            .collect();
        // Position of each up OSD in `up`: a map, not a scan per OSD (10k OSDs).
        let position: std::collections::HashMap<i32, usize> =
            up.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        self.pg_summary
            .osds
            .iter()
            .filter_map(|o| position.get(&o.id).map(|pos| (o, *pos)))
            .map(|(o, pos)| {
                // A few neighbours as heartbeat peers.
                let peers: Vec<i32> = (1..=up.len().saturating_sub(1).min(4))
                    .map(|k| up[(pos + k) % up.len()])
                    .collect();
                Self::osd_stat_json(o, peers)
            })
            .collect()
    }

    fn client_io(p: &PoolStat) -> Value {
        json!({
            "read_bytes_sec": p.read_bytes_sec,
            "write_bytes_sec": p.write_bytes_sec,
            "read_op_per_sec": p.read_op_per_sec,
            "write_op_per_sec": p.write_op_per_sec,
        })
    }

    /// `ceph osd pool stats` entries.
    pub fn osd_pool_stats_list(&self) -> Vec<Value> {
        self.pg_summary
            .pools
            .iter()
            .map(|p| {
                let name = self.osd_map.pool(p.id).map_or("", |x| x.name.as_str());
                let copies = p.objects * u64::from(self.pool_size(p.id));
                let mut recovery = Map::new();
                if p.degraded_objects > 0 {
                    recovery.insert("degraded_objects".into(), json!(p.degraded_objects));
                    recovery.insert("degraded_total".into(), json!(copies));
                    recovery.insert(
                        "degraded_ratio".into(),
                        json!(p.degraded_objects as f64 / copies.max(1) as f64),
                    );
                }
                if p.misplaced_objects > 0 {
                    recovery.insert("misplaced_objects".into(), json!(p.misplaced_objects));
                    recovery.insert("misplaced_total".into(), json!(copies));
                    recovery.insert(
                        "misplaced_ratio".into(),
                        json!(p.misplaced_objects as f64 / copies.max(1) as f64),
                    );
                }
                let mut rate = Map::new();
                if p.recovering_bytes_per_sec > 0 {
                    rate.insert(
                        "recovering_objects_per_sec".into(),
                        json!(p.recovering_objects_per_sec),
                    );
                    rate.insert(
                        "recovering_bytes_per_sec".into(),
                        json!(p.recovering_bytes_per_sec),
                    );
                    rate.insert("recovering_keys_per_sec".into(), json!(0));
                    rate.insert(
                        "num_objects_recovered".into(),
                        json!(p.recovering_objects_per_sec),
                    );
                    rate.insert(
                        "num_bytes_recovered".into(),
                        json!(p.recovering_bytes_per_sec),
                    );
                    rate.insert("num_keys_recovered".into(), json!(0));
                }
                json!({
                    "pool_name": name,
                    "pool_id": p.id,
                    "recovery": recovery,
                    "recovery_rate": rate,
                    "client_io_rate": Self::client_io(p),
                })
            })
            .collect()
    }

    fn osd_pool_stats_value(&self) -> Value {
        json!({"pool_stats": self.osd_pool_stats_list()})
    }

    fn io_rate_value(&self) -> Value {
        let s = &self.pg_summary;
        let dt = if s.stamp_delta > 0.0 {
            s.stamp_delta
        } else {
            1.0
        };
        let delta = StatSum {
            read: (s.read_op_per_sec as f64 * dt) as u64,
            read_kb: (s.read_bytes_sec as f64 * dt / 1024.0) as u64,
            write: (s.write_op_per_sec as f64 * dt) as u64,
            write_kb: (s.write_bytes_sec as f64 * dt / 1024.0) as u64,
            ..StatSum::default()
        };
        json!({"pg_stats_delta": pg_sum_json(&delta, 0, Some(("stamp_delta", json!(format!("{dt:.6}")))))})
    }

    fn df_value(&self) -> Value {
        let d = &self.df;
        let ratio = |used: u64, total: u64| {
            if total == 0 {
                0.0
            } else {
                used as f64 / total as f64
            }
        };
        let by_class: Map<String, Value> = d
            .by_class
            .iter()
            .map(|c| {
                (
                    c.class.clone(),
                    json!({
                        "total_bytes": c.total_bytes,
                        "total_avail_bytes": c.total_avail_bytes,
                        "total_used_bytes": c.total_used_bytes,
                        "total_used_raw_bytes": c.total_used_bytes,
                        "total_used_raw_ratio": ratio(c.total_used_bytes, c.total_bytes),
                    }),
                )
            })
            .collect();
        let pools: Vec<Value> = d
            .pools
            .iter()
            .map(|p| {
                let size = u64::from(self.pool_size(p.id));
                json!({
                    "name": p.name,
                    "id": p.id,
                    "stats": {
                        "stored": p.stored,
                        "stored_data": p.stored,
                        "stored_omap": 0,
                        "objects": p.objects,
                        "kb_used": p.bytes_used.div_ceil(1024),
                        "bytes_used": p.bytes_used,
                        "data_bytes_used": p.bytes_used,
                        "omap_bytes_used": 0,
                        "percent_used": p.percent_used,
                        "max_avail": p.max_avail,
                        "quota_objects": p.quota_objects,
                        "quota_bytes": p.quota_bytes,
                        "dirty": p.objects,
                        "rd": p.rd,
                        "rd_bytes": p.rd_bytes,
                        "wr": p.wr,
                        "wr_bytes": p.wr_bytes,
                        "compress_bytes_used": 0,
                        "compress_under_bytes": 0,
                        "stored_raw": p.stored * size,
                        "avail_raw": p.max_avail * size,
                    }
                })
            })
            .collect();
        json!({
            "stats": {
                "total_bytes": d.total_bytes,
                "total_avail_bytes": d.total_avail_bytes,
                "total_used_bytes": d.total_used_bytes,
                "total_used_raw_bytes": d.total_used_bytes,
                "total_used_raw_ratio": ratio(d.total_used_bytes, d.total_bytes),
                "num_osds": d.num_osds,
                "num_per_pool_osds": d.num_osds,
                "num_per_pool_omap_osds": d.num_osds,
            },
            "stats_by_class": by_class,
            "pools": pools,
        })
    }

    fn service_map_value(&self) -> Value {
        let m = &self.service_map;
        let services: Map<String, Value> = m
            .services
            .iter()
            .map(|s| {
                let mut daemons = Map::new();
                daemons.insert("summary".into(), json!(""));
                for d in &s.daemons {
                    daemons.insert(d.clone(), json!({"start_epoch": m.epoch, "metadata": {}}));
                }
                (s.name.clone(), json!({"daemons": daemons, "summary": ""}))
            })
            .collect();
        json!({"epoch": m.epoch, "modified": m.modified, "services": services})
    }

    fn config_value(&self) -> Value {
        let v: Vec<Value> = self
            .config
            .iter()
            .map(|c| {
                json!({
                    "section": c.section,
                    "name": c.name,
                    "value": c.value,
                    "level": c.level,
                    "can_update_at_runtime": c.can_update_at_runtime,
                    "mask": c.mask,
                })
            })
            .collect();
        Value::Array(v)
    }

    /// Stream `pg_stats` (a JSON array, one entry per PG) into `out`; never holds more
    /// than one PG's JSON besides `out`.
    pub fn write_pg_stats(&self, out: &mut String) {
        let placement = Placement::new(&self.osd_map);
        let stamp = &self.pg_summary.stamp;
        let epoch = self.osd_map.epoch;
        out.reserve(self.pgs.len() * 820);
        out.push('[');
        let mut first = true;
        let mut names: Vec<(PgState, String)> = Vec::new();
        let mut set = String::new();
        for pool in &self.pgs.pools {
            let Some(info) = self.osd_map.pool(pool.pool) else {
                continue;
            };
            let stat = self
                .pg_summary
                .pools
                .iter()
                .find(|p| p.id == pool.pool)
                .cloned()
                .unwrap_or_default();
            let pg_num = pool.states.len() as u32;
            for (ps, st) in pool.states.iter().enumerate() {
                let ps = ps as u32;
                let m = placement.map(pool.pool, ps, info.size);
                let objects = pg_objects(&stat, pg_num, ps);
                let bytes = share(stat.bytes, u64::from(pg_num), u64::from(ps));
                let missing = u64::from(info.size).saturating_sub(m.up().len() as u64);
                let degraded = if st.has(PgState::DEGRADED) {
                    objects * missing.max(1)
                } else {
                    0
                };
                let misplaced = if st.has(PgState::REMAPPED) {
                    objects
                } else {
                    0
                };
                let rd = share(stat.rd, u64::from(pg_num), u64::from(ps));
                let wr = share(stat.wr, u64::from(pg_num), u64::from(ps));
                let rd_kb = share(stat.rd_bytes / 1024, u64::from(pg_num), u64::from(ps));
                let wr_kb = share(stat.wr_bytes / 1024, u64::from(pg_num), u64::from(ps));
                if !first {
                    out.push(',');
                }
                first = false;
                set.clear();
                set.push('[');
                for (i, id) in m.up().iter().enumerate() {
                    if i > 0 {
                        set.push(',');
                    }
                    let _ = write!(set, "{id}");
                }
                set.push(']');
                let name = match names.iter().find(|(k, _)| k == st) {
                    Some((_, n)) => n.as_str(),
                    None => {
                        names.push((*st, st.name()));
                        names.last().map_or("", |(_, n)| n.as_str())
                    }
                };
                // Writing into a String cannot fail.
                let _ = write!(
                    out,
                    "{{\"pgid\":\"{}.{:x}\",\"version\":\"{epoch}'{wr}\",\"reported_seq\":{},\"reported_epoch\":{epoch},\
                     \"state\":\"{}\",\"last_fresh\":\"{stamp}\",\"last_change\":\"{stamp}\",\"last_active\":\"{stamp}\",\
                     \"last_clean\":\"{stamp}\",\"mapping_epoch\":{epoch},\"created\":{},\"last_epoch_clean\":{epoch},\
                     \"last_scrub_stamp\":\"{stamp}\",\"last_deep_scrub_stamp\":\"{stamp}\",\
                     \"log_size\":{},\"ondisk_log_size\":{},\"stat_sum\":{{\"num_bytes\":{bytes},\
                     \"num_objects\":{objects},\"num_object_copies\":{},\"num_objects_degraded\":{degraded},\
                     \"num_objects_misplaced\":{misplaced},\"num_objects_unfound\":0,\"num_read\":{rd},\
                     \"num_read_kb\":{rd_kb},\"num_write\":{wr},\"num_write_kb\":{wr_kb}}},\
                     \"up\":{set},\"acting\":{set},\"up_primary\":{},\"acting_primary\":{}}}",
                    pool.pool,
                    ps,
                    wr + rd,
                    name,
                    info.last_change,
                    wr.min(3000),
                    wr.min(3000),
                    objects * u64::from(info.size),
                    m.primary(),
                    m.primary(),
                );
            }
        }
        out.push(']');
    }

    /// ceph-mgr's `get("pg_dump")`: the PG map with every PG, generated on demand.
    pub fn pg_dump_json(&self) -> String {
        let s = &self.pg_summary;
        let total = self.stat_total();
        let mut osd_sum_kb = 0u64;
        let mut osd_sum_used = 0u64;
        for o in &s.osds {
            osd_sum_kb += o.total_bytes / 1024;
            osd_sum_used += o.used_bytes / 1024;
        }
        let rest = json!({
            "version": s.epoch,
            "stamp": s.stamp,
            "last_osdmap_epoch": 0,
            "last_pg_scan": 0,
            "pg_stats_sum": pg_sum_json(&total, s.num_pgs, None),
            "osd_stats_sum": {
                "up_from": 0,
                "seq": 0,
                "num_pgs": s.osds.iter().map(|o| u64::from(o.num_pgs)).sum::<u64>(),
                "num_osds": s.osds.len(),
                "kb": osd_sum_kb,
                "num_per_pool_osds": s.osds.len(),
                "num_per_pool_omap_osds": s.osds.len(),
                "kb_used": osd_sum_used,
                "kb_used_data": osd_sum_used,
                "kb_used_omap": 0,
                "kb_used_meta": 0,
                "kb_avail": osd_sum_kb.saturating_sub(osd_sum_used),
                "statfs": store_stats(osd_sum_kb * 1024, (osd_sum_kb - osd_sum_used.min(osd_sum_kb)) * 1024, osd_sum_used * 1024),
                "hb_peers": [],
                "snap_trim_queue_len": 0,
                "num_snap_trimming": 0,
                "num_shards_repaired": 0,
                "op_queue_age_hist": {"histogram": [], "upper_bound": 1},
                "perf_stat": {"commit_latency_ms": 0, "apply_latency_ms": 0, "commit_latency_ns": 0, "apply_latency_ns": 0},
                "alerts": [],
                "network_ping_times": [],
            },
            "pg_stats_delta": self.io_rate_value().get("pg_stats_delta").cloned().unwrap_or(Value::Null),
            "pool_stats": self.pool_stats_value(),
            "osd_stats": self.osd_stats_value(),
            "pool_statfs": [],
        })
        .to_string();
        let mut out = String::from("{\"pg_stats\":");
        self.write_pg_stats(&mut out);
        out.push(',');
        out.push_str(rest.strip_prefix('{').unwrap_or(&rest));
        out
    }

    /// `ceph osd df` JSON.
    pub fn osd_df_value(&self) -> Value {
        let stats: BTreeMap<i32, &super::model::OsdStat> =
            self.pg_summary.osds.iter().map(|o| (o.id, o)).collect();
        let (mut tk, mut tu) = (0u64, 0u64);
        for o in stats.values() {
            tk += o.total_bytes / 1024;
            tu += o.used_bytes / 1024;
        }
        let avg = if tk == 0 { 0.0 } else { tu as f64 / tk as f64 };
        let mut vars: Vec<f64> = Vec::new();
        let nodes: Vec<Value> = self
            .osd_map
            .osds
            .iter()
            .map(|o| {
                let (kb, used, pgs) = stats.get(&o.id).map_or((0, 0, 0), |s| {
                    (s.total_bytes / 1024, s.used_bytes / 1024, s.num_pgs)
                });
                let util = if kb == 0 {
                    0.0
                } else {
                    used as f64 / kb as f64
                };
                let var = if avg == 0.0 { 0.0 } else { util / avg };
                vars.push(var);
                let mut n = Self::osd_node(o);
                if let Some(obj) = n.as_object_mut() {
                    for (k, v) in [
                        ("kb", json!(kb)),
                        ("kb_used", json!(used)),
                        ("kb_used_data", json!(used)),
                        ("kb_used_omap", json!(0)),
                        ("kb_used_meta", json!(0)),
                        ("kb_avail", json!(kb.saturating_sub(used))),
                        ("utilization", json!(util * 100.0)),
                        ("var", json!(var)),
                        ("pgs", json!(pgs)),
                    ] {
                        obj.insert(k.into(), v);
                    }
                }
                n
            })
            .collect();
        let min = vars.iter().copied().fold(f64::INFINITY, f64::min);
        let max = vars.iter().copied().fold(0.0, f64::max);
        json!({
            "nodes": nodes,
            "stray": [],
            "summary": {
                "total_kb": tk,
                "total_kb_used": tu,
                "total_kb_used_data": tu,
                "total_kb_used_omap": 0,
                "total_kb_used_meta": 0,
                "total_kb_avail": tk.saturating_sub(tu),
                "average_utilization": avg * 100.0,
                "min_var": if min.is_finite() { min } else { 0.0 },
                "max_var": max,
                "dev": 0.0,
            }
        })
    }

    /// `ceph status` JSON.
    pub fn status_value(&self) -> Value {
        let m = &self.osd_map;
        let names = self.mon_map.quorum_names();
        let num_remapped: u64 = self
            .pg_summary
            .by_state
            .iter()
            .filter(|c| c.state.split('+').any(|p| p == "remapped"))
            .map(|c| c.count)
            .sum();
        let fs = self.fs_map.filesystems.first();
        let by_rank: Vec<Value> = fs
            .map(|f| {
                f.mdss
                    .iter()
                    .filter(|x| x.rank >= 0)
                    .map(|x| json!({"filesystem_id": f.id, "rank": x.rank, "name": x.name, "status": x.state, "gid": x.gid}))
                    .collect()
            })
            .unwrap_or_default();
        let services: Map<String, Value> = self
            .mgr_map
            .services
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "fsid": self.fsid.as_ref(),
            "health": self.health_value(false),
            "election_epoch": self.mon_map.election_epoch,
            "quorum": self.mon_map.quorum,
            "quorum_names": names,
            "quorum_age": 0,
            "monmap": {
                "epoch": self.mon_map.epoch,
                "min_mon_release_name": "pacific",
                "num_mons": self.mon_map.mons.len(),
            },
            "osdmap": {
                "epoch": m.epoch,
                "num_osds": m.osds.len(),
                "num_up_osds": m.osds.iter().filter(|o| o.up).count(),
                "osd_up_since": m.last_up_change,
                "num_in_osds": m.osds.iter().filter(|o| o.in_).count(),
                "osd_in_since": m.last_in_change,
                "num_remapped_pgs": num_remapped,
            },
            "pgmap": self.pg_status_value(),
            "fsmap": {
                "epoch": self.fs_map.epoch,
                "id": fs.map_or(-1, |f| f.id),
                "up": by_rank.len(),
                "in": by_rank.len(),
                "max": fs.map_or(0, |f| f.max_mds),
                "by_rank": by_rank,
                "up:standby": self.fs_map.standbys.len(),
            },
            "mgrmap": {
                "available": self.mgr_map.available,
                "num_standbys": self.mgr_map.standbys.len(),
                "modules": self.mgr_map.modules,
                "services": services,
            },
            "servicemap": self.service_map_value(),
            "progress_events": {},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cluster;

    #[test]
    fn unknown_name_lists_known() {
        let c = Cluster::new("f");
        let err = c.snapshot().get_json("nope").unwrap_err();
        let GetError::NotFound(msg) = err;
        assert!(msg.contains("osd_map") && msg.contains("pg_dump"));
    }

    #[test]
    fn every_name_is_valid_json_on_an_empty_cluster() {
        let c = Cluster::new("f");
        let s = c.snapshot();
        for n in GET_NAMES {
            let j = s.get_json(n).unwrap();
            serde_json::from_str::<Value>(&j).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
        // Cached: same allocation the second time.
        let a = s.get_json_shared("osd_map").unwrap();
        let b = s.get_json_shared("osd_map").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn addr_helpers() {
        assert_eq!(
            addrvec_str("10.0.1.2:6800", 7),
            "[v2:10.0.1.2:6800/7,v1:10.0.1.2:6801/7]"
        );
        assert_eq!(legacy_addr("10.0.1.2:6800", 7), "10.0.1.2:6801/7");
        assert_eq!(share(10, 3, 0), 4);
        assert_eq!(share(10, 3, 2), 3);
        assert_eq!(share(10, 0, 0), 0);
    }
}
