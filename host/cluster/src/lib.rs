//! wasm-mgr's cluster state: the latest maps as one immutable [`Snapshot`],
//! swapped atomically so readers never block the writer, a broadcast of every
//! [`Change`], Ceph's JSON for every map (the names of ceph-mgr's `get()`), Ceph
//! command descriptors ([`command`]), and what every source of state shares
//! ([`source::ClusterSource`]).
//!
//! Each map sits in its own [`Shared`] (an `Arc` plus a lazily filled JSON cache), so
//! publishing one map copies nothing else and 20 readers of the same epoch serialise
//! its JSON once.
//!
//! Not for: talking to a cluster (the source crates do), or anything about
//! modules (the runtime crate). It depends on no other crate of the host.

pub mod command;
pub mod health;
pub mod json;
pub mod model;
pub mod placement;
pub mod source;
pub mod time;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::broadcast;

pub use json::GetError;
pub use model::*;

/// Entries kept in the cluster log ring.
pub const CLOG_CAPACITY: usize = 1000;
/// Bytes of messages kept in the cluster log ring: past it the oldest go, so
/// the ring never holds more, whoever writes.
pub const CLOG_MAX_BYTES: usize = 4 << 20;
/// Longest message kept in the ring; a longer one is cut there.
pub const CLOG_MESSAGE_MAX: usize = 16 << 10;
/// Most bytes of messages one [`Cluster::clog_tail`] returns, so that reading the
/// log costs a reader a bounded amount whatever others wrote.
pub const CLOG_TAIL_MAX_BYTES: usize = 1 << 20;

/// Changes buffered per subscriber before it lags.
const CHANGE_CAPACITY: usize = 4096;

/// JSON cache slots per map (one per `get` name derived from it).
const CACHE_SLOTS: usize = 8;

/// Serialised JSON of one map version, filled on first use.
#[derive(Debug, Default)]
struct JsonCache {
    slots: [OnceLock<Arc<str>>; CACHE_SLOTS],
}

/// One map version: the value, shared, with its JSON cache.
#[derive(Debug)]
pub struct Shared<T> {
    value: Arc<T>,
    cache: Arc<JsonCache>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            value: Arc::clone(&self.value),
            cache: Arc::clone(&self.cache),
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Shared<T> {
    /// Wrap a new version.
    pub fn new(value: T) -> Shared<T> {
        Shared {
            value: Arc::new(value),
            cache: Arc::default(),
        }
    }

    /// The shared value.
    pub fn arc(&self) -> &Arc<T> {
        &self.value
    }

    /// The same value with an empty cache (for JSON that depends on other maps too).
    fn rewrap(&self) -> Shared<T> {
        Shared {
            value: Arc::clone(&self.value),
            cache: Arc::default(),
        }
    }

    /// The JSON in `slot`, rendering it with `render` the first time.
    fn cached(&self, slot: usize, render: impl FnOnce() -> String) -> Arc<str> {
        match self.cache.slots.get(slot) {
            Some(cell) => Arc::clone(cell.get_or_init(|| Arc::from(render()))),
            None => Arc::from(render()),
        }
    }
}

/// Everything the host knows about the cluster at one instant. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Cluster fsid.
    pub fsid: Arc<str>,
    /// Whether the source currently hears from the monitors.
    pub have_mon_connection: bool,
    /// Monitor map.
    pub mon_map: Shared<MonMap>,
    /// OSD map.
    pub osd_map: Shared<OsdMap>,
    /// FS map.
    pub fs_map: Shared<FsMap>,
    /// Manager map.
    pub mgr_map: Shared<MgrMap>,
    /// Merged health (cluster and module checks).
    pub health: Shared<Health>,
    /// PG summary, usage and rates.
    pub pg_summary: Shared<PgSummary>,
    /// Every PG's state.
    pub pgs: Arc<PgTable>,
    /// `ceph df detail`.
    pub df: Shared<Df>,
    /// Service map.
    pub service_map: Shared<ServiceMap>,
    /// Configuration database.
    pub config: Shared<Vec<ConfigEntry>>,
    /// Hosts and their daemons.
    pub servers: Arc<Vec<Server>>,
    /// Daemon metadata.
    pub metadata: Shared<MetadataMap>,
    /// Perf counters of every daemon.
    pub perf: Arc<Vec<DaemonCounters>>,
    /// JSON exactly as a real cluster printed it, by `get` name (`osd_map` is `ceph
    /// osd dump`); served instead of JSON rendered from the model. Empty with the sim.
    pub raw: Arc<BTreeMap<&'static str, Arc<str>>>,
}

