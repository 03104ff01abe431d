//! Pool families: metadata, usage (`ceph df`), recovery rates, PG states and
//! object counts.

use std::collections::HashMap;

use serde::Deserialize;
use wasm_mgr_sdk::{OsdMap, PgStateCount, cluster};

use crate::collect::get_json;
use crate::exposition::{Kind, Page};

/// Every PG state ceph counts per pool (`PG_STATES` in ceph's `mgr_module.py`).
const PG_STATES: [&str; 34] = [
    "active",
    "clean",
    "down",
    "recovery_unfound",
    "backfill_unfound",
    "scrubbing",
    "degraded",
    "inconsistent",
    "peering",
    "repair",
    "recovering",
    "forced_recovery",
    "backfill_wait",
    "incomplete",
    "stale",
    "remapped",
    "deep",
    "backfilling",
    "forced_backfill",
    "backfill_toofull",
    "recovery_wait",
    "recovery_toofull",
    "undersized",
    "activating",
    "peered",
    "snaptrim",
    "snaptrim_wait",
    "snaptrim_error",
    "creating",
    "unknown",
    "premerge",
    "failed_repair",
    "laggy",
    "wait",
];

/// Cluster-wide `ceph df` statistics, each a `ceph_cluster_<stat>` family.
const DF_CLUSTER: [&str; 3] = ["total_bytes", "total_used_bytes", "total_used_raw_bytes"];

/// Per-pool `ceph df detail` statistics, each a `ceph_pool_<stat>` family.
const DF_POOL: [&str; 16] = [
    "max_avail",
    "avail_raw",
    "stored",
    "stored_raw",
    "objects",
    "dirty",
    "quota_bytes",
    "quota_objects",
    "rd",
    "rd_bytes",
    "wr",
    "wr_bytes",
    "compress_bytes_used",
    "compress_under_bytes",
    "bytes_used",
    "percent_used",
];

/// Per-pool recovery rates of `osd pool stats`, each a `ceph_pool_<stat>` family.
const OSD_POOL_STATS: [&str; 5] = [
    "recovering_objects_per_sec",
    "recovering_bytes_per_sec",
    "recovering_keys_per_sec",
    "num_objects_recovered",
    "num_bytes_recovered",
];

/// `get("df")`: cluster totals and per-pool statistics.
#[derive(Deserialize)]
struct DfJson {
    stats: HashMap<String, f64>,
    pools: Vec<DfPoolJson>,
}

/// One pool of `get("df")`.
#[derive(Deserialize)]
struct DfPoolJson {
    id: i64,
    stats: HashMap<String, f64>,
}

/// `get("osd_pool_stats")`: recovery rates per pool.
#[derive(Deserialize)]
struct OsdPoolStatsJson {
    pool_stats: Vec<OsdPoolStatJson>,
}

/// One pool of `get("osd_pool_stats")`.
#[derive(Deserialize)]
struct OsdPoolStatJson {
    pool_id: i64,
    #[serde(default)]
    recovery_rate: HashMap<String, f64>,
}

/// `get("pool_stats")`: per-pool PG statistic sums.
#[derive(Deserialize)]
struct PoolStatsJson {
    pool_stats: Vec<PoolStatJson>,
}

/// One pool of `get("pool_stats")`.
#[derive(Deserialize)]
struct PoolStatJson {
    poolid: i64,
    stat_sum: StatSumJson,
}

/// The object counts of a pool's statistic sum that the page uses.
#[derive(Deserialize)]
struct StatSumJson {
    #[serde(default)]
    num_objects_degraded: u64,
    #[serde(default)]
    num_objects_misplaced: u64,
    #[serde(default)]
    num_objects_unfound: u64,
    #[serde(default)]
    num_objects_repaired: u64,
}

/// `ceph_pool_metadata`: id, name, type, description and compression of every pool.
pub fn metadata(page: &mut Page, osd_map: &OsdMap) {
    let mut fam = page.family("ceph_pool_metadata", "POOL Metadata", Kind::Untyped);
    for p in &osd_map.pools {
        let (kind, description) = match p.pool_type.as_str() {
            "replicated" => ("replicated", format!("replica:{}", p.size)),
            // The typed pool does not carry its erasure code profile's k and m.
            "erasure" => ("erasure", "ec:unknown".to_owned()),
            _ => ("unknown", "unknown".to_owned()),
        };
        fam.sample(
            &[
                ("pool_id", &p.id),
                ("name", &p.name),
                ("type", &kind),
                ("description", &description),
                ("compression_mode", &"none"),
            ],
            1u64,
        );
    }
}

