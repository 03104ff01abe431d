//! wasm-mgr's real-cluster source: follows a Ceph cluster (16.2, Pacific) over
//! Ceph's own protocol ([`wasm_mgr_protocol`]) and takes the commands modules send
//! to it.
//!
//! The monitors push every new map to a subscription; each push makes the
//! source read that map's JSON dump (`osd dump`, `fs dump`, ...) through a
//! monitor command and publish it at once. Health arrives with the monitors'
//! digest every few seconds (and is re-read when the OSD map moves), and the
//! cluster log streams in. What only the active ceph-mgr holds, `pg dump` and
//! perf counters, is read on an interval: `pg dump` from the manager directly,
//! perf counters from each daemon (`tell ... perf dump`). When the monitors go
//! away the last state stays published, `have-mon-connection` turns false, and
//! the monitor client hunts for another; after it reconnects, subscriptions
//! resume from the epoch after the last one seen.
//!
//! librados is no longer needed to follow. It stays, loaded only on demand, for
//! the HA backend's RADOS lock ([`rados`]).

mod parse;
pub mod rados;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use wasm_mgr_cluster::command::CommandTable;
use wasm_mgr_cluster::source::{ClusterSource, CommandDest, CommandOutput, errno};
use wasm_mgr_cluster::{Cluster, DaemonCounters, PgSummary, Update, time};
use wasm_mgr_protocol::types::EntityAddr;
use wasm_mgr_protocol::{Event, MonClient, MonClientConfig, Target};

/// How to reach the cluster.
#[derive(Clone, Debug)]
pub struct CephConfig {
    /// `ceph.conf` path.
    pub conf: PathBuf,
    /// Keyring path, if not the one `ceph.conf` names.
    pub keyring: Option<PathBuf>,
    /// Entity to authenticate as (`client.admin`).
    pub name: String,
    /// How often PG statistics (`pg dump`, `df`) are read from the manager.
    pub pg_interval: Duration,
    /// How often to read every daemon's perf counters (zero: never).
    pub perf_interval: Duration,
    /// Seconds a connection attempt or a command may take.
    pub timeout_secs: u32,
}

impl CephConfig {
    /// Age of PG statistics beyond which a health check says they are stale:
    /// three reads missed, and never under 15 s (ceph-mgr itself refreshes its
    /// PG map every tick, 2 s by default).
    pub fn pg_stale_after(&self) -> Duration {
        (self.pg_interval * 3).max(Duration::from_secs(15))
    }
}

impl Default for CephConfig {
    fn default() -> Self {
        CephConfig {
            conf: PathBuf::from("/etc/ceph/ceph.conf"),
            keyring: None,
            name: "client.admin".into(),
            pg_interval: Duration::from_secs(5),
            perf_interval: Duration::from_secs(5),
            timeout_secs: 5,
        }
    }
}

/// The source, configured but not yet following: its configuration and key are
/// read, so that the cluster's fsid is known before anything starts.
pub struct CephSource {
    cfg: CephConfig,
    client: MonClientConfig,
    fsid: String,
}

impl CephSource {
    /// Read the configuration and the key.
    pub fn open(cfg: CephConfig) -> Result<CephSource> {
        if !cfg.conf.is_file() {
            anyhow::bail!("ceph configuration {} not found", cfg.conf.display());
        }
        let mut client = MonClientConfig::from_conf(&cfg.conf, &cfg.name, cfg.keyring.as_deref())
            .with_context(|| format!("reading {}", cfg.conf.display()))?;
        client.connect_timeout = Duration::from_secs(cfg.timeout_secs.max(1) as u64);
        let fsid = client.fsid.map(|f| f.to_string()).unwrap_or_default();
        Ok(CephSource { cfg, client, fsid })
    }

