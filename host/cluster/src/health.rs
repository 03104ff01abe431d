//! Health checks computed from the maps, as a Ceph 16 monitor raises them, with
//! Ceph's codes and wording.

use std::collections::BTreeMap;

use super::model::{
    ALWAYS_ON_FLAGS, FsMap, Health, HealthCheck, HealthStatus, MonMap, OsdMap, PgState, PgSummary,
};

/// Most detail lines per check, as Ceph's `mon_health_max_detail`.
pub const MAX_DETAIL: usize = 50;

/// One PG that is not `active+clean`, for the detail lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgProblem {
    /// `1.2`.
    pub pgid: String,
    /// Its state.
    pub state: PgState,
    /// Its acting set.
    pub acting: Vec<i32>,
}

/// Usage of one OSD, for the full checks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OsdFullness {
    /// OSD id.
    pub id: i32,
    /// Used fraction (0..1).
    pub ratio: f64,
}

/// Everything the checks look at.
#[derive(Clone, Copy, Debug)]
pub struct HealthInput<'a> {
    /// Monitor map with quorum.
    pub mon_map: &'a MonMap,
    /// OSD map.
    pub osd_map: &'a OsdMap,
    /// FS map.
    pub fs_map: &'a FsMap,
    /// PG summary (object counts, states).
    pub pg_summary: &'a PgSummary,
    /// PGs not `active+clean` (only the first [`MAX_DETAIL`] per check are listed).
    pub pg_problems: &'a [PgProblem],
    /// Per-OSD usage.
    pub osd_usage: &'a [OsdFullness],
}

fn check(
    code: &str,
    severity: HealthStatus,
    summary: String,
    detail: Vec<String>,
    count: u64,
) -> HealthCheck {
    HealthCheck {
        code: code.to_string(),
        severity,
        summary,
        detail,
        count,
    }
}