impl Snapshot {
    fn empty(fsid: &str) -> Snapshot {
        Snapshot {
            fsid: Arc::from(fsid),
            have_mon_connection: false,
            mon_map: Shared::new(MonMap {
                fsid: fsid.to_string(),
                ..MonMap::default()
            }),
            osd_map: Shared::new(OsdMap {
                fsid: fsid.to_string(),
                ..OsdMap::default()
            }),
            fs_map: Shared::new(FsMap::default()),
            mgr_map: Shared::new(MgrMap::default()),
            health: Shared::new(Health::default()),
            pg_summary: Shared::new(PgSummary::default()),
            pgs: Arc::default(),
            df: Shared::new(Df::default()),
            service_map: Shared::new(ServiceMap::default()),
            config: Shared::new(Vec::new()),
            servers: Arc::default(),
            metadata: Shared::new(MetadataMap::new()),
            perf: Arc::default(),
            raw: Arc::default(),
        }
    }

    /// Epoch of every map.
    pub fn epochs(&self) -> Epochs {
        Epochs {
            mon_map: self.mon_map.epoch,
            osd_map: self.osd_map.epoch,
            fs_map: self.fs_map.epoch,
            mgr_map: self.mgr_map.epoch,
            pg_summary: self.pg_summary.epoch,
            health: self.health.epoch,
            service_map: self.service_map.epoch,
        }
    }

    /// One host and its daemons.
    pub fn get_server(&self, hostname: &str) -> Option<Server> {
        self.servers
            .iter()
            .find(|s| s.hostname == hostname)
            .cloned()
    }

    /// Metadata of one daemon, sorted by key.
    pub fn get_metadata(&self, kind: &str, id: &str) -> Option<Vec<(String, String)>> {
        let key = DaemonKey {
            kind: kind.to_string(),
            id: id.to_string(),
        };
        self.metadata.get(&key).map(DaemonMetadata::pairs)
    }

    /// Every counter of every daemon whose name starts with `daemon_prefix` and whose
    /// path starts with `path_prefix` (empty prefixes match everything).
    pub fn perf_counters(&self, daemon_prefix: &str, path_prefix: &str) -> Vec<PerfCounter> {
        let mut out = Vec::new();
        for d in self
            .perf
            .iter()
            .filter(|d| d.daemon.starts_with(daemon_prefix))
        {
            for (def, (value, count)) in d.schema.iter().zip(d.values.iter()) {
                if def.path.starts_with(path_prefix) {
                    out.push(PerfCounter {
                        daemon: d.daemon.to_string(),
                        path: def.path.clone(),
                        kind: def.kind,
                        value: *value,
                        count: *count,
                        description: def.description.clone(),
                    });
                }
            }
        }
        out
    }
}

/// New versions of some maps, published together by [`Cluster::publish`]. Fields left
/// `None` keep their current version.
#[derive(Clone, Debug, Default)]
pub struct Update {
    /// New monitor map.
    pub mon_map: Option<MonMap>,
    /// New OSD map.
    pub osd_map: Option<OsdMap>,
    /// New FS map.
    pub fs_map: Option<FsMap>,
    /// New manager map.
    pub mgr_map: Option<MgrMap>,
    /// New PG summary.
    pub pg_summary: Option<PgSummary>,
    /// New PG states (publish with a PG summary).
    pub pgs: Option<Arc<PgTable>>,
    /// New usage.
    pub df: Option<Df>,
    /// New service map.
    pub service_map: Option<ServiceMap>,
    /// New configuration.
    pub config: Option<Vec<ConfigEntry>>,
    /// New server list.
    pub servers: Option<Vec<Server>>,
    /// New daemon metadata.
    pub metadata: Option<MetadataMap>,
    /// New perf counters (shared, so that a source can reuse the buffer once no
    /// snapshot holds it).
    pub perf: Option<Arc<Vec<DaemonCounters>>>,
    /// The cluster's own health checks (module checks are merged in).
    pub cluster_checks: Option<Vec<HealthCheck>>,
    /// New verbatim JSON for some `get` names (see [`Snapshot::raw`]).
    pub raw: Vec<(&'static str, Arc<str>)>,
}

struct Writer {
    cluster_checks: Vec<HealthCheck>,
    module_checks: BTreeMap<String, Vec<HealthCheck>>,
    clog: VecDeque<ClogEntry>,
    clog_bytes: usize,
    clog_seq: u64,
    mgr_modules: Option<Vec<String>>,
    mgr_services: Option<Vec<(String, String)>>,
}

/// The host's view of the cluster: latest snapshot plus change notifications.
pub struct Cluster {
    current: ArcSwap<Snapshot>,
    writer: Mutex<Writer>,
    changes: broadcast::Sender<Change>,
    log_health: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("fsid", &self.snapshot().fsid)
            .finish_non_exhaustive()
    }
}

