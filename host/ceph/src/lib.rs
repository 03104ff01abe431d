//! wasm-mgr's real-cluster source: follows a Ceph cluster (16.2, Pacific) through
//! librados, loaded at run time, and takes the commands modules send to it. It
//! also lends its librados handle to the HA backend's RADOS lock.
//!
//! One thread follows the cluster. Every poll interval it asks the monitors for
//! `status` (one small command), which carries the mon, OSD and FS map epochs, the
//! health summary and the PG summary, and fetches a map only when its epoch (or, for
//! the manager map, its summary) moved. The cluster log streams in through
//! librados' log subscription. When the monitors stop answering, the handle is
//! dropped, `have-mon-connection` turns false, the last state stays published, and
//! the thread reconnects with exponential backoff; after reconnecting it compares
//! epochs with what it last published and fetches only what moved meanwhile.
//!
//! Not for: speaking Ceph's wire protocol itself (that is the protocol crate's
//! future job), or being the cluster's manager.

mod parse;
pub mod rados;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use serde_json::{Value, json};

use futures::future::BoxFuture;
use rados::{Librados, Rados, Reply, Target};
use wasm_mgr_cluster::command::CommandTable;
use wasm_mgr_cluster::source::{ClusterSource, CommandDest, CommandOutput, errno};
use wasm_mgr_cluster::{Cluster, DaemonCounters, PgSummary, Snapshot, Update, time};

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct CephConfig {
    /// `ceph.conf` path.
    pub conf: PathBuf,
    /// Keyring path, if not the one `ceph.conf` names.
    pub keyring: Option<PathBuf>,
    /// Entity to authenticate as (`client.admin`).
    pub name: String,
    /// How often to poll `status`.
    pub poll: Duration,
    /// How often to read every daemon's perf counters (zero: never).
    pub perf_interval: Duration,
    /// Seconds a connection attempt or a command may take.
    pub timeout_secs: u32,
}

impl Default for CephConfig {
    fn default() -> Self {
        CephConfig {
            conf: PathBuf::from("/etc/ceph/ceph.conf"),
            keyring: None,
            name: "client.admin".into(),
            poll: Duration::from_secs(1),
            perf_interval: Duration::from_secs(5),
            timeout_secs: 5,
        }
    }
}

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the manager map and the configuration are re-read even if nothing
/// in `status` says they changed.
const SLOW_REFRESH: Duration = Duration::from_secs(30);

/// The source, opened but not yet following: its library is loaded and its
/// configuration read, so that the cluster's fsid is known before anything starts.
pub struct CephSource {
    lib: Arc<Librados>,
    cfg: CephConfig,
    fsid: String,
}

impl CephSource {
    /// Load librados and read the configuration.
    pub fn open(cfg: CephConfig) -> Result<CephSource> {
        let lib = Librados::load()?;
        if !cfg.conf.is_file() {
            anyhow::bail!("ceph configuration {} not found", cfg.conf.display());
        }
        let probe = Rados::new(
            Arc::clone(&lib),
            &cfg.name,
            &cfg.conf,
            cfg.keyring.as_deref(),
            cfg.timeout_secs,
        )?;
        let fsid = probe.conf_get("fsid").unwrap_or_default();
        Ok(CephSource { lib, cfg, fsid })
    }

    /// A connected handle of its own (for the HA lease) whose monitor and OSD
    /// operations give up after `timeout_secs`.
    pub fn client(&self, timeout_secs: u32) -> Result<Rados> {
        let rados = Rados::new(
            Arc::clone(&self.lib),
            &self.cfg.name,
            &self.cfg.conf,
            self.cfg.keyring.as_deref(),
            timeout_secs,
        )?;
        rados.connect()?;
        Ok(rados)
    }

    /// The cluster's fsid as configured (empty if `ceph.conf` has none).
    pub fn fsid(&self) -> &str {
        &self.fsid
    }