fn truncate(mut detail: Vec<String>) -> Vec<String> {
    if detail.len() > MAX_DETAIL {
        let more = detail.len() - MAX_DETAIL;
        detail.truncate(MAX_DETAIL);
        detail.push(format!("... and {more} more"));
    }
    detail
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn acting(v: &[i32]) -> String {
    let ids: Vec<String> = v.iter().map(|i| i.to_string()).collect();
    format!("[{}]", ids.join(","))
}

/// Compute every check, sorted by code.
pub fn compute(input: &HealthInput<'_>) -> Vec<HealthCheck> {
    let mut out = Vec::new();
    mon_checks(input.mon_map, &mut out);
    osd_checks(input.osd_map, &mut out);
    full_checks(input.osd_map, input.osd_usage, &mut out);
    pool_checks(input.osd_map, input.pg_summary, &mut out);
    pg_checks(input.pg_summary, input.pg_problems, &mut out);
    fs_checks(input.fs_map, &mut out);
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out
}

fn mon_checks(mon: &MonMap, out: &mut Vec<HealthCheck>) {
    let down: Vec<_> = mon.mons.iter().filter(|m| !m.in_quorum).collect();
    if down.is_empty() || mon.mons.is_empty() {
        return;
    }
    let quorum = mon.quorum_names();
    let summary = format!(
        "{}/{} mons down, quorum {}",
        down.len(),
        mon.mons.len(),
        quorum.join(",")
    );
    let detail = down
        .iter()
        .map(|m| {
            let ip = m
                .public_addr
                .rsplit_once(':')
                .map_or(m.public_addr.as_str(), |(ip, _)| ip);
            format!(
                "mon.{} (rank {}) addr [v2:{}/0,v1:{ip}:6789/0] is down (out of quorum)",
                m.name, m.rank, m.public_addr
            )
        })
        .collect();
    out.push(check(
        "MON_DOWN",
        HealthStatus::Warn,
        summary,
        detail,
        down.len() as u64,
    ));
}

fn osd_checks(map: &OsdMap, out: &mut Vec<HealthCheck>) {
    // OSD_DOWN counts OSDs that are down but still in, as Ceph does.
    let down: Vec<_> = map.osds.iter().filter(|o| !o.up && o.in_).collect();
    if !down.is_empty() {
        let detail = down
            .iter()
            .map(|o| format!("osd.{} (root=default,host={}) is down", o.id, o.host))
            .collect();
        out.push(check(
            "OSD_DOWN",
            HealthStatus::Warn,
            format!("{} osds down", down.len()),
            truncate(detail),
            down.len() as u64,
        ));
        // Hosts whose OSDs are all down.
        let mut hosts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for o in &map.osds {
            let e = hosts.entry(o.host.as_str()).or_default();
            e.0 += 1;
            if !o.up {
                e.1 += 1;
            }
        }
        let dead: Vec<(&str, usize)> = hosts
            .iter()
            .filter(|(_, (n, d))| *n > 0 && n == d)
            .map(|(h, (n, _))| (*h, *n))
            .collect();
        if !dead.is_empty() && dead.len() == hosts.len() {
            out.push(check(
                "OSD_ROOT_DOWN",
                HealthStatus::Warn,
                format!("1 root ({}) down", plural(map.osds.len(), "osd", "osds")),
                vec![format!(
                    "root default ({}) is down",
                    plural(map.osds.len(), "osd", "osds")
                )],
                1,
            ));
        } else if !dead.is_empty() {
            let osds: usize = dead.iter().map(|(_, n)| n).sum();
            let detail = dead
                .iter()
                .map(|(h, n)| {
                    format!(
                        "host {h} (root=default) ({}) is down",
                        plural(*n, "osd", "osds")
                    )
                })
                .collect();
            out.push(check(
                "OSD_HOST_DOWN",
                HealthStatus::Warn,
                format!(
                    "{} ({}) down",
                    plural(dead.len(), "host", "hosts"),
                    plural(osds, "osd", "osds")
                ),
                truncate(detail),
                dead.len() as u64,
            ));
        }
    }
    let flags: Vec<&str> = map
        .flags
        .iter()
        .map(String::as_str)
        .filter(|f| !ALWAYS_ON_FLAGS.contains(f))
        .collect();
    if !flags.is_empty() {
        out.push(check(
            "OSDMAP_FLAGS",
            HealthStatus::Warn,
            format!("{} flag(s) set", flags.join(",")),
            Vec::new(),
            flags.len() as u64,
        ));
    }
}

fn full_checks(map: &OsdMap, usage: &[OsdFullness], out: &mut Vec<HealthCheck>) {
    let levels = [
        ("OSD_FULL", map.full_ratio, "full", HealthStatus::Err),
        (
            "OSD_BACKFILLFULL",
            map.backfillfull_ratio,
            "backfillfull",
            HealthStatus::Warn,
        ),
        (
            "OSD_NEARFULL",
            map.nearfull_ratio,
            "nearfull",
            HealthStatus::Warn,
        ),
    ];
    let mut seen: Vec<i32> = Vec::new();
    for (code, ratio, word, sev) in levels {
        if ratio <= 0.0 {
            continue;
        }
        let hit: Vec<i32> = usage
            .iter()
            .filter(|u| u.ratio >= ratio && !seen.contains(&u.id))
            .map(|u| u.id)
            .collect();
        if hit.is_empty() {
            continue;
        }
        seen.extend(&hit);
        let detail = hit
            .iter()
            .map(|id| match word {
                "full" => format!("osd.{id} is full"),
                "nearfull" => format!("osd.{id} is near full"),
                _ => format!("osd.{id} is backfill full"),
            })
            .collect();
        out.push(check(
            code,
            sev,
            format!("{} {word} osd(s)", hit.len()),
            truncate(detail),
            hit.len() as u64,
        ));
    }
}

fn pool_checks(map: &OsdMap, pg: &PgSummary, out: &mut Vec<HealthCheck>) {
    let mut full = Vec::new();
    let mut no_redundancy = Vec::new();
    for p in &map.pools {
        if p.size == 1 {
            no_redundancy.push(format!("pool '{}' has no replicas configured", p.name));
        }
        if let Some(s) = pg.pools.iter().find(|s| s.id == p.id) {
            let bytes_full = p.quota_max_bytes > 0 && s.bytes >= p.quota_max_bytes;
            let objs_full = p.quota_max_objects > 0 && s.objects >= p.quota_max_objects;
            if bytes_full || objs_full {
                full.push(format!("pool '{}' is full (running out of quota)", p.name));
            }
        }
    }
    if !full.is_empty() {
        let n = full.len();
        out.push(check(
            "POOL_FULL",
            HealthStatus::Warn,
            format!("{n} pool(s) full"),
            truncate(full),
            n as u64,
        ));
    }
    if !no_redundancy.is_empty() {
        let n = no_redundancy.len();
        out.push(check(
            "POOL_NO_REDUNDANCY",
            HealthStatus::Warn,
            format!("{n} pool(s) have no replicas configured"),
            truncate(no_redundancy),
            n as u64,
        ));
    }
}

fn pg_checks(pg: &PgSummary, problems: &[PgProblem], out: &mut Vec<HealthCheck>) {
    let mut degraded = 0u64;
    let mut undersized = 0u64;
    let mut inactive = 0u64;
    let mut stale = 0u64;
    for s in &pg.by_state {
        let parts: Vec<&str> = s.state.split('+').collect();
        if parts.contains(&"degraded") {
            degraded += s.count;
        }
        if parts.contains(&"undersized") {
            undersized += s.count;
        }
        if !parts.contains(&"active") {
            inactive += s.count;
        }
        if parts.contains(&"stale") {
            stale += s.count;
        }
    }
    if inactive > 0 || stale > 0 {
        let mut parts = Vec::new();
        if inactive > 0 {
            parts.push(format!("{inactive} pgs inactive"));
        }
        if stale > 0 {
            parts.push(format!("{stale} pgs stale"));
        }
        let detail = problems
            .iter()
            .filter(|p| !p.state.has(PgState::ACTIVE) || p.state.has(PgState::STALE))
            .map(|p| {
                format!(
                    "pg {} is {}, acting {}",
                    p.pgid,
                    p.state.name(),
                    acting(&p.acting)
                )
            })
            .collect();
        out.push(check(
            "PG_AVAILABILITY",
            HealthStatus::Warn,
            format!("Reduced data availability: {}", parts.join(", ")),
            truncate(detail),
            inactive.max(stale),
        ));
    }
    if degraded > 0 || undersized > 0 || pg.degraded_objects > 0 {
        let mut parts = Vec::new();
        if pg.degraded_objects > 0 && pg.num_object_copies > 0 {
            parts.push(format!(
                "{}/{} objects degraded ({:.3}%)",
                pg.degraded_objects,
                pg.num_object_copies,
                pg.degraded_objects as f64 / pg.num_object_copies as f64 * 100.0
            ));
        }
        if degraded > 0 {
            parts.push(format!("{degraded} pgs degraded"));
        }
        if undersized > 0 {
            parts.push(format!("{undersized} pgs undersized"));
        }
        let detail = problems
            .iter()
            .filter(|p| p.state.has(PgState::DEGRADED) || p.state.has(PgState::UNDERSIZED))
            .map(|p| {
                format!(
                    "pg {} is {}, acting {}",
                    p.pgid,
                    p.state.name(),
                    acting(&p.acting)
                )
            })
            .collect();
        out.push(check(
            "PG_DEGRADED",
            HealthStatus::Warn,
            format!("Degraded data redundancy: {}", parts.join(", ")),
            truncate(detail),
            degraded.max(undersized),
        ));
    }
}

fn fs_checks(fs: &FsMap, out: &mut Vec<HealthCheck>) {
    let mut offline = Vec::new();
    let mut fewer = Vec::new();
    let mut degraded = Vec::new();
    for f in &fs.filesystems {
        let active = f.mdss.iter().filter(|m| m.state == "up:active").count();
        let ranked = f.mdss.iter().filter(|m| m.rank >= 0).count();
        if ranked == 0 {
            offline.push(format!(
                "fs {} is offline because no MDS is active for it.",
                f.name
            ));
        } else if active < ranked {
            degraded.push(format!("fs {} is degraded", f.name));
        }
        if (ranked as u32) < f.max_mds {
            fewer.push(format!(
                "fs {} has {ranked} MDS online, but wants {}",
                f.name, f.max_mds
            ));
        }
    }
    let fs_word = |n: usize, rest: &str| {
        if n == 1 {
            format!("1 filesystem is {rest}")
        } else {
            format!("{n} filesystems are {rest}")
        }
    };
    let fs_checks = [
        ("MDS_ALL_DOWN", HealthStatus::Err, "offline", offline),
        ("FS_DEGRADED", HealthStatus::Warn, "degraded", degraded),
        (
            "MDS_UP_LESS_THAN_MAX",
            HealthStatus::Warn,
            "online with fewer MDS than max_mds",
            fewer,
        ),
    ];
    for (code, severity, state, detail) in fs_checks {
        if !detail.is_empty() {
            let n = detail.len();
            out.push(check(code, severity, fs_word(n, state), detail, n as u64));
        }
    }
}

/// The cluster log lines a monitor writes when health moves from `old` to `new`:
/// (priority, message).
pub fn transitions(old: &Health, new: &Health) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let prio = |s: HealthStatus| if s == HealthStatus::Err { "ERR" } else { "WRN" };
    for c in &new.checks {
        match old.checks.iter().find(|o| o.code == c.code) {
            None => out.push((
                prio(c.severity),
                format!("Health check failed: {} ({})", c.summary, c.code),
            )),
            Some(o)
                if o.summary != c.summary && (o.count != c.count || o.severity != c.severity) =>
            {
                out.push((
                    prio(c.severity),
                    format!("Health check update: {} ({})", c.summary, c.code),
                ))
            }
            Some(_) => {}
        }
    }
    for o in &old.checks {
        if !new.checks.iter().any(|c| c.code == o.code) {
            out.push((
                "INF",
                format!("Health check cleared: {} (was: {})", o.code, o.summary),
            ));
        }
    }
    if new.status == HealthStatus::Ok && old.status != HealthStatus::Ok {
        out.push(("INF", "Cluster is now healthy".to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Filesystem, MdsInfo, MonInfo, OsdInfo, PgStateCount};

    fn osd(id: i32, host: &str, up: bool) -> OsdInfo {
        OsdInfo {
            id,
            uuid: String::new(),
            up,
            in_: true,
            weight: 1.0,
            crush_weight: 1.0,
            primary_affinity: 1.0,
            host: host.into(),
            device_class: "hdd".into(),
            public_addr: String::new(),
            cluster_addr: String::new(),
            up_from: 1,
            down_at: 0,
            nonce: 0,
        }
    }

    #[test]
    fn ceph_wording() {
        let mon = MonMap {
            mons: ["a", "b", "c"]
                .iter()
                .enumerate()
                .map(|(i, n)| MonInfo {
                    name: n.to_string(),
                    rank: i as u32,
                    public_addr: format!("10.0.0.{}:3300", i + 1),
                    in_quorum: i != 2,
                })
                .collect(),
            ..MonMap::default()
        };
        let osd_map = OsdMap {
            osds: vec![osd(0, "h0", true), osd(1, "h1", false), osd(2, "h1", false)],
            flags: vec!["noout".into(), "sortbitwise".into()],
            nearfull_ratio: 0.85,
            full_ratio: 0.95,
            backfillfull_ratio: 0.9,
            ..OsdMap::default()
        };
        let fs = FsMap {
            filesystems: vec![Filesystem {
                id: 1,
                name: "cephfs".into(),
                metadata_pool: 1,
                data_pools: vec![2],
                max_mds: 1,
                mdss: vec![],
                created: String::new(),
                mds_epoch: 1,
            }],
            standbys: vec![MdsInfo {
                name: "b".into(),
                gid: 1,
                rank: -1,
                state: "up:standby".into(),
                addr: String::new(),
            }],
            ..FsMap::default()
        };
        let pg = PgSummary {
            by_state: vec![
                PgStateCount {
                    state: "active+undersized+degraded".into(),
                    count: 4,
                },
                PgStateCount {
                    state: "active+clean".into(),
                    count: 60,
                },
            ],
            degraded_objects: 12,
            num_object_copies: 36,
            ..PgSummary::default()
        };
        let checks = compute(&HealthInput {
            mon_map: &mon,
            osd_map: &osd_map,
            fs_map: &fs,
            pg_summary: &pg,
            pg_problems: &[PgProblem {
                pgid: "1.2".into(),
                state: PgState::ACTIVE
                    .with(PgState::UNDERSIZED)
                    .with(PgState::DEGRADED),
                acting: vec![0, 2],
            }],
            osd_usage: &[OsdFullness { id: 0, ratio: 0.9 }],
        });
        let get = |c: &str| checks.iter().find(|x| x.code == c).unwrap();
        assert_eq!(get("MON_DOWN").summary, "1/3 mons down, quorum a,b");
        assert_eq!(get("OSD_DOWN").summary, "2 osds down");
        assert_eq!(
            get("OSD_DOWN").detail[0],
            "osd.1 (root=default,host=h1) is down"
        );
        assert_eq!(get("OSD_HOST_DOWN").summary, "1 host (2 osds) down");
        assert_eq!(get("OSDMAP_FLAGS").summary, "noout flag(s) set");
        assert_eq!(
            get("PG_DEGRADED").summary,
            "Degraded data redundancy: 12/36 objects degraded (33.333%), 4 pgs degraded, 4 pgs undersized"
        );
        assert_eq!(
            get("PG_DEGRADED").detail[0],
            "pg 1.2 is active+undersized+degraded, acting [0,2]"
        );
        assert_eq!(get("MDS_ALL_DOWN").summary, "1 filesystem is offline");
        assert_eq!(get("MDS_ALL_DOWN").severity, HealthStatus::Err);
        assert_eq!(get("OSD_BACKFILLFULL").summary, "1 backfillfull osd(s)");
        let codes: Vec<&str> = checks.iter().map(|c| c.code.as_str()).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(codes, sorted);
    }

    #[test]
    fn transition_lines() {
        let c = HealthCheck {
            code: "OSD_DOWN".into(),
            severity: HealthStatus::Warn,
            summary: "1 osds down".into(),
            detail: vec![],
            count: 1,
        };
        let bad = Health {
            epoch: 2,
            status: HealthStatus::Warn,
            checks: vec![c],
        };
        let good = Health::default();
        assert_eq!(
            transitions(&good, &bad),
            vec![(
                "WRN",
                "Health check failed: 1 osds down (OSD_DOWN)".to_string()
            )]
        );
        assert_eq!(
            transitions(&bad, &good),
            vec![
                (
                    "INF",
                    "Health check cleared: OSD_DOWN (was: 1 osds down)".to_string()
                ),
                ("INF", "Cluster is now healthy".to_string())
            ]
        );
    }
}