/// Normalise a log priority (`info`, `WRN`, `[ERR]`) to Ceph's bracketed tag.
pub fn clog_priority(p: &str) -> &'static str {
    match p
        .trim()
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase()
        .as_str()
    {
        "dbg" | "debug" | "trace" => "[DBG]",
        "wrn" | "warn" | "warning" => "[WRN]",
        "err" | "error" => "[ERR]",
        "sec" => "[SEC]",
        _ => "[INF]",
    }
}

/// The JSON of a log entry, as sent in a `clog` notification and by `log last`.
pub fn clog_json(e: &ClogEntry) -> serde_json::Value {
    serde_json::json!({
        "name": e.name,
        "stamp": e.stamp,
        "seq": e.seq,
        "channel": e.channel,
        "priority": e.priority,
        "message": e.message,
    })
}

/// Recompute merged health into `snap`; true if it changed.
fn merge_health(w: &Writer, snap: &mut Snapshot) -> bool {
    let mut merged: BTreeMap<String, HealthCheck> = BTreeMap::new();
    for c in w
        .cluster_checks
        .iter()
        .chain(w.module_checks.values().flatten())
    {
        match merged.get_mut(&c.code) {
            Some(existing) => {
                existing.severity = existing.severity.max(c.severity);
                existing.count += c.count;
                existing.detail.extend(c.detail.iter().cloned());
            }
            None => {
                merged.insert(c.code.clone(), c.clone());
            }
        }
    }
    let checks: Vec<HealthCheck> = merged.into_values().collect();
    if checks == snap.health.checks {
        return false;
    }
    let status = checks
        .iter()
        .map(|c| c.severity)
        .max()
        .unwrap_or(HealthStatus::Ok);
    snap.health = Shared::new(Health {
        epoch: snap.health.epoch + 1,
        status,
        checks,
    });
    true
}

fn next_epoch(incoming: u64, previous: u64) -> u64 {
    if incoming > previous {
        incoming
    } else {
        previous + 1
    }
}

impl Cluster {
    /// An empty cluster with this fsid: every map at epoch 0, no mon connection.
    pub fn new(fsid: &str) -> Arc<Cluster> {
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        Arc::new(Cluster {
            current: ArcSwap::from_pointee(Snapshot::empty(fsid)),
            writer: Mutex::new(Writer {
                cluster_checks: Vec::new(),
                module_checks: BTreeMap::new(),
                clog: VecDeque::with_capacity(CLOG_CAPACITY),
                clog_bytes: 0,
                clog_seq: 0,
                mgr_modules: None,
                mgr_services: None,
            }),
            changes,
            log_health: AtomicBool::new(true),
        })
    }