    /// Start following the cluster into `cluster`.
    pub fn start(self, cluster: Arc<Cluster>) -> Result<CephHandle> {
        // The monitors write health transitions to the cluster log themselves.
        cluster.set_health_log(false);
        let shared = Arc::new(Shared {
            lib: self.lib,
            cfg: self.cfg,
            cluster,
            conn: Mutex::new(None),
            mon_commands: ArcSwap::default(),
            mgr_commands: ArcSwap::default(),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("ceph-source".into())
            .spawn(move || follow(&s))
            .context("starting the ceph source thread")?;
        Ok(CephHandle { shared })
    }
}

struct Shared {
    lib: Arc<Librados>,
    cfg: CephConfig,
    cluster: Arc<Cluster>,
    conn: Mutex<Option<Arc<Rados>>>,
    /// The monitors' and the manager's commands, read at each connection.
    mon_commands: ArcSwap<CommandTable>,
    mgr_commands: ArcSwap<CommandTable>,
    stop: AtomicBool,
}

impl Shared {
    fn connection(&self) -> Option<Arc<Rados>> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_connection(&self, rados: Option<Arc<Rados>>) {
        *self.conn.lock().unwrap_or_else(|e| e.into_inner()) = rados;
    }

    /// Read which commands the monitors and the manager take (for operators' words
    /// and for permission checks); a table that cannot be read stays as it was.
    fn read_command_tables(&self, rados: &Rados) {
        let ask = json!({"prefix": "get_command_descriptions"});
        for (target, slot, who) in [
            (Target::Mon, &self.mon_commands, "monitors'"),
            (Target::Mgr, &self.mgr_commands, "manager's"),
        ] {
            match fetch(rados, &target, ask.clone()) {
                Ok(d) => slot.store(Arc::new(CommandTable::from_descriptions(&d))),
                Err(e) => tracing::warn!("ceph: reading the {who} commands: {e:#}"),
            }
        }
    }

    fn connect(&self) -> Result<Rados> {
        let mut rados = Rados::new(
            Arc::clone(&self.lib),
            &self.cfg.name,
            &self.cfg.conf,
            self.cfg.keyring.as_deref(),
            self.cfg.timeout_secs,
        )?;
        rados.connect()?;
        let cluster = Arc::clone(&self.cluster);
        rados.monitor_log(
            "info",
            Box::new(move |l| {
                let stamp = std::time::UNIX_EPOCH
                    + Duration::from_secs(l.sec)
                    + Duration::from_nanos(l.nsec);
                cluster.log_entry(
                    &time::rfc3339(stamp),
                    &l.name,
                    &l.channel,
                    &l.level,
                    &l.message,
                );
            }),
        )?;
        Ok(rados)
    }
}

/// A running `ceph` source: where module commands go.
#[derive(Clone)]
pub struct CephHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CephHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CephHandle").finish_non_exhaustive()
    }
}

impl CephHandle {
    /// Send a command (Ceph's JSON dict) to `target` and wait for its answer; a
    /// missing connection answers `-ENOTCONN`.
    pub async fn command(&self, target: Target, cmd: &Value, inbuf: &str) -> CommandOutput {
        let Some(rados) = self.shared.connection() else {
            return CommandOutput::err(errno::ENOTCONN, "not connected to the monitors");
        };
        let text = cmd.to_string();
        let inbuf = inbuf.as_bytes().to_vec();
        let run = tokio::task::spawn_blocking(move || rados.command(&target, &text, &inbuf));
        match run.await {
            Ok(Ok(Reply {
                retval,
                data,
                status,
            })) => CommandOutput {
                retval,
                stdout: String::from_utf8_lossy(&data).into_owned(),
                stderr: status,
            },
            Ok(Err(e)) => CommandOutput::err(errno::EINVAL, e.to_string()),
            Err(e) => CommandOutput::err(errno::EIO, format!("command failed: {e}")),
        }
    }

    /// The monitors' commands with their permissions (empty before the first
    /// connection).
    pub fn mon_commands(&self) -> Arc<CommandTable> {
        self.shared.mon_commands.load_full()
    }

    /// The active manager's commands with their permissions.
    pub fn mgr_commands(&self) -> Arc<CommandTable> {
        self.shared.mgr_commands.load_full()
    }

    /// Stop following (the last state stays published).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl ClusterSource for CephHandle {
    fn command<'a>(
        &'a self,
        dest: CommandDest,
        cmd: &'a Value,
        inbuf: &'a str,
    ) -> BoxFuture<'a, CommandOutput> {
        let target = match dest {
            CommandDest::Mon => Target::Mon,
            CommandDest::Mgr => Target::Mgr,
            CommandDest::Osd(id) => Target::Osd(id),
        };
        Box::pin(CephHandle::command(self, target, cmd, inbuf))
    }

    fn commands(&self, dest: CommandDest) -> Arc<CommandTable> {
        match dest {
            CommandDest::Mgr => self.mgr_commands(),
            _ => self.mon_commands(),
        }
    }

    fn has_manager(&self) -> bool {
        true
    }

    fn stop(&self) {
        CephHandle::stop(self)
    }
}

