//! One collection: read the cluster through the typed getters (plus the few small
//! ceph-mgr `get()` documents that carry what they lack) and write every family of
//! the page once, in the names, labels and HELP texts of ceph-mgr 16.2.15.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use wasm_mgr_sdk::{Epochs, cluster, mgr_debug, mgr_warn};

use crate::exposition::{Kind, Page};
use crate::history::History;
use crate::osd::OsdCache;
use crate::{daemons, health, osd, perf, pools};

/// How many times a collection is tried when a map moves underneath it.
const MAX_ATTEMPTS: u32 = 3;

/// Perf counters older than this are read again even for a collection caused by a
/// map change: ceph daemons report them to the manager every 5 s
/// (`mgr_stats_period`), so reading them more often mostly reads the same values.
const PERF_MAX_AGE: Duration = Duration::from_secs(5);

/// The maps a page is built from; a page is kept only if none moved while it was built.
fn page_epochs(e: &Epochs) -> [u64; 6] {
    [
        e.mon_map,
        e.osd_map,
        e.fs_map,
        e.mgr_map,
        e.pg_summary,
        e.health,
    ]
}

/// What one collection produced.
pub struct Outcome {
    /// The page, if one was built from a single epoch of every map it uses.
    pub page: Option<Vec<u8>>,
    /// How many builds it took.
    pub attempts: u32,
    /// Time spent on all of them.
    pub elapsed: Duration,
}

/// Host and version of every daemon, from `list_servers` (ceph's `get_service_list`).
pub struct Servers {
    hosts: Vec<(String, String)>,
    by_daemon: HashMap<String, HashMap<String, usize>>,
}

impl Servers {
    /// Every server and its daemons, as the host knows them now.
    pub fn fetch() -> Self {
        let mut hosts = Vec::new();
        let mut by_daemon: HashMap<String, HashMap<String, usize>> = HashMap::new();
        for (i, server) in cluster::list_servers().into_iter().enumerate() {
            for daemon in server.daemons {
                by_daemon
                    .entry(daemon.kind)
                    .or_default()
                    .insert(daemon.id, i);
            }
            hosts.push((server.hostname, server.ceph_version));
        }
        Servers { hosts, by_daemon }
    }

    /// (hostname, ceph_version) of a daemon; empty strings if unknown.
    pub fn get(&self, kind: &str, id: &str) -> (&str, &str) {
        self.by_daemon
            .get(kind)
            .and_then(|ids| ids.get(id))
            .map_or(("", ""), |&i| (&self.hosts[i].0, &self.hosts[i].1))
    }

    /// Every daemon of `kind` as (id, hostname, ceph_version), in id order.
    pub fn daemons(&self, kind: &str) -> Vec<(&str, &str, &str)> {
        let mut out: Vec<(&str, &str, &str)> = self
            .by_daemon
            .get(kind)
            .into_iter()
            .flatten()
            .map(|(id, &i)| {
                (
                    id.as_str(),
                    self.hosts[i].0.as_str(),
                    self.hosts[i].1.as_str(),
                )
            })
            .collect();
        out.sort_unstable();
        out
    }
}

/// The address part of `ip:port` or `ip:port/nonce`, as ceph strips it.
pub fn addr_ip(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip)
}

/// ceph-mgr's `get(name)` JSON decoded into `T`; logged and `None` if unavailable.
pub fn get_json<T: DeserializeOwned>(name: &str) -> Option<T> {
    cluster::get_json(name)
        .inspect_err(|e| mgr_warn!("cannot read {name}: {e:?}"))
        .ok()
}