/// `ceph_cluster_*` and the per-pool `ceph_pool_*` usage families.
pub fn df(page: &mut Page) {
    let Some(df) = get_json::<DfJson>("df") else {
        return;
    };
    for stat in DF_CLUSTER {
        let name = format!("ceph_cluster_{stat}");
        let value = df.stats.get(stat).copied().unwrap_or(0.0);
        page.family(&name, &format!("DF {stat}"), Kind::Gauge)
            .sample(&[], value);
    }
    for stat in DF_POOL {
        let name = format!("ceph_pool_{stat}");
        let kind = if matches!(stat, "rd" | "rd_bytes" | "wr" | "wr_bytes") {
            Kind::Counter
        } else {
            Kind::Gauge
        };
        let mut fam = page.family(&name, &format!("DF pool {stat}"), kind);
        for pool in &df.pools {
            let value = pool.stats.get(stat).copied().unwrap_or(0.0);
            fam.sample(&[("pool_id", &pool.id)], value);
        }
    }
}

/// Per-pool recovery rates (`ceph_pool_recovering_*`, `ceph_pool_num_*_recovered`).
pub fn pool_stats(page: &mut Page) {
    let Some(stats) = get_json::<OsdPoolStatsJson>("osd_pool_stats") else {
        return;
    };
    for stat in OSD_POOL_STATS {
        let name = format!("ceph_pool_{stat}");
        let mut fam = page.family(&name, &format!("OSD pool stats: {stat}"), Kind::Gauge);
        for pool in &stats.pool_stats {
            let value = pool.recovery_rate.get(stat).copied().unwrap_or(0.0);
            fam.sample(&[("pool_id", &pool.pool_id)], value);
        }
    }
}

/// PG counts of one pool by state, in [`PG_STATES`] order, then the total. A PG in
/// `active+clean` counts for `active` and for `clean`; states ceph does not list are
/// skipped, as ceph skips them.
fn count_states(states: &[PgStateCount]) -> [u64; PG_STATES.len() + 1] {
    let mut row = [0u64; PG_STATES.len() + 1];
    for c in states {
        for state in c.state.split('+') {
            if let Some(i) = PG_STATES.iter().position(|s| *s == state) {
                row[i] += c.count;
            }
        }
        row[PG_STATES.len()] += c.count;
    }
    row
}

/// `ceph_pg_total` and one `ceph_pg_<state>` family per PG state, per pool.
pub fn pg_states(page: &mut Page) {
    let summary = cluster::pg_summary();
    let counts: Vec<(i64, [u64; PG_STATES.len() + 1])> = summary
        .by_pool
        .iter()
        .map(|pool| (pool.pool_id, count_states(&pool.states)))
        .collect();
    let mut fam = page.family("ceph_pg_total", "PG Total Count per Pool", Kind::Gauge);
    for (pool, row) in &counts {
        fam.sample(&[("pool_id", pool)], row[PG_STATES.len()]);
    }
    for (i, state) in PG_STATES.iter().enumerate() {
        let name = format!("ceph_pg_{state}");
        let mut fam = page.family(&name, &format!("PG {state} per pool"), Kind::Gauge);
        for (pool, row) in &counts {
            fam.sample(&[("pool_id", pool)], row[i]);
        }
    }
}

/// `ceph_num_objects_{degraded,misplaced,unfound}` and `ceph_pool_objects_repaired`.
pub fn num_objects(page: &mut Page) {
    let Some(stats) = get_json::<PoolStatsJson>("pool_stats") else {
        return;
    };
    let total = |field: fn(&StatSumJson) -> u64| -> u64 {
        stats.pool_stats.iter().map(|p| field(&p.stat_sum)).sum()
    };
    let sums = [
        ("degraded", total(|s| s.num_objects_degraded)),
        ("misplaced", total(|s| s.num_objects_misplaced)),
        ("unfound", total(|s| s.num_objects_unfound)),
    ];
    for (what, total) in sums {
        page.family(
            &format!("ceph_num_objects_{what}"),
            &format!("Number of {what} objects"),
            Kind::Gauge,
        )
        .sample(&[], total);
    }
    // ceph 16.2.15 labels these samples `poolid` (and writes the family once per pool).
    let mut fam = page.family(
        "ceph_pool_objects_repaired",
        "Number of objects repaired in a pool",
        Kind::Counter,
    );
    for pool in &stats.pool_stats {
        fam.sample(
            &[("poolid", &pool.poolid)],
            pool.stat_sum.num_objects_repaired,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(state: &str, count: u64) -> PgStateCount {
        PgStateCount {
            state: state.into(),
            count,
        }
    }

    #[test]
    fn counts_every_state_of_a_combined_state() {
        let row = count_states(&[
            count("active+clean", 30),
            count("active+clean+scrubbing+deep", 2),
            count("active+undersized+degraded", 1),
            count("active+made_up", 4),
        ]);
        let at = |s: &str| row[PG_STATES.iter().position(|p| *p == s).unwrap()];
        assert_eq!(at("active"), 37);
        assert_eq!(at("clean"), 32);
        assert_eq!(at("scrubbing"), 2);
        assert_eq!(at("deep"), 2);
        assert_eq!(at("degraded"), 1);
        assert_eq!(at("peering"), 0);
        assert_eq!(row[PG_STATES.len()], 37);
    }
}