    /// A librados handle of its own (for the HA lease) whose monitor and OSD
    /// operations give up after `timeout_secs`; librados is loaded here.
    pub fn client(&self, timeout_secs: u32) -> Result<rados::Rados> {
        let lib = rados::Librados::load()?;
        let rados = rados::Rados::new(
            lib,
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

    /// Start following the cluster into `cluster` (on the current tokio runtime).
    pub fn start(self, cluster: Arc<Cluster>) -> Result<CephHandle> {
        let rt = tokio::runtime::Handle::try_current()
            .context("the ceph source runs on a tokio runtime")?;
        // The monitors write health transitions to the cluster log themselves.
        cluster.set_health_log(false);
        let _guard = rt.enter();
        let (client, events) = MonClient::start(self.client);
        let shared = Arc::new(Shared {
            cfg: self.cfg,
            cluster,
            client,
            mon_commands: ArcSwap::default(),
            mgr_commands: ArcSwap::default(),
            addrs: Mutex::new(Addrs::default()),
        });
        let (stop_tx, stop_rx) = mpsc::channel(1);
        let task = rt.spawn(follow(Arc::clone(&shared), events, stop_rx));
        Ok(CephHandle {
            shared,
            stop: stop_tx,
            task: Arc::new(task),
        })
    }
}

/// Whose health checks the staleness of PG statistics is.
const PG_AGE_CHECKS: &str = "ceph source";

/// Where the daemons commands go to are, from the latest maps.
#[derive(Default)]
struct Addrs {
    osds: HashMap<i32, EntityAddr>,
    mgr: Option<EntityAddr>,
}

struct Shared {
    cfg: CephConfig,
    cluster: Arc<Cluster>,
    client: MonClient,
    /// The monitors' and the manager's commands, read at each connection.
    mon_commands: ArcSwap<CommandTable>,
    mgr_commands: ArcSwap<CommandTable>,
    addrs: Mutex<Addrs>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a command goes.
#[derive(Clone, Copy)]
enum Dest {
    Mon,
    /// The monitor of the session (`tell mon.X` for its perf counters).
    ThisMon,
    Mgr,
    Osd(i32),
}

impl Shared {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.timeout_secs.max(1) as u64)
    }

    async fn run(&self, dest: Dest, cmd: &str, inbuf: &[u8]) -> Result<CommandOutput, String> {
        let t = self.timeout();
        let r = match dest {
            Dest::Mon => self.client.command(cmd, inbuf, t).await,
            Dest::ThisMon => self.client.tell(Target::Mon, cmd, inbuf, t).await,
            Dest::Mgr => {
                let Some(a) = lock(&self.addrs).mgr.clone() else {
                    return Err("no active manager in the manager map".into());
                };
                self.client.tell(Target::Mgr(a), cmd, inbuf, t).await
            }
            Dest::Osd(id) => {
                let Some(a) = lock(&self.addrs).osds.get(&id).cloned() else {
                    return Err(format!("osd.{id} is not up in the OSD map"));
                };
                self.client.tell(Target::Osd(a), cmd, inbuf, t).await
            }
        };
        match r {
            Ok(r) => Ok(CommandOutput {
                retval: r.retval,
                stdout: String::from_utf8_lossy(&r.data).into_owned(),
                stderr: r.status,
            }),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A command answered in JSON; a non-zero return is an error naming the
    /// entity (for missing caps) and the command.
    async fn json(&self, dest: Dest, cmd: Value) -> Result<Value> {
        let prefix = cmd["prefix"].as_str().unwrap_or("").to_string();
        let out = self
            .run(dest, &cmd.to_string(), b"")
            .await
            .map_err(|e| anyhow::anyhow!("{prefix}: {e}"))?;
        if out.retval != 0 {
            anyhow::bail!(
                "{prefix} as {}: {} {}",
                self.cfg.name,
                wasm_mgr_protocol::errno_name(-out.retval),
                out.stderr
            );
        }
        serde_json::from_str(&out.stdout).with_context(|| format!("{prefix}: not JSON"))
    }

    async fn mon(&self, prefix: &str, args: &[(&str, &str)]) -> Result<Value> {
        let mut cmd = json!({"prefix": prefix, "format": "json"});
        for (k, v) in args {
            cmd[*k] = Value::String((*v).to_string());
        }
        self.json(Dest::Mon, cmd).await
    }

    /// Read which commands the monitors (`Dest::Mon`) or the manager
    /// (`Dest::Mgr`) take, for operators' words and permission checks; a table
    /// that cannot be read stays as it was.
    async fn read_commands(&self, dest: Dest) {
        let (slot, who) = match dest {
            Dest::Mgr => (&self.mgr_commands, "manager's"),
            _ => (&self.mon_commands, "monitors'"),
        };
        let ask = json!({"prefix": "get_command_descriptions"});
        match self.json(dest, ask).await {
            Ok(d) => slot.store(Arc::new(CommandTable::from_descriptions(&d))),
            Err(e) => tracing::warn!("ceph: reading the {who} commands: {e:#}"),
        }
    }
}

/// A running `ceph` source: where module commands go.
#[derive(Clone)]
pub struct CephHandle {
    shared: Arc<Shared>,
    stop: mpsc::Sender<()>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for CephHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CephHandle").finish_non_exhaustive()
    }
}

impl CephHandle {
    /// Send a command (Ceph's JSON dict) to `dest` and wait for its answer; no
    /// session answers `-ENOTCONN`.
    pub async fn command(&self, dest: CommandDest, cmd: &Value, inbuf: &str) -> CommandOutput {
        let dest = match dest {
            CommandDest::Mon => Dest::Mon,
            CommandDest::Mgr => Dest::Mgr,
            CommandDest::Osd(id) => Dest::Osd(id),
        };
        match self
            .shared
            .run(dest, &cmd.to_string(), inbuf.as_bytes())
            .await
        {
            Ok(out) => out,
            Err(e) => CommandOutput::err(errno::ENOTCONN, e),
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
        let _ = self.stop.try_send(());
        self.task.abort();
    }
}

impl ClusterSource for CephHandle {
    fn command<'a>(
        &'a self,
        dest: CommandDest,
        cmd: &'a Value,
        inbuf: &'a str,
    ) -> BoxFuture<'a, CommandOutput> {
        Box::pin(CephHandle::command(self, dest, cmd, inbuf))
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

/// Perf counters of one daemon: its schema, read once per daemon incarnation.
struct DaemonPerf {
    incarnation: u64,
    schema: Arc<[wasm_mgr_cluster::CounterDef]>,
    reads: Vec<parse::CounterRead>,
}

/// What the follower remembers between pushes.
#[derive(Default)]
struct Follower {
    /// The quorum as the last digest showed it (an election moves it without a
    /// new monmap).
    quorum: Option<Value>,
    /// The name of the monitor of the session (for its perf counters).
    session_mon: Option<String>,
    previous_pgs: PgSummary,
    metadata: wasm_mgr_cluster::MetadataMap,
    perf_schemas: HashMap<String, DaemonPerf>,
    /// The last error of each part, so that a lasting failure is logged once.
    errors: HashMap<&'static str, String>,
    connected: bool,
    /// When ceph-mgr's PG map that we hold was made (its `stamp`, Unix seconds).
    pg_stamp: Option<u64>,
    /// Why the last PG read failed, if it did.
    pg_error: Option<String>,
    /// When following started (the age of PG statistics never read).
    started: Option<Instant>,
    /// Whether the staleness check is raised.
    pg_stale: bool,
}

fn raw(v: &Value) -> Arc<str> {
    Arc::from(v.to_string())
}

async fn follow(
    shared: Arc<Shared>,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut stop: mpsc::Receiver<()>,
) {
    let mut f = Follower {
        started: Some(Instant::now()),
        ..Follower::default()
    };
    // The first PG read follows the first manager map (see `event`).
    let pg_every = shared.cfg.pg_interval.max(Duration::from_millis(100));
    let mut pg_tick = tokio::time::interval_at(tokio::time::Instant::now() + pg_every, pg_every);
    pg_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let perf_every = if shared.cfg.perf_interval.is_zero() {
        Duration::from_secs(3600 * 24 * 365)
    } else {
        shared.cfg.perf_interval
    };
    let mut perf_tick = tokio::time::interval(perf_every);
    perf_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            e = events.recv() => match e {
                None => break,
                Some(e) => f.event(&shared, e).await,
            },
            _ = pg_tick.tick() => {
                if f.connected {
                    let r = f.pg_map(&shared).await;
                    f.pg_error = r.as_ref().err().map(|e| format!("{e:#}"));
                    f.step("PG map", r);
                }
                f.check_pg_age(&shared);
            },
            _ = perf_tick.tick(), if f.connected && !shared.cfg.perf_interval.is_zero() => {
                f.perf(&shared).await;
            },
            _ = stop.recv() => break,
        }
    }
}

impl Follower {
    fn step(&mut self, name: &'static str, r: Result<()>) {
        match r {
            Ok(()) => {
                self.errors.remove(name);
            }
            Err(e) => {
                let text = format!("{e:#}");
                if self.errors.get(name) != Some(&text) {
                    tracing::warn!("ceph: reading the {name}: {text}");
                    self.errors.insert(name, text);
                }
            }
        }
    }

