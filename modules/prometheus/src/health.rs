//! Health families: overall status, every check seen (with its history), slow ops,
//! and per-daemon health.

use std::time::{SystemTime, UNIX_EPOCH};

use wasm_mgr_sdk::{HealthStatus, MonMap, OsdMap, cluster, mgr_warn, store};

use crate::exposition::{Kind, Page};
use crate::history::{self, History};

/// `ceph_health_status`, `ceph_health_detail` (with the check history, loaded from the
/// store on first use) and `ceph_healthcheck_slow_ops`. Returns the daemons the
/// SLOW_OPS check names.
pub fn write(page: &mut Page, history: &mut Option<History>) -> Vec<String> {
    let health = cluster::health();
    let status: u64 = match health.status {
        HealthStatus::Ok => 0,
        HealthStatus::Warn => 1,
        HealthStatus::Err => 2,
    };
    page.family("ceph_health_status", "Cluster health status", Kind::Untyped)
        .sample(&[], status);

    let history = history.get_or_insert_with(|| {
        History::from_json(store::get(history::STORE_KEY).ok().flatten().as_deref())
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let current = health
        .checks
        .iter()
        .map(|c| (c.code.as_str(), c.severity.as_str()));
    if history.update(current, now)
        && let Err(e) = store::set(history::STORE_KEY, &history.to_json())
    {
        mgr_warn!("cannot save the health history: {e:?}");
    }
    let mut fam = page.family(
        "ceph_health_detail",
        "healthcheck status by type (0=inactive, 1=active)",
        Kind::Gauge,
    );
    for event in history.events() {
        fam.sample(
            &[("name", &event.name), ("severity", &event.severity)],
            event.active,
        );
    }

    let slow = health.checks.iter().find(|c| c.code == "SLOW_OPS");
    let slow_ops = slow.map_or(0, |c| leading_number(&c.summary));
    page.family(
        "ceph_healthcheck_slow_ops",
        "OSD or Monitor requests taking a long time to process",
        Kind::Gauge,
    )
    .sample(&[], slow_ops);
    slow.map(|c| slow_ops_daemons(&c.summary))
        .unwrap_or_default()
}

/// The number a health summary starts with (`42 slow ops, ...`), 0 if none.
fn leading_number(summary: &str) -> u64 {
    summary
        .split(' ')
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

/// The daemons a SLOW_OPS summary names (`... daemons [osd.0,mon.a] have slow ops.`).
fn slow_ops_daemons(summary: &str) -> Vec<String> {
    let Some((_, rest)) = summary.split_once('[') else {
        return Vec::new();
    };
    let list = rest.split_once(']').map_or(rest, |(list, _)| list);
    list.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `ceph_daemon_health_metrics{type="SLOW_OPS"}` for every monitor in the map and
/// every OSD that is up: 1 for the daemons the SLOW_OPS check names (the host does
/// not report per-daemon counts), 0 for the others.
pub fn daemon_health(page: &mut Page, mon_map: &MonMap, osd_map: &OsdMap, slow: &[String]) {
    let mut fam = page.family(
        "ceph_daemon_health_metrics",
        "Health metrics for Ceph daemons",
        Kind::Gauge,
    );
    let is_slow = |kind: &str, id: &dyn std::fmt::Display| {
        !slow.is_empty() && slow.contains(&format!("{kind}.{id}"))
    };
    for mon in &mon_map.mons {
        let value = is_slow("mon", &mon.name);
        fam.sample(
            &[
                ("type", &"SLOW_OPS"),
                ("ceph_daemon", &format_args!("mon.{}", mon.name)),
            ],
            value,
        );
    }
    for o in osd_map.osds.iter().filter(|o| o.up) {
        let value = is_slow("osd", &o.id);
        fam.sample(
            &[
                ("type", &"SLOW_OPS"),
                ("ceph_daemon", &format_args!("osd.{}", o.id)),
            ],
            value,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_slow_ops_summaries() {
        let s = "42 slow ops, oldest one blocked for 12 sec, daemons [osd.0,osd.3] have slow ops.";
        assert_eq!(leading_number(s), 42);
        assert_eq!(slow_ops_daemons(s), ["osd.0", "osd.3"]);
        assert_eq!(leading_number("slow ops"), 0);
        assert!(slow_ops_daemons("no list").is_empty());
    }
}