    /// The latest snapshot (never blocks).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Receive every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Whether health transitions are written to the cluster log ("Health check
    /// failed: ..."), as a monitor does. On by default; a source whose cluster log
    /// already carries them turns it off.
    pub fn set_health_log(&self, on: bool) {
        self.log_health.store(on, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, kind: NotifyKind, id: String) {
        // No subscriber is not an error.
        let _ = self.changes.send(Change { kind, id });
    }

    /// Broadcast a change that carries no map (`command`).
    pub fn notify(&self, kind: NotifyKind, id: &str) {
        self.send(kind, id.to_string());
    }

    /// Publish new versions of maps. Each published map gets the epoch it carries if
    /// that is newer than the current one, else current + 1, and exactly one
    /// [`Change`] of its kind is sent. Health is re-merged and bumped only if it
    /// changed. The manager map keeps the modules and services the host set.
    pub fn publish(&self, update: Update) {
        let mut w = self.lock();
        self.publish_locked(&mut w, update);
    }

    fn publish_locked(&self, w: &mut Writer, update: Update) {
        let old = self.current.load_full();
        let mut snap = (*old).clone();
        let mut kinds: Vec<NotifyKind> = Vec::new();
        if let Some(mut m) = update.mon_map {
            m.epoch = next_epoch(m.epoch, old.mon_map.epoch);
            snap.mon_map = Shared::new(m);
            kinds.push(NotifyKind::MonMap);
        }
        let osd_changed = update.osd_map.is_some();
        if let Some(mut m) = update.osd_map {
            m.epoch = next_epoch(m.epoch, old.osd_map.epoch);
            snap.osd_map = Shared::new(m);
            kinds.push(NotifyKind::OsdMap);
        }
        if let Some(mut m) = update.fs_map {
            m.epoch = next_epoch(m.epoch, old.fs_map.epoch);
            snap.fs_map = Shared::new(m);
            kinds.push(NotifyKind::FsMap);
        }
        if let Some(mut m) = update.mgr_map {
            m.epoch = next_epoch(m.epoch, old.mgr_map.epoch);
            if let Some(names) = &w.mgr_modules {
                m.modules.clone_from(names);
            }
            if let Some(services) = &w.mgr_services {
                m.services.clone_from(services);
            }
            snap.mgr_map = Shared::new(m);
            kinds.push(NotifyKind::MgrMap);
        }
        let pgs_changed = update.pgs.is_some();
        if let Some(t) = update.pgs {
            snap.pgs = t;
        }
        if let Some(mut m) = update.pg_summary {
            m.epoch = next_epoch(m.epoch, old.pg_summary.epoch);
            snap.pg_summary = Shared::new(m);
            kinds.push(NotifyKind::PgSummary);
        } else if osd_changed || pgs_changed {
            // Its JSON (by_osd, pool names) depends on these.
            snap.pg_summary = snap.pg_summary.rewrap();
        }
        if let Some(mut d) = update.df {
            d.epoch = snap.pg_summary.epoch;
            snap.df = Shared::new(d);
        }
        if let Some(mut m) = update.service_map {
            m.epoch = next_epoch(m.epoch, old.service_map.epoch);
            snap.service_map = Shared::new(m);
            kinds.push(NotifyKind::ServiceMap);
        }
        if let Some(c) = update.config {
            snap.config = Shared::new(c);
            kinds.push(NotifyKind::Config);
        }
        if let Some(s) = update.servers {
            snap.servers = Arc::new(s);
        }
        if let Some(m) = update.metadata {
            snap.metadata = Shared::new(m);
        } else if osd_changed {
            snap.metadata = snap.metadata.rewrap();
        }
        if let Some(p) = update.perf {
            snap.perf = p;
        }
        if let Some(c) = update.cluster_checks {
            w.cluster_checks = c;
        }
        if !update.raw.is_empty() {
            let mut raw = (*snap.raw).clone();
            raw.extend(update.raw);
            snap.raw = Arc::new(raw);
        }
        let health_changed = merge_health(w, &mut snap);
        self.current.store(Arc::new(snap));
        for k in kinds {
            self.send(k, String::new());
        }
        if health_changed {
            let new = self.current.load_full();
            self.log_health_changes(w, &old, &new);
            self.send(NotifyKind::Health, String::new());
        }
    }

    fn log_health_changes(&self, w: &mut Writer, old: &Snapshot, new: &Snapshot) {
        if !self.log_health.load(Ordering::Relaxed) {
            return;
        }
        let who = match &new.mon_map.leader {
            Some(l) => format!("mon.{l}"),
            None => "mon".to_string(),
        };
        for line in health::transitions(&old.health, &new.health) {
            self.append_clog(w, &who, "cluster", line.0, &line.1);
        }
    }

    fn append_clog(&self, w: &mut Writer, who: &str, channel: &str, priority: &str, msg: &str) {
        let stamp = time::rfc3339(SystemTime::now());
        self.append_entry(w, stamp, who, channel, priority, msg);
    }

    fn append_entry(
        &self,
        w: &mut Writer,
        stamp: String,
        who: &str,
        channel: &str,
        priority: &str,
        msg: &str,
    ) {
        w.clog_seq += 1;
        let mut end = msg.len().min(CLOG_MESSAGE_MAX);
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        let entry = ClogEntry {
            stamp,
            name: who.to_string(),
            channel: channel.to_string(),
            priority: clog_priority(priority).to_string(),
            message: msg[..end].to_string(),
            seq: w.clog_seq,
        };
        let id = clog_json(&entry).to_string();
        w.clog_bytes += entry.message.len();
        w.clog.push_back(entry);
        while w.clog.len() > CLOG_CAPACITY || w.clog_bytes > CLOG_MAX_BYTES {
            match w.clog.pop_front() {
                Some(old) => w.clog_bytes -= old.message.len(),
                None => break,
            }
        }
        self.send(NotifyKind::Clog, id);
    }

    /// Replace one module's health checks (empty clears them). Health is bumped and a
    /// `health` change sent only if the merged health changed.
    pub fn set_module_health(&self, module: &str, checks: Vec<HealthCheck>) {
        let mut w = self.lock();
        if checks.is_empty() {
            if w.module_checks.remove(module).is_none() {
                return;
            }
        } else {
            w.module_checks.insert(module.to_string(), checks);
        }
        self.publish_locked(&mut w, Update::default());
    }

    /// Make the manager map list the modules the host runs (sorted); bumps its epoch
    /// if the list changed. Later manager maps from the source keep this list.
    pub fn set_mgr_modules(&self, mut names: Vec<String>) {
        names.sort();
        names.dedup();
        let mut w = self.lock();
        w.mgr_modules = Some(names.clone());
        let snap = self.current.load_full();
        if snap.mgr_map.modules != names {
            let m = (*snap.mgr_map).clone();
            self.publish_locked(
                &mut w,
                Update {
                    mgr_map: Some(m),
                    ..Update::default()
                },
            );
        }
    }

    /// Make the manager map list these services (name, URI), e.g. a module's HTTP
    /// endpoint; bumps its epoch if they changed.
    pub fn set_mgr_services(&self, mut services: Vec<(String, String)>) {
        services.sort();
        let mut w = self.lock();
        w.mgr_services = Some(services.clone());
        let snap = self.current.load_full();
        if snap.mgr_map.services != services {
            let m = (*snap.mgr_map).clone();
            self.publish_locked(
                &mut w,
                Update {
                    mgr_map: Some(m),
                    ..Update::default()
                },
            );
        }
    }

    /// Append to the cluster log and send a `clog` change whose id is the entry as JSON.
    /// `priority` is `debug`/`info`/`warn`/`error`/`sec` or Ceph's `[INF]` form.
    pub fn log_to_cluster(&self, who: &str, channel: &str, priority: &str, message: &str) {
        let mut w = self.lock();
        self.append_clog(&mut w, who, channel, priority, message);
    }

    /// Append an entry a real cluster logged (its own stamp, name and priority) and
    /// send a `clog` change.
    pub fn log_entry(&self, stamp: &str, who: &str, channel: &str, priority: &str, msg: &str) {
        let mut w = self.lock();
        self.append_entry(&mut w, stamp.to_string(), who, channel, priority, msg);
    }

    /// The newest `max` cluster log entries, oldest first, of at most
    /// [`CLOG_TAIL_MAX_BYTES`] of messages.
    pub fn clog_tail(&self, max: usize) -> Vec<ClogEntry> {
        let w = self.lock();
        let mut bytes = 0;
        let newest: Vec<&ClogEntry> = w
            .clog
            .iter()
            .rev()
            .take(max)
            .take_while(|e| {
                bytes += e.message.len();
                bytes <= CLOG_TAIL_MAX_BYTES
            })
            .collect();
        newest.into_iter().rev().cloned().collect()
    }

    /// Record whether the source hears from the monitors.
    pub fn set_mon_connection(&self, up: bool) {
        let _w = self.lock();
        let old = self.current.load_full();
        if old.have_mon_connection != up {
            let mut snap = (*old).clone();
            snap.have_mon_connection = up;
            self.current.store(Arc::new(snap));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: &str, sev: HealthStatus) -> HealthCheck {
        HealthCheck {
            code: code.into(),
            severity: sev,
            summary: format!("{code} summary"),
            detail: vec![],
            count: 1,
        }
    }

    #[tokio::test]
    async fn publish_bumps_and_notifies() {
        let c = Cluster::new("fsid");
        let mut rx = c.subscribe();
        c.publish(Update {
            osd_map: Some(OsdMap::default()),
            ..Update::default()
        });
        let s = c.snapshot();
        assert_eq!(s.osd_map.epoch, 1);
        assert_eq!(rx.recv().await.unwrap().kind, NotifyKind::OsdMap);
        c.publish(Update {
            osd_map: Some(OsdMap {
                epoch: 10,
                ..OsdMap::default()
            }),
            ..Update::default()
        });
        assert_eq!(c.snapshot().osd_map.epoch, 10);
        assert!(Arc::ptr_eq(c.snapshot().mon_map.arc(), s.mon_map.arc()));
    }

    #[tokio::test]
    async fn module_health_merges() {
        let c = Cluster::new("fsid");
        let mut rx = c.subscribe();
        c.publish(Update {
            cluster_checks: Some(vec![check("OSD_DOWN", HealthStatus::Warn)]),
            ..Update::default()
        });
        assert_eq!(c.snapshot().health.status, HealthStatus::Warn);
        c.set_module_health("m", vec![check("MGR_X", HealthStatus::Err)]);
        let h = c.snapshot().health.clone();
        assert_eq!(h.status, HealthStatus::Err);
        assert_eq!(h.checks.len(), 2);
        let e = h.epoch;
        c.set_module_health("m", vec![check("MGR_X", HealthStatus::Err)]);
        assert_eq!(c.snapshot().health.epoch, e);
        c.set_module_health("m", vec![]);
        assert_eq!(c.snapshot().health.status, HealthStatus::Warn);
        let mut kinds = Vec::new();
        while let Ok(ch) = rx.try_recv() {
            kinds.push(ch.kind);
        }
        assert_eq!(
            kinds.iter().filter(|k| **k == NotifyKind::Health).count(),
            3
        );
        assert!(kinds.contains(&NotifyKind::Clog));
        let log = c.clog_tail(10);
        assert!(
            log.iter()
                .any(|e| e.message == "Health check failed: MGR_X summary (MGR_X)")
        );
    }

    #[test]
    fn clog_ring_is_bounded() {
        let c = Cluster::new("fsid");
        for i in 0..(CLOG_CAPACITY + 5) {
            c.log_to_cluster("mgr.x", "cluster", "info", &format!("m{i}"));
        }
        let t = c.clog_tail(usize::MAX);
        assert_eq!(t.len(), CLOG_CAPACITY);
        assert_eq!(t.last().unwrap().message, format!("m{}", CLOG_CAPACITY + 4));
        assert_eq!(t.last().unwrap().priority, "[INF]");
        assert_eq!(c.clog_tail(2).len(), 2);
        // Large messages: each cut, the ring bounded in bytes, a tail too.
        let big = "x".repeat(100 << 10);
        for _ in 0..1000 {
            c.log_to_cluster("mgr.x", "cluster", "info", &big);
        }
        let t = c.clog_tail(usize::MAX);
        assert!(t.iter().all(|e| e.message.len() == CLOG_MESSAGE_MAX));
        let bytes: usize = t.iter().map(|e| e.message.len()).sum();
        assert!(bytes <= CLOG_TAIL_MAX_BYTES, "{bytes}");
        assert!(c.lock().clog_bytes <= CLOG_MAX_BYTES);
    }

    #[test]
    fn mgr_modules_and_connection() {
        let c = Cluster::new("fsid");
        c.set_mgr_modules(vec!["b".into(), "a".into()]);
        assert_eq!(c.snapshot().mgr_map.epoch, 1);
        c.set_mgr_modules(vec!["a".into(), "b".into()]);
        assert_eq!(c.snapshot().mgr_map.epoch, 1);
        assert!(!c.snapshot().have_mon_connection);
        c.set_mon_connection(true);
        assert!(c.snapshot().have_mon_connection);
    }
}