    async fn event(&mut self, shared: &Shared, e: Event) {
        let cluster = &shared.cluster;
        match e {
            Event::Session {
                mon,
                global_id,
                mode,
            } => {
                tracing::info!(
                    "ceph: session with mon at {mon} as {} (global id {global_id}, {mode} mode)",
                    shared.cfg.name
                );
                cluster.set_mon_connection(true);
                self.connected = true;
                self.quorum = None;
                // The digest names the monitor of the session.
                self.session_mon = None;
                shared.read_commands(Dest::Mon).await;
                // The manager's, if it is known (a reconnection): otherwise its
                // map brings it.
                if lock(&shared.addrs).mgr.is_some() {
                    shared.read_commands(Dest::Mgr).await;
                }
            }
            Event::Lost { reason } => {
                tracing::warn!("ceph: lost the monitors: {reason}");
                cluster.set_mon_connection(false);
                self.connected = false;
            }
            Event::ConnectFailed { reason, .. } => {
                let text = reason;
                if self.errors.get("session") != Some(&text) {
                    tracing::warn!("ceph: {text}");
                    self.errors.insert("session", text);
                }
            }
            Event::MonMap(_) => {
                let r = self.mon_map(shared).await;
                self.step("monitor map", r);
            }
            Event::OsdMap(e) => {
                if e.last()
                    .is_some_and(|l| l as u64 > cluster.snapshot().osd_map.epoch)
                {
                    let r = self.osd_map(shared).await;
                    self.step("OSD map", r);
                    // Which OSD is down changes the health detail at once.
                    let r = self.health(shared, None).await;
                    self.step("health", r);
                }
            }
            Event::FsMap(epoch) => {
                if epoch as u64 != cluster.snapshot().fs_map.epoch {
                    let r = self.fs_map(shared).await;
                    self.step("FS map", r);
                }
            }
            Event::MgrMap(_) => {
                let had = lock(&shared.addrs).mgr.clone();
                let r = self.mgr_map(shared).await;
                self.step("manager map", r);
                let now = lock(&shared.addrs).mgr.clone();
                if now.is_some() && now != had {
                    // A new active manager: its commands, and its PG statistics
                    // without waiting for the next interval.
                    shared.read_commands(Dest::Mgr).await;
                    let r = self.pg_map(shared).await;
                    self.step("PG map", r);
                }
            }
            Event::ServiceMap(epoch) => {
                if epoch as u64 != cluster.snapshot().service_map.epoch {
                    let r = self.service_map(shared).await;
                    self.step("service map", r);
                }
            }
            Event::Config(_) => {
                let r = self.config(shared).await;
                self.step("configuration", r);
            }
            Event::Log(entries) => {
                let mut config_changed = false;
                for l in entries {
                    let stamp = std::time::UNIX_EPOCH
                        + Duration::from_secs(l.stamp.sec as u64)
                        + Duration::from_nanos(l.stamp.nsec as u64);
                    // Every change of the central configuration is audited.
                    config_changed |= l.channel == "audit"
                        && l.message.contains("\"prefix\":\"config ")
                        && l.message.ends_with("finished");
                    cluster.log_entry(
                        &time::rfc3339(stamp),
                        &l.name.to_string(),
                        &l.channel,
                        l.level,
                        &l.message,
                    );
                }
                if config_changed {
                    let r = self.config(shared).await;
                    self.step("configuration", r);
                }
            }
            Event::Digest { mon_status, health } => {
                let status: Value = serde_json::from_slice(&mon_status).unwrap_or_default();
                self.session_mon = status["name"].as_str().map(str::to_string);
                let quorum = json!([status["election_epoch"], status["quorum"]]);
                if self.quorum.as_ref().is_some_and(|q| *q != quorum) {
                    let r = self.mon_map(shared).await;
                    self.step("monitor map", r);
                }
                self.quorum = Some(quorum);
                let detail: Value = serde_json::from_slice(&health).unwrap_or_default();
                let r = self.health(shared, Some(detail)).await;
                self.step("health", r);
            }
        }
    }