/// Sleep in short steps so that `stop` is noticed; false if stopped.
fn pause(shared: &Shared, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if shared.stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(100)));
    }
    !shared.stop.load(Ordering::Relaxed)
}

fn follow(shared: &Shared) {
    let mut backoff = Duration::from_secs(1);
    let mut follower = Follower::default();
    while !shared.stop.load(Ordering::Relaxed) {
        let rados = match shared.connect() {
            Ok(r) => Arc::new(r),
            Err(e) => {
                tracing::warn!("ceph: {e:#}; retrying in {backoff:?}");
                shared.cluster.set_mon_connection(false);
                if !pause(shared, backoff) {
                    break;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        tracing::info!("ceph: connected to the monitors as {}", shared.cfg.name);
        shared.read_command_tables(&rados);
        let session = Instant::now();
        shared.set_connection(Some(Arc::clone(&rados)));
        shared.cluster.set_mon_connection(true);
        follower.reset();
        loop {
            if let Err(e) = follower.poll(&rados, shared) {
                tracing::warn!("ceph: lost the monitors: {e:#}");
                break;
            }
            if !pause(shared, shared.cfg.poll) {
                break;
            }
        }
        shared.set_connection(None);
        shared.cluster.set_mon_connection(false);
        drop(rados);
        // A session that ends soon after it began counts as a failed attempt.
        if session.elapsed() > MAX_BACKOFF {
            backoff = Duration::from_secs(1);
        } else {
            if !pause(shared, backoff) {
                break;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Perf counters of one daemon: its schema, read once per daemon incarnation.
struct DaemonPerf {
    incarnation: u64,
    schema: Arc<[wasm_mgr_cluster::CounterDef]>,
    reads: Vec<parse::CounterRead>,
}

/// What the follower remembers between polls.
#[derive(Default)]
struct Follower {
    /// Parts of `status` whose change asks for a fetch.
    quorum: Option<Value>,
    health: Option<Value>,
    pgmap: Option<Value>,
    mgrmap: Option<Value>,
    last_pg_fetch: Option<Instant>,
    last_slow: Option<Instant>,
    last_perf: Option<Instant>,
    previous_pgs: PgSummary,
    metadata: wasm_mgr_cluster::MetadataMap,
    perf_schemas: HashMap<String, DaemonPerf>,
    /// The last error of each part, so that a lasting failure is logged once.
    errors: HashMap<&'static str, String>,
}

fn fetch(rados: &Rados, target: &Target, cmd: Value) -> Result<Value> {
    let prefix = cmd["prefix"].as_str().unwrap_or("").to_string();
    rados.command(target, &cmd.to_string(), &[])?.json(&prefix)
}

/// A monitor command with arguments, answered in JSON.
fn mon(rados: &Rados, prefix: &str, args: &[(&str, &str)]) -> Result<Value> {
    let mut cmd = json!({"prefix": prefix, "format": "json"});
    for (k, v) in args {
        cmd[*k] = Value::String((*v).to_string());
    }
    fetch(rados, &Target::Mon, cmd)
}

fn fs_map(rados: &Rados, status: &Value, snap: &Snapshot, update: &mut Update) -> Result<()> {
    if status["fsmap"]["epoch"].as_u64() == Some(snap.fs_map.epoch) {
        return Ok(());
    }
    let dump = mon(rados, "fs dump", &[])?;
    update.fs_map = Some(parse::fs_map(&dump));
    update.raw.push(("fs_map", raw(&dump)));
    Ok(())
}

fn service_map(rados: &Rados, status: &Value, snap: &Snapshot, update: &mut Update) -> Result<()> {
    if status["servicemap"]["epoch"].as_u64() == Some(snap.service_map.epoch) {
        return Ok(());
    }
    let dump = mon(rados, "service dump", &[])?;
    update.service_map = Some(parse::service_map(&dump));
    update.raw.push(("service_map", raw(&dump)));
    Ok(())
}

fn raw(v: &Value) -> Arc<str> {
    Arc::from(v.to_string())
}

impl Follower {
    /// Forget what `status` looked like, so that everything is compared again
    /// (after a reconnection).
    fn reset(&mut self) {
        self.quorum = None;
        self.health = None;
        self.pgmap = None;
        self.mgrmap = None;
        self.last_pg_fetch = None;
        self.last_slow = None;
        self.last_perf = None;
    }

    /// One poll: `status`, then whatever moved. Only a failed `status` is an error
    /// (the monitors are gone); a failed fetch is logged and retried next poll.
    fn poll(&mut self, rados: &Rados, shared: &Shared) -> Result<()> {
        let status = mon(rados, "status", &[])?;
        let snap = shared.cluster.snapshot();
        let mut update = Update::default();
        let now = Instant::now();
        let step = |name: &'static str, r: Result<()>, errors: &mut HashMap<&str, String>| match r {
            Ok(()) => {
                errors.remove(name);
            }
            Err(e) => {
                let text = format!("{e:#}");
                if errors.get(name) != Some(&text) {
                    tracing::warn!("ceph: reading the {name}: {text}");
                    errors.insert(name, text);
                }
            }
        };
        let mut errors = std::mem::take(&mut self.errors);
        let r = self.mon_map(rados, &status, &snap, &mut update);
        step("monitor map", r, &mut errors);
        let r = self.osd_map(rados, &status, &snap, &mut update);
        step("OSD map", r, &mut errors);
        let r = fs_map(rados, &status, &snap, &mut update);
        step("FS map", r, &mut errors);
        let r = self.mgr_map(rados, &status, &snap, now, &mut update);
        step("manager map", r, &mut errors);
        let r = service_map(rados, &status, &snap, &mut update);
        step("service map", r, &mut errors);
        let r = self.health(rados, &status, &mut update);
        step("health", r, &mut errors);
        let r = self.pg_map(rados, &status, now, shared.cfg.poll, &mut update);
        step("PG map", r, &mut errors);
        if update.mon_map.is_some() || update.osd_map.is_some() || update.mgr_map.is_some() {
            update.metadata = Some(self.metadata.clone());
            update.servers = Some(parse::servers(&self.metadata));
        }
        self.errors = errors;
        let perf_due = !shared.cfg.perf_interval.is_zero()
            && self
                .last_perf
                .is_none_or(|t| now.duration_since(t) >= shared.cfg.perf_interval);
        if perf_due {
            let osd_map = update.osd_map.as_ref().unwrap_or(&snap.osd_map);
            let mon_map = update.mon_map.as_ref().unwrap_or(&snap.mon_map);
            let mut daemons: Vec<(String, Target, u64)> = mon_map
                .quorum_names()
                .into_iter()
                .map(|n| (format!("mon.{n}"), Target::MonNamed(n.to_string()), 0))
                .collect();
            daemons.extend(
                osd_map
                    .osds
                    .iter()
                    .filter(|o| o.up)
                    .map(|o| (format!("osd.{}", o.id), Target::Osd(o.id), o.up_from)),
            );
            update.perf = Some(Arc::new(self.perf(rados, &daemons)));
            self.last_perf = Some(now);
        }
        shared.cluster.publish(update);
        Ok(())
    }

    fn mon_map(
        &mut self,
        rados: &Rados,
        status: &Value,
        snap: &Snapshot,
        update: &mut Update,
    ) -> Result<()> {
        let quorum = json!([status["election_epoch"], status["quorum"]]);
        if status["monmap"]["epoch"].as_u64() == Some(snap.mon_map.epoch)
            && self.quorum.as_ref() == Some(&quorum)
        {
            return Ok(());
        }
        let dump = mon(rados, "mon dump", &[])?;
        let q = mon(rados, "quorum_status", &[])?;
        let meta = mon(rados, "mon metadata", &[])?;
        update.mon_map = Some(parse::mon_map(&dump, &q));
        update.raw.push(("mon_map", raw(&dump)));
        parse::metadata("mon", "name", &meta, &mut self.metadata);
        self.quorum = Some(quorum);
        Ok(())
    }

    fn osd_map(
        &mut self,
        rados: &Rados,
        status: &Value,
        snap: &Snapshot,
        update: &mut Update,
    ) -> Result<()> {
        if status["osdmap"]["epoch"].as_u64() == Some(snap.osd_map.epoch) {
            return Ok(());
        }
        let dump = mon(rados, "osd dump", &[])?;
        let tree = mon(rados, "osd tree", &[])?;
        let meta = mon(rados, "osd metadata", &[])?;
        update.osd_map = Some(parse::osd_map(&dump, &tree));
        update.raw.push(("osd_map", raw(&dump)));
        update.raw.push(("osd_map_tree", raw(&tree)));
        update.raw.push(("osd_metadata", raw(&meta)));
        parse::metadata("osd", "id", &meta, &mut self.metadata);
        Ok(())
    }

    fn mgr_map(
        &mut self,
        rados: &Rados,
        status: &Value,
        snap: &Snapshot,
        now: Instant,
        update: &mut Update,
    ) -> Result<()> {
        let slow_due = self
            .last_slow
            .is_none_or(|t| now.duration_since(t) >= SLOW_REFRESH);
        if self.mgrmap.as_ref() != Some(&status["mgrmap"]) || slow_due {
            let dump = mon(rados, "mgr dump", &[])?;
            if dump["epoch"].as_u64() != Some(snap.mgr_map.epoch) {
                let meta = mon(rados, "mgr metadata", &[])?;
                update.mgr_map = Some(parse::mgr_map(&dump));
                parse::metadata("mgr", "name", &meta, &mut self.metadata);
            }
            self.mgrmap = Some(status["mgrmap"].clone());
        }
        if slow_due {
            let config = parse::config(&mon(rados, "config dump", &[])?);
            if config != *snap.config {
                update.config = Some(config);
            }
            self.last_slow = Some(now);
        }
        Ok(())
    }

    fn health(&mut self, rados: &Rados, status: &Value, update: &mut Update) -> Result<()> {
        // Which OSD is down changes the detail, not always the summary.
        if self.health.as_ref() == Some(&status["health"]) && update.osd_map.is_none() {
            return Ok(());
        }
        let detail = mon(rados, "health", &[("detail", "detail")])?;
        update.cluster_checks = Some(parse::health_checks(&detail));
        self.health = Some(status["health"].clone());
        Ok(())
    }

    fn pg_map(
        &mut self,
        rados: &Rados,
        status: &Value,
        now: Instant,
        min_interval: Duration,
        update: &mut Update,
    ) -> Result<()> {
        let moved = self.pgmap.as_ref() != Some(&status["pgmap"]) || update.osd_map.is_some();
        let due = self
            .last_pg_fetch
            .is_none_or(|t| now.duration_since(t) >= min_interval);
        if !moved || !due {
            return Ok(());
        }
        let dump = mon(rados, "pg dump", &[])?;
        let df = mon(rados, "df", &[("detail", "detail")])?;
        let rates = parse::rates(&status["pgmap"]);
        let (summary, table) = parse::pg_summary(&dump, &self.previous_pgs, rates);
        self.previous_pgs = summary.clone();
        update.pg_summary = Some(summary);
        update.pgs = Some(Arc::new(table));
        if let Some(map) = dump.get("pg_map") {
            update.raw.push(("pg_dump", raw(map)));
            update
                .raw
                .push(("pg_stats", raw(&json!({"pg_stats": map["pg_stats"]}))));
        }
        update.df = Some(parse::df(&df));
        update.raw.push(("df", raw(&df)));
        self.pgmap = Some(status["pgmap"].clone());
        self.last_pg_fetch = Some(now);
        Ok(())
    }

    /// Perf counters of `daemons` (name, where to ask, incarnation). A daemon that
    /// does not answer is left out of this round.
    fn perf(&mut self, rados: &Rados, daemons: &[(String, Target, u64)]) -> Vec<DaemonCounters> {
        let mut out = Vec::with_capacity(daemons.len());
        for (name, target, incarnation) in daemons {
            let known = self
                .perf_schemas
                .get(name)
                .is_some_and(|p| p.incarnation == *incarnation);
            if !known {
                match fetch(
                    rados,
                    target,
                    json!({"prefix": "perf schema", "format": "json"}),
                ) {
                    Ok(schema) => {
                        let (schema, reads) = parse::perf_schema(&schema);
                        self.perf_schemas.insert(
                            name.clone(),
                            DaemonPerf {
                                incarnation: *incarnation,
                                schema,
                                reads,
                            },
                        );
                    }
                    Err(e) => {
                        tracing::debug!("ceph: perf schema of {name}: {e:#}");
                        continue;
                    }
                }
            }
            let Some(p) = self.perf_schemas.get(name) else {
                continue;
            };
            match fetch(
                rados,
                target,
                json!({"prefix": "perf dump", "format": "json"}),
            ) {
                Ok(dump) => out.push(DaemonCounters {
                    daemon: Arc::from(name.as_str()),
                    schema: Arc::clone(&p.schema),
                    values: parse::perf_values(&dump, &p.reads),
                }),
                Err(e) => tracing::debug!("ceph: perf dump of {name}: {e:#}"),
            }
        }
        self.perf_schemas
            .retain(|n, _| daemons.iter().any(|(d, _, _)| d == n));
        out
    }
}