/// Builds pages; keeps what outlives one collection (metadata cache, health history,
/// collect durations).
#[derive(Default)]
pub struct Collector {
    osds: OsdCache,
    history: Option<History>,
    /// Seconds and calls per collection step, summed over every collection.
    durations: Vec<(&'static str, f64, u64)>,
    /// Size of the last page, to size the next one.
    last_len: usize,
    /// The epochs of the maps the last page was built from.
    last_epochs: Option<[u64; 6]>,
    /// The perf counter families, and when they were read.
    perf: Option<(Instant, Page)>,
}

impl Collector {
    /// Build a page from one epoch of every map it uses, trying again (up to
    /// [`MAX_ATTEMPTS`] times) when a map moves during the build.
    ///
    /// Perf counters carry no epoch: their families are rendered apart and added to
    /// the page. They are read again when `refresh_perf` (a collection on the scrape
    /// interval) or when the kept ones are older than [`PERF_MAX_AGE`]; collections
    /// for map changes in between reuse them.
    pub fn collect(&mut self, refresh_perf: bool) -> Outcome {
        let start = Instant::now();
        let perf_age = self.perf.as_ref().map(|(at, _)| at.elapsed());
        if refresh_perf || perf_age.is_none_or(|age| age >= PERF_MAX_AGE) {
            let counters = self.timed("get_perf_counters", |_| cluster::perf_counters("", ""));
            let capacity = self.perf.as_ref().map_or(0, |(_, p)| p.len());
            let mut section = Page::with_capacity(capacity + capacity / 8);
            self.timed("render_perf_counters", |_| {
                perf::write(&mut section, &counters)
            });
            self.perf = Some((Instant::now(), section));
        }
        for attempt in 1..=MAX_ATTEMPTS {
            let epochs = page_epochs(&cluster::epochs());
            match self.build(epochs) {
                Ok(mut page) => {
                    self.last_epochs = Some(epochs);
                    if let Some((_, section)) = &self.perf {
                        page.append(section);
                    }
                    self.durations_families(&mut page);
                    let page = page.into_bytes();
                    self.last_len = page.len();
                    return Outcome {
                        page: Some(page),
                        attempts: attempt,
                        elapsed: start.elapsed(),
                    };
                }
                Err(now) => {
                    mgr_debug!("maps moved during collection {attempt} ({epochs:?} -> {now:?})")
                }
            }
        }
        Outcome {
            page: None,
            attempts: MAX_ATTEMPTS,
            elapsed: start.elapsed(),
        }
    }

    /// Whether the last page was built from the maps as they are now: a notify about
    /// a change that the page already shows needs no new collection.
    pub fn is_current(&self) -> bool {
        self.last_epochs == Some(page_epochs(&cluster::epochs()))
    }

    /// Run one step of a build and add its time to the `method`'s total.
    fn timed<T>(&mut self, method: &'static str, step: impl FnOnce(&mut Self) -> T) -> T {
        let start = Instant::now();
        let out = step(self);
        let secs = start.elapsed().as_secs_f64();
        match self.durations.iter_mut().find(|(m, _, _)| *m == method) {
            Some(entry) => {
                entry.1 += secs;
                entry.2 += 1;
            }
            None => self.durations.push((method, secs, 1)),
        }
        out
    }

    /// The map families of a page from the maps at `epochs`. Stops early, with the
    /// epochs found, when a map moved: the page would mix two epochs.
    fn build(&mut self, epochs: [u64; 6]) -> Result<Page, [u64; 6]> {
        let unmoved = || {
            let now = page_epochs(&cluster::epochs());
            if now == epochs { Ok(()) } else { Err(now) }
        };
        let mut page = Page::with_capacity(self.last_len + self.last_len / 8 + 64 * 1024);
        let slow = self.timed("get_health", |c| health::write(&mut page, &mut c.history));
        self.timed("get_df", |_| pools::df(&mut page));
        self.timed("get_pool_stats", |_| pools::pool_stats(&mut page));
        self.timed("get_osd_stats", |_| osd::osd_stats(&mut page));
        unmoved()?;
        let servers = self.timed("get_service_list", |_| Servers::fetch());
        self.timed("get_fs", |_| daemons::fs(&mut page, &servers));
        let mon_map = self.timed("get_quorum_status", |_| {
            daemons::quorum(&mut page, &servers)
        });
        self.timed("get_mgr_status", |_| daemons::mgr(&mut page, &servers));
        let osd_map = self.timed("get_metadata_and_osd_status", |c| {
            let osd_map = c.osds.write(&mut page, &servers);
            pools::metadata(&mut page, &osd_map);
            daemons::others(&mut page, &servers);
            osd_map
        });
        self.timed("get_pg_status", |_| pools::pg_states(&mut page));
        self.timed("get_num_objects", |_| pools::num_objects(&mut page));
        self.timed("get_all_daemon_health_metrics", |_| {
            health::daemon_health(&mut page, &mon_map, &osd_map, &slow)
        });
        unmoved()?;
        Ok(page)
    }

    /// `ceph_prometheus_collect_duration_seconds_{sum,count}` by step.
    fn durations_families(&self, page: &mut Page) {
        let mut fam = page.family(
            "ceph_prometheus_collect_duration_seconds_sum",
            "The sum of seconds took to collect all metrics of this exporter",
            Kind::Counter,
        );
        for (method, secs, _) in &self.durations {
            fam.sample(&[("method", method)], *secs);
        }
        let mut fam = page.family(
            "ceph_prometheus_collect_duration_seconds_count",
            "The amount of metrics gathered for this exporter",
            Kind::Counter,
        );
        for (method, _, count) in &self.durations {
            fam.sample(&[("method", method)], *count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ports_from_addresses() {
        assert_eq!(addr_ip("10.0.0.1:6789/0"), "10.0.0.1");
        assert_eq!(addr_ip("10.0.0.1:3300"), "10.0.0.1");
        assert_eq!(addr_ip("[::1]:3300"), "[::1]");
        assert_eq!(addr_ip("-"), "-");
    }
}
