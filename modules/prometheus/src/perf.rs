//! Per-daemon perf counters as ceph-mgr's prometheus module exposes them: one family
//! per counter path (`osd.op_r` → `ceph_osd_op_r{ceph_daemon="osd.3"}`), averages as
//! `_sum` and `_count` families, time sums in seconds.

use std::collections::HashMap;

use wasm_mgr_sdk::{CounterKind, PerfCounter};

use crate::exposition::{Kind, Page, Value, metric_name};

/// Whether a counter's value is a time (nanoseconds from the host, seconds on the
/// page). The host does not say which counters are times, so this goes by ceph's
/// naming: `op_r_latency`, `kv_flush_lat`, `rocksdb_write_delay_time`.
pub fn is_time(path: &str) -> bool {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    leaf.ends_with("_lat") || leaf.ends_with("latency") || leaf.ends_with("_time")
}

/// The daemon label of a counter: RGW daemons are named by `instance_id`, as ceph
/// names them; every other daemon by `ceph_daemon`.
fn daemon_label(daemon: &str) -> (&'static str, &str) {
    match daemon.strip_prefix("rgw.") {
        Some(id) => ("instance_id", id),
        None => ("ceph_daemon", daemon),
    }
}

/// A raw value as written: nanoseconds as seconds for times, others exactly.
fn scaled(value: u64, time: bool) -> Value {
    if time {
        Value::Float(value as f64 / 1e9)
    } else {
        Value::Int(value)
    }
}

/// Write one family of samples of `group` (counters of one path).
fn family(
    page: &mut Page,
    name: &str,
    help: &str,
    kind: Kind,
    group: &[&PerfCounter],
    value: impl Fn(&PerfCounter) -> Value,
) {
    if page.has_family(name) {
        return;
    }
    let mut fam = page.family(name, help, kind);
    for c in group {
        let (label, daemon) = daemon_label(&c.daemon);
        fam.sample_one(label, daemon, value(c));
    }
}

/// The counters grouped by path: paths in the order they first appear, daemons in the
/// host's order within each path.
fn group_by_path(counters: &[PerfCounter]) -> Vec<Vec<&PerfCounter>> {
    let mut groups: Vec<Vec<&PerfCounter>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    // Daemons of a kind share a schema, so the next counter is usually of the path
    // after the previous one's: try that before the map.
    let mut next = 0;
    for c in counters {
        let i = match groups.get(next) {
            Some(g) if g[0].path == c.path => next,
            _ => *index.entry(c.path.as_str()).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            }),
        };
        groups[i].push(c);
        next = i + 1;
    }
    groups
}

/// Every perf counter of every daemon (`cluster::perf_counters("", "")`, one bulk
/// call), one family per path; a name the page already has is skipped.
pub fn write(page: &mut Page, counters: &[PerfCounter]) {
    for group in group_by_path(counters) {
        let first = group[0];
        let name = metric_name(&first.path);
        let time = is_time(&first.path);
        let help = &first.description;
        match first.kind {
            CounterKind::Gauge => family(page, &name, help, Kind::Gauge, &group, |c| {
                scaled(c.value, time)
            }),
            CounterKind::Counter => family(page, &name, help, Kind::Counter, &group, |c| {
                scaled(c.value, time)
            }),
            CounterKind::Average => {
                let sum_help = format!("{help} Total");
                family(
                    page,
                    &format!("{name}_sum"),
                    &sum_help,
                    Kind::Counter,
                    &group,
                    |c| scaled(c.value, time),
                );
                let count_help = format!("{help} Count");
                family(
                    page,
                    &format!("{name}_count"),
                    &count_help,
                    Kind::Counter,
                    &group,
                    |c| Value::Int(c.count),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(daemon: &str, path: &str) -> PerfCounter {
        PerfCounter {
            daemon: daemon.into(),
            path: path.into(),
            kind: CounterKind::Counter,
            value: 1,
            count: 0,
            description: String::new(),
        }
    }

    #[test]
    fn groups_counters_by_path_in_order() {
        let counters = [
            counter("mon.a", "mon.x"),
            counter("osd.0", "osd.a"),
            counter("osd.0", "osd.b"),
            counter("osd.1", "osd.a"),
            counter("osd.1", "osd.b"),
            counter("osd.2", "osd.b"),
            counter("osd.2", "osd.c"),
        ];
        let groups = group_by_path(&counters);
        let shape: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|g| {
                (
                    g[0].path.as_str(),
                    g.iter().map(|c| c.daemon.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("mon.x", vec!["mon.a"]),
                ("osd.a", vec!["osd.0", "osd.1"]),
                ("osd.b", vec!["osd.0", "osd.1", "osd.2"]),
                ("osd.c", vec!["osd.2"]),
            ]
        );
    }

    #[test]
    fn tells_times_by_name() {
        assert!(is_time("osd.op_r_latency"));
        assert!(is_time("bluestore.kv_flush_lat"));
        assert!(is_time("rocksdb.rocksdb_write_delay_time"));
        assert!(!is_time("osd.op_r"));
        assert!(!is_time("osd.latency_count_of_things"));
    }

    #[test]
    fn labels_rgw_by_instance() {
        assert_eq!(daemon_label("rgw.foo"), ("instance_id", "foo"));
        assert_eq!(daemon_label("osd.3"), ("ceph_daemon", "osd.3"));
    }

    #[test]
    fn scales_nanoseconds() {
        assert_eq!(scaled(1_500_000_000, true), Value::Float(1.5));
        assert_eq!(scaled(7, false), Value::Int(7));
    }
}