    fn publish_maps(&mut self, shared: &Shared, mut update: Update) {
        if update.mon_map.is_some() || update.osd_map.is_some() || update.mgr_map.is_some() {
            update.metadata = Some(self.metadata.clone());
            update.servers = Some(parse::servers(&self.metadata));
        }
        shared.cluster.publish(update);
    }

    async fn mon_map(&mut self, shared: &Shared) -> Result<()> {
        let dump = shared.mon("mon dump", &[]).await?;
        let q = shared.mon("quorum_status", &[]).await?;
        let meta = shared.mon("mon metadata", &[]).await?;
        parse::metadata("mon", "name", &meta, &mut self.metadata);
        let mut update = Update {
            mon_map: Some(parse::mon_map(&dump, &q)),
            ..Update::default()
        };
        update.raw.push(("mon_map", raw(&dump)));
        self.publish_maps(shared, update);
        Ok(())
    }

    async fn osd_map(&mut self, shared: &Shared) -> Result<()> {
        let dump = shared.mon("osd dump", &[]).await?;
        let tree = shared.mon("osd tree", &[]).await?;
        let meta = shared.mon("osd metadata", &[]).await?;
        {
            let mut addrs = lock(&shared.addrs);
            addrs.osds = dump["osds"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .filter(|o| o["up"].as_u64() == Some(1))
                .filter_map(|o| {
                    let id = o["osd"].as_i64()? as i32;
                    let a = parse::msgr2_addr(&o["public_addrs"])?.parse().ok()?;
                    Some((id, a))
                })
                .collect();
        }
        parse::metadata("osd", "id", &meta, &mut self.metadata);
        let mut update = Update {
            osd_map: Some(parse::osd_map(&dump, &tree)),
            ..Update::default()
        };
        update.raw.push(("osd_map", raw(&dump)));
        update.raw.push(("osd_map_tree", raw(&tree)));
        update.raw.push(("osd_metadata", raw(&meta)));
        self.publish_maps(shared, update);
        Ok(())
    }

    async fn fs_map(&mut self, shared: &Shared) -> Result<()> {
        let dump = shared.mon("fs dump", &[]).await?;
        let mut update = Update {
            fs_map: Some(parse::fs_map(&dump)),
            ..Update::default()
        };
        update.raw.push(("fs_map", raw(&dump)));
        shared.cluster.publish(update);
        Ok(())
    }

    async fn mgr_map(&mut self, shared: &Shared) -> Result<()> {
        let dump = shared.mon("mgr dump", &[]).await?;
        lock(&shared.addrs).mgr = parse::msgr2_addr(&dump["active_addrs"])
            .and_then(|a| a.parse().ok())
            .filter(|_| dump["available"].as_bool() == Some(true));
        let meta = shared.mon("mgr metadata", &[]).await?;
        parse::metadata("mgr", "name", &meta, &mut self.metadata);
        let update = Update {
            mgr_map: Some(parse::mgr_map(&dump)),
            ..Update::default()
        };
        self.publish_maps(shared, update);
        Ok(())
    }

    async fn service_map(&mut self, shared: &Shared) -> Result<()> {
        let dump = shared.mon("service dump", &[]).await?;
        let mut update = Update {
            service_map: Some(parse::service_map(&dump)),
            ..Update::default()
        };
        update.raw.push(("service_map", raw(&dump)));
        shared.cluster.publish(update);
        Ok(())
    }

    async fn config(&mut self, shared: &Shared) -> Result<()> {
        let config = parse::config(&shared.mon("config dump", &[]).await?);
        if config != *shared.cluster.snapshot().config {
            shared.cluster.publish(Update {
                config: Some(config),
                ..Update::default()
            });
        }
        Ok(())
    }

    /// Publish the health detail the digest carried, or read it.
    async fn health(&mut self, shared: &Shared, detail: Option<Value>) -> Result<()> {
        let detail = match detail {
            Some(d) if d.get("checks").is_some() => d,
            _ => shared.mon("health", &[("detail", "detail")]).await?,
        };
        // Publishing unchanged checks sends no `health` notify.
        shared.cluster.publish(Update {
            cluster_checks: Some(parse::health_checks(&detail)),
            ..Update::default()
        });
        Ok(())
    }

    /// `pg dump` from the active manager and `df` from the monitors.
    async fn pg_map(&mut self, shared: &Shared) -> Result<()> {
        let dump = shared
            .json(Dest::Mgr, json!({"prefix": "pg dump", "format": "json"}))
            .await?;
        let df = shared.mon("df", &[("detail", "detail")]).await?;
        let map = dump.get("pg_map").unwrap_or(&dump);
        self.pg_stamp = map["stamp"].as_str().and_then(time::parse_unix_secs);
        let rates = parse::rates_from_delta(map);
        let (summary, table) = parse::pg_summary(&dump, &self.previous_pgs, rates);
        let mut update = Update::default();
        if let Some(map) = dump.get("pg_map") {
            update.raw.push(("pg_dump", raw(map)));
            update
                .raw
                .push(("pg_stats", raw(&json!({"pg_stats": map["pg_stats"]}))));
        }
        self.previous_pgs = summary.clone();
        update.pg_summary = Some(summary);
        update.pgs = Some(Arc::new(table));
        update.df = Some(parse::df(&df));
        update.raw.push(("df", raw(&df)));
        shared.cluster.publish(update);
        Ok(())
    }

    /// Raise `WASM_MGR_PG_STATS_STALE` while the PG statistics we hold (and
    /// `df`, read with them) are older than [`CephConfig::pg_stale_after`]:
    /// ceph-mgr is down, or not answering us. Cleared by a fresh read.
    fn check_pg_age(&mut self, shared: &Shared) {
        let limit = shared.cfg.pg_stale_after();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (age, since) = match self.pg_stamp {
            Some(stamp) => (
                Duration::from_secs(now.saturating_sub(stamp)),
                format!(
                    "last updated by ceph-mgr {} s ago",
                    now.saturating_sub(stamp)
                ),
            ),
            None => (
                self.started.map_or(Duration::ZERO, |t| t.elapsed()),
                "never read since wasm-mgr started".to_string(),
            ),
        };
        let stale = age > limit;
        // Raised and cleared on the change only: the age itself is on the host's
        // metrics page (`wasm_mgr_pg_stats_age_seconds`).
        if stale == self.pg_stale {
            return;
        }
        self.pg_stale = stale;
        let checks = if stale {
            let mut detail = vec![format!(
                "PG statistics, pg dump and df are {since} (limit {} s)",
                limit.as_secs()
            )];
            if let Some(e) = &self.pg_error {
                detail.push(format!("reading them: {e}"));
            }
            vec![wasm_mgr_cluster::HealthCheck {
                code: "WASM_MGR_PG_STATS_STALE".into(),
                severity: wasm_mgr_cluster::HealthStatus::Warn,
                summary: format!(
                    "PG statistics from ceph-mgr are stale (over {} s old)",
                    limit.as_secs()
                ),
                detail,
                count: 1,
            }]
        } else {
            Vec::new()
        };
        shared.cluster.set_module_health(PG_AGE_CHECKS, checks);
    }

    /// Perf counters of the session's monitor and every up OSD. A daemon that
    /// does not answer is left out of this round.
    async fn perf(&mut self, shared: &Shared) {
        let started = Instant::now();
        let snap = shared.cluster.snapshot();
        let mut daemons: Vec<(String, Dest, u64)> = Vec::new();
        if let Some(m) = &self.session_mon {
            daemons.push((format!("mon.{m}"), Dest::ThisMon, 0));
        }
        daemons.extend(
            snap.osd_map
                .osds
                .iter()
                .filter(|o| o.up)
                .map(|o| (format!("osd.{}", o.id), Dest::Osd(o.id), o.up_from)),
        );
        let mut out = Vec::with_capacity(daemons.len());
        let names: Vec<String> = daemons.iter().map(|d| d.0.clone()).collect();
        for (name, dest, incarnation) in daemons {
            let known = self
                .perf_schemas
                .get(&name)
                .is_some_and(|p| p.incarnation == incarnation);
            if !known {
                match shared
                    .json(dest, json!({"prefix": "perf schema", "format": "json"}))
                    .await
                {
                    Ok(schema) => {
                        let (schema, reads) = parse::perf_schema(&schema);
                        self.perf_schemas.insert(
                            name.clone(),
                            DaemonPerf {
                                incarnation,
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
            let Some(p) = self.perf_schemas.get(&name) else {
                continue;
            };
            match shared
                .json(dest, json!({"prefix": "perf dump", "format": "json"}))
                .await
            {
                Ok(dump) => out.push(DaemonCounters {
                    daemon: Arc::from(name.as_str()),
                    schema: Arc::clone(&p.schema),
                    values: parse::perf_values(&dump, &p.reads),
                }),
                Err(e) => tracing::debug!("ceph: perf dump of {name}: {e:#}"),
            }
        }
        self.perf_schemas.retain(|n, _| names.contains(n));
        tracing::debug!(
            "ceph: perf counters of {} daemons in {:?}",
            out.len(),
            started.elapsed()
        );
        shared.cluster.publish(Update {
            perf: Some(Arc::new(out)),
            ..Update::default()
        });
    }
}
