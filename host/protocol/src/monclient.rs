//! A monitor client: hunts for a monitor, keeps one session, subscribes to the
//! maps and logs the caller wants, delivers what the monitors push as
//! [`Event`]s, runs monitor commands, and sends commands to OSDs, managers and
//! the connected monitor.
//!
//! When the session fails, the client tries the next monitor of the latest
//! monmap at once, then backs off (up to [`MonClientConfig::max_backoff`]); a
//! session once established resets the back-off. After a new session it
//! subscribes from the epoch after the last one it saw, so no map is missed,
//! and re-sends the monitor commands still waiting for an answer.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::cephx::CephxClient;
use crate::conf::CephConf;
use crate::conn::{ConnError, ConnectOptions, Connection, Credentials, mode};
use crate::crypto::CryptoKey;
use crate::frame::Limits;
use crate::message::{
    self, CommandReply, LogEntry, Message, MgrMapHead, MonMap, OsdMapEpochs, Subscription, kind,
};
use crate::types::{EntityAddr, EntityName, Fsid, entity};

/// What the monitors can push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feed {
    /// `monmap`.
    MonMap,
    /// `osdmap`.
    OsdMap,
    /// `fsmap`.
    FsMap,
    /// `mgrmap`.
    MgrMap,
    /// `servicemap`.
    ServiceMap,
    /// `config` (the configuration for this entity).
    Config,
    /// `log-info`: the cluster log at info and above.
    Log,
    /// `mgrdigest`: health and monitor status, every few seconds.
    MgrDigest,
}

impl Feed {
    /// Every feed.
    pub const ALL: [Feed; 8] = [
        Feed::MonMap,
        Feed::OsdMap,
        Feed::FsMap,
        Feed::MgrMap,
        Feed::ServiceMap,
        Feed::Config,
        Feed::Log,
        Feed::MgrDigest,
    ];

    fn name(self) -> &'static str {
        match self {
            Feed::MonMap => "monmap",
            Feed::OsdMap => "osdmap",
            Feed::FsMap => "fsmap",
            Feed::MgrMap => "mgrmap",
            Feed::ServiceMap => "servicemap",
            Feed::Config => "config",
            Feed::Log => "log-info",
            Feed::MgrDigest => "mgrdigest",
        }
    }
}

/// What the client tells its owner.
#[derive(Clone, Debug)]
pub enum Event {
    /// A session with a monitor is up.
    Session {
        /// The monitor.
        mon: SocketAddr,
        /// Our global id.
        global_id: u64,
        /// `crc` or `secure`.
        mode: &'static str,
    },
    /// The session is gone (the client is hunting for another).
    Lost {
        /// Why.
        reason: String,
    },
    /// A monitor refused to authenticate us, or could not be reached.
    ConnectFailed {
        /// The monitor.
        mon: SocketAddr,
        /// Why (names the entity and the monitor).
        reason: String,
    },
    /// A new monitor map.
    MonMap(MonMap),
    /// New OSD map epochs.
    OsdMap(OsdMapEpochs),
    /// A new FS map epoch.
    FsMap(u32),
    /// A new manager map.
    MgrMap(MgrMapHead),
    /// A new service map epoch.
    ServiceMap(u32),
    /// This entity's configuration.
    Config(Vec<(String, String)>),
    /// Cluster log entries.
    Log(Vec<LogEntry>),
    /// Health and monitor status, as JSON.
    Digest {
        /// `mon_status`.
        mon_status: Vec<u8>,
        /// `health detail`.
        health: Vec<u8>,
    },
}

/// How to reach and authenticate to the monitors.
#[derive(Clone, Debug)]
pub struct MonClientConfig {
    /// Who we are.
    pub name: EntityName,
    /// Our key.
    pub key: CryptoKey,
    /// The monitors to try first (the monmap's replace them once known).
    pub mons: Vec<SocketAddr>,
    /// The cluster's fsid, if known (checked against the monitors').
    pub fsid: Option<Fsid>,
    /// Modes for monitor sessions, preferred first (`ms_mon_client_mode`).
    pub mon_modes: Vec<u32>,
    /// Modes for OSD and manager sessions (`ms_client_mode`).
    pub service_modes: Vec<u32>,
    /// What to subscribe to.
    pub feeds: Vec<Feed>,
    /// Longest pause between attempts to reach a monitor.
    pub max_backoff: Duration,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// Keepalive interval.
    pub keepalive: Duration,
    /// Silence after which a peer counts as gone.
    pub idle_timeout: Duration,
    /// Limits on what a peer may make us read.
    pub limits: Limits,
}

impl MonClientConfig {
    /// Read `ceph.conf` (and the keyring it names, or `keyring`) for `name`.
    pub fn from_conf(
        conf: &Path,
        name: &str,
        keyring: Option<&Path>,
    ) -> Result<MonClientConfig, crate::conf::ConfError> {
        let name: EntityName = name.parse().map_err(crate::conf::ConfError)?;
        let conf = CephConf::load(conf, &name)?;
        Ok(MonClientConfig {
            key: conf.key(keyring)?,
            mons: conf.mon_addrs()?,
            fsid: conf.fsid()?,
            mon_modes: conf.modes("ms_mon_client_mode", "secure crc")?,
            service_modes: conf.modes("ms_client_mode", "crc secure")?,
            name,
            feeds: Feed::ALL.to_vec(),
            max_backoff: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            limits: Limits::default(),
        })
    }

    fn options(&self, peer_type: u32, modes: &[u32], global_id: u64) -> ConnectOptions {
        ConnectOptions {
            peer_type,
            modes: modes.to_vec(),
            global_id,
            limits: self.limits,
            timeout: self.connect_timeout,
            keepalive: self.keepalive,
            idle_timeout: self.idle_timeout,
        }
    }
}

/// Why a command failed to get an answer.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Not connected, and no session came up in time.
    #[error("{0}")]
    NotConnected(String),
    /// The peer did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The peer could not be reached or authenticated.
    #[error("{0}")]
    Connect(#[from] ConnError),
    /// The client was stopped.
    #[error("the monitor client stopped")]
    Stopped,
}

/// Where a `tell` goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// An OSD at its address.
    Osd(EntityAddr),
    /// A manager at its address (MMgrCommand).
    Mgr(EntityAddr),
    /// The monitor of the current session.
    Mon,
}

/// A command for the monitor of the session: a monitor command (MMonCommand),
/// or a `tell` to that monitor (MCommand).
enum Request {
    MonCommand {
        tell: bool,
        cmd: String,
        inbuf: Vec<u8>,
        reply: oneshot::Sender<CommandReply>,
    },
}

/// A running monitor client.
pub struct MonClient {
    cfg: MonClientConfig,
    requests: mpsc::UnboundedSender<Request>,
    cephx: Arc<Mutex<CephxClient>>,
    services: tokio::sync::Mutex<HashMap<Target, ServiceConn>>,
    fsid: Arc<Mutex<Fsid>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MonClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MonClient {
    /// Start hunting and following; events arrive on the receiver.
    pub fn start(cfg: MonClientConfig) -> (MonClient, mpsc::UnboundedReceiver<Event>) {
        let want = entity::MON | entity::OSD | entity::MGR | entity::MDS;
        let cephx = Arc::new(Mutex::new(CephxClient::new(
            cfg.name.clone(),
            cfg.key.clone(),
            want,
        )));
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let fsid = Arc::new(Mutex::new(cfg.fsid.unwrap_or_default()));
        let task = tokio::spawn(
            Follower {
                cfg: cfg.clone(),
                cephx: Arc::clone(&cephx),
                events: ev_tx,
                requests: req_rx,
                fsid: Arc::clone(&fsid),
                pending: BTreeMap::new(),
                next_tid: 1,
                seen: Seen::default(),
            }
            .run(),
        );
        (
            MonClient {
                cfg,
                requests: req_tx,
                cephx,
                services: tokio::sync::Mutex::new(HashMap::new()),
                fsid,
                task,
            },
            ev_rx,
        )
    }

    /// Run a monitor command (Ceph's JSON) and wait up to `timeout` for its
    /// answer; it is re-sent to the next monitor if the session fails.
    pub async fn command(
        &self,
        cmd: &str,
        inbuf: &[u8],
        timeout: Duration,
    ) -> Result<CommandReply, CommandError> {
        self.on_session(false, cmd, inbuf, timeout).await
    }

    /// A request on the monitor session: a monitor command, or (`tell`) an
    /// MCommand to that monitor; the follower matches the reply by tid.
    async fn on_session(
        &self,
        tell: bool,
        cmd: &str,
        inbuf: &[u8],
        timeout: Duration,
    ) -> Result<CommandReply, CommandError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::MonCommand {
                tell,
                cmd: cmd.to_string(),
                inbuf: inbuf.to_vec(),
                reply: tx,
            })
            .map_err(|_| CommandError::Stopped)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(CommandError::Stopped),
            Err(_) => Err(CommandError::Timeout(timeout)),
        }
    }

    /// Send a command to an OSD or a manager (a session of its own, kept for the
    /// next command), or to the connected monitor.
    pub async fn tell(
        &self,
        target: Target,
        cmd: &str,
        inbuf: &[u8],
        timeout: Duration,
    ) -> Result<CommandReply, CommandError> {
        let fsid = *lock(&self.fsid);
        let mut services = self.services.lock().await;
        services.retain(|_, c| !c.requests.is_closed());
        let conn = match services.get(&target) {
            Some(c) => c.requests.clone(),
            None => {
                let (addr, peer_type, service) = match &target {
                    Target::Osd(a) => (a.clone(), entity::OSD, entity::OSD),
                    Target::Mgr(a) => (a.clone(), entity::MGR, entity::MGR),
                    Target::Mon => {
                        drop(services);
                        return self.on_session(true, cmd, inbuf, timeout).await;
                    }
                };
                let (authorizer, global_id) = {
                    let c = lock(&self.cephx);
                    (c.authorizer(service), c.global_id())
                };
                let authorizer = authorizer.ok_or_else(|| {
                    CommandError::NotConnected(format!(
                        "no {} ticket for {} (not authenticated yet, or no caps for it)",
                        entity::name(service),
                        self.cfg.name
                    ))
                })?;
                let opts = self
                    .cfg
                    .options(peer_type, &self.cfg.service_modes, global_id);
                let conn = tokio::time::timeout(
                    timeout,
                    Connection::connect(&addr, Credentials::Service(authorizer), &opts),
                )
                .await
                .map_err(|_| CommandError::Timeout(timeout))??;
                let sc = ServiceConn::spawn(conn);
                let tx = sc.requests.clone();
                services.insert(target.clone(), sc);
                tx
            }
        };
        drop(services);
        let kind = match target {
            Target::Mgr(_) => kind::MGR_COMMAND,
            _ => kind::COMMAND,
        };
        let (tx, rx) = oneshot::channel();
        conn.send((message::command(kind, 0, fsid, cmd, inbuf), tx))
            .map_err(|_| CommandError::NotConnected("the session closed".into()))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r.map_err(CommandError::NotConnected),
            Ok(Err(_)) => Err(CommandError::NotConnected("the session closed".into())),
            Err(_) => Err(CommandError::Timeout(timeout)),
        }
    }

    /// Our global id (0 before the first session).
    pub fn global_id(&self) -> u64 {
        lock(&self.cephx).global_id()
    }

    /// The cluster's fsid as the monitors said (or as configured).
    pub fn fsid(&self) -> Fsid {
        *lock(&self.fsid)
    }
}

type TellRequest = (Message, oneshot::Sender<Result<CommandReply, String>>);

/// A session with an OSD or a manager that answers commands by tid.
struct ServiceConn {
    requests: mpsc::UnboundedSender<TellRequest>,
}

impl ServiceConn {
    fn spawn(mut conn: Connection) -> ServiceConn {
        let (tx, mut rx) = mpsc::unbounded_channel::<TellRequest>();
        tokio::spawn(async move {
            let mut pending: HashMap<u64, oneshot::Sender<Result<CommandReply, String>>> =
                HashMap::new();
            let mut next_tid = 1u64;
            loop {
                tokio::select! {
                    r = rx.recv() => match r {
                        None => break,
                        Some((mut m, reply)) => {
                            m.tid = next_tid;
                            next_tid += 1;
                            if conn.send(m).is_err() {
                                let _ = reply.send(Err(conn.close_reason()));
                                break;
                            }
                            pending.insert(next_tid - 1, reply);
                        }
                    },
                    m = conn.recv() => match m {
                        None => break,
                        Some(m) if m.kind == kind::COMMAND_REPLY || m.kind == kind::MGR_COMMAND_REPLY => {
                            if let Some(reply) = pending.remove(&m.tid) {
                                let _ = reply.send(message::decode_command_reply(&m).map_err(|e| e.to_string()));
                            }
                        }
                        Some(m) => tracing::debug!("msgr2: ignoring message type {:#x} from {}", m.kind, conn.peer),
                    },
                }
            }
            let why = conn.close_reason();
            for (_, reply) in pending {
                let _ = reply.send(Err(why.clone()));
            }
        });
        ServiceConn { requests: tx }
    }
}

/// The last version of each feed seen, to resubscribe without gaps.
#[derive(Default)]
struct Seen {
    monmap: u32,
    osdmap: u32,
    fsmap: u32,
    mgrmap: u32,
    servicemap: u32,
    log: u64,
}

struct PendingCommand {
    msg: Message,
    reply: oneshot::Sender<CommandReply>,
}

struct Follower {
    cfg: MonClientConfig,
    cephx: Arc<Mutex<CephxClient>>,
    events: mpsc::UnboundedSender<Event>,
    requests: mpsc::UnboundedReceiver<Request>,
    fsid: Arc<Mutex<Fsid>>,
    pending: BTreeMap<u64, PendingCommand>,
    next_tid: u64,
    seen: Seen,
}

impl Follower {
    async fn run(mut self) {
        let mut mons: Vec<EntityAddr> = self
            .cfg
            .mons
            .iter()
            .map(|a| EntityAddr::msgr2(*a))
            .collect();
        let mut at = rand::random::<u32>() as usize % mons.len().max(1);
        let min_backoff = Duration::from_millis(50);
        let mut backoff = Duration::ZERO;
        loop {
            if !backoff.is_zero() && !self.wait(backoff).await {
                return;
            }
            let Some(target) = mons.get(at % mons.len().max(1)).cloned() else {
                let _ = self.events.send(Event::ConnectFailed {
                    mon: "0.0.0.0:0".parse().expect("address"),
                    reason: "no monitor addresses".into(),
                });
                if !self.wait(self.cfg.max_backoff).await {
                    return;
                }
                continue;
            };
            let global_id = lock(&self.cephx).global_id();
            let opts = self
                .cfg
                .options(entity::MON, &self.cfg.mon_modes, global_id);
            let conn = match Connection::connect(
                &target,
                Credentials::Mon(Arc::clone(&self.cephx)),
                &opts,
            )
            .await
            {
                Ok(c) => c,
                Err(e) => {
                    let mon = target.addr.expect("monitor addresses have sockets");
                    // A refusal names the entity and the monitor itself.
                    let reason = match &e {
                        ConnError::Auth(_) => e.to_string(),
                        _ => format!(
                            "{} cannot open a session with mon at {mon}: {e}",
                            self.cfg.name
                        ),
                    };
                    tracing::debug!("{reason}");
                    let _ = self.events.send(Event::ConnectFailed { mon, reason });
                    at += 1;
                    backoff = (backoff * 2).clamp(min_backoff, self.cfg.max_backoff);
                    continue;
                }
            };
            backoff = Duration::ZERO;
            let reason = self.session(conn, &mut mons).await;
            let Some(reason) = reason else { return };
            let _ = self.events.send(Event::Lost { reason });
            at += 1;
        }
    }

    /// Pause, queueing requests meanwhile; false if the owner is gone.
    async fn wait(&mut self, d: Duration) -> bool {
        let end = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => return true,
                r = self.requests.recv() => match r {
                    None => return false,
                    Some(r) => self.queue(r, None),
                },
            }
        }
    }

    fn queue(&mut self, r: Request, conn: Option<&Connection>) {
        let Request::MonCommand {
            tell,
            cmd,
            inbuf,
            reply,
        } = r;
        let tid = self.next_tid;
        self.next_tid += 1;
        let fsid = *lock(&self.fsid);
        let msg = if tell {
            message::command(kind::COMMAND, tid, fsid, &cmd, &inbuf)
        } else {
            message::mon_command(tid, fsid, &cmd, &inbuf)
        };
        if let Some(c) = conn {
            let _ = c.send(msg.clone());
        }
        self.pending.insert(tid, PendingCommand { msg, reply });
    }

    fn subscriptions(&self) -> Vec<Subscription> {
        let next = |v: u64| if v == 0 { 0 } else { v + 1 };
        self.cfg
            .feeds
            .iter()
            .map(|f| Subscription {
                what: f.name().to_string(),
                start: match f {
                    Feed::MonMap => next(self.seen.monmap as u64),
                    Feed::OsdMap => next(self.seen.osdmap as u64),
                    Feed::FsMap => next(self.seen.fsmap as u64),
                    Feed::MgrMap => next(self.seen.mgrmap as u64),
                    Feed::ServiceMap => next(self.seen.servicemap as u64),
                    Feed::Log => next(self.seen.log),
                    Feed::Config | Feed::MgrDigest => 0,
                },
                onetime: false,
            })
            .collect()
    }

    /// Serve one session; `None` when the owner is gone, else why it ended.
    async fn session(
        &mut self,
        mut conn: Connection,
        mons: &mut Vec<EntityAddr>,
    ) -> Option<String> {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        let _ = self.events.send(Event::Session {
            mon: conn.peer,
            global_id: conn.global_id,
            mode: if conn.mode == mode::SECURE {
                "secure"
            } else {
                "crc"
            },
        });
        if !self.cfg.feeds.is_empty() {
            let _ = conn.send(message::mon_subscribe(&self.subscriptions(), &hostname));
        }
        // Commands that were waiting go to this monitor.
        self.pending.retain(|_, p| !p.reply.is_closed());
        for p in self.pending.values() {
            let _ = conn.send(p.msg.clone());
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut renew_subs = Instant::now() + Duration::from_secs(3600);
        loop {
            tokio::select! {
                m = conn.recv() => match m {
                    None => return Some(conn.close_reason()),
                    Some(m) => self.dispatch(m, mons, &mut renew_subs),
                },
                r = self.requests.recv() => match r {
                    None => return None,
                    Some(r) => self.queue(r, Some(&conn)),
                },
                _ = tick.tick() => {
                    let renewal = lock(&self.cephx).renewal();
                    if let Some(p) = renewal {
                        tracing::debug!("cephx: renewing tickets");
                        let _ = conn.send(message::auth(&p, self.seen.monmap));
                    }
                    if Instant::now() >= renew_subs {
                        renew_subs = Instant::now() + Duration::from_secs(3600);
                        let _ = conn.send(message::mon_subscribe(&self.subscriptions(), &hostname));
                    }
                    self.pending.retain(|_, p| !p.reply.is_closed());
                }
            }
        }
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    fn dispatch(&mut self, m: Message, mons: &mut Vec<EntityAddr>, renew_subs: &mut Instant) {
        let r: Result<(), crate::encoding::DecodeError> = (|| {
            match m.kind {
                kind::MON_COMMAND_ACK => {
                    let reply = message::decode_mon_command_ack(&m)?;
                    if let Some(p) = self.pending.remove(&m.tid) {
                        let _ = p.reply.send(reply);
                    }
                }
                kind::COMMAND_REPLY => {
                    let reply = message::decode_command_reply(&m)?;
                    if let Some(p) = self.pending.remove(&m.tid) {
                        let _ = p.reply.send(reply);
                    }
                }
                kind::MON_MAP => {
                    let map = message::decode_mon_map(&m)?;
                    let addrs: Vec<EntityAddr> = map
                        .mons
                        .iter()
                        .filter_map(|(_, a)| a.msgr2().cloned())
                        .collect();
                    if !addrs.is_empty() {
                        *mons = addrs;
                    }
                    self.seen.monmap = map.epoch;
                    self.emit(Event::MonMap(map));
                }
                kind::OSD_MAP => {
                    let e = message::decode_osd_map(&m)?;
                    if let Some(last) = e.last() {
                        self.seen.osdmap = self.seen.osdmap.max(last);
                    }
                    self.emit(Event::OsdMap(e));
                }
                kind::FS_MAP => {
                    let e = message::decode_fs_map_epoch(&m)?;
                    self.seen.fsmap = e;
                    self.emit(Event::FsMap(e));
                }
                kind::MGR_MAP => {
                    let head = message::decode_mgr_map(&m)?;
                    self.seen.mgrmap = head.epoch;
                    self.emit(Event::MgrMap(head));
                }
                kind::SERVICE_MAP => {
                    let e = message::decode_service_map_epoch(&m)?;
                    self.seen.servicemap = e;
                    self.emit(Event::ServiceMap(e));
                }
                kind::CONFIG => self.emit(Event::Config(message::decode_config(&m)?)),
                kind::LOG => {
                    let (version, entries) = message::decode_log(&m)?;
                    self.seen.log = self.seen.log.max(version);
                    self.emit(Event::Log(entries));
                }
                kind::MGR_DIGEST => {
                    let (mon_status, health) = message::decode_mgr_digest(&m)?;
                    self.emit(Event::Digest { mon_status, health });
                }
                kind::MON_SUBSCRIBE_ACK => {
                    let (interval, fsid) = message::decode_subscribe_ack(&m)?;
                    let mut ours = lock(&self.fsid);
                    if *ours == Fsid::default() {
                        *ours = fsid;
                    } else if *ours != fsid {
                        tracing::warn!(
                            "msgr2: the monitors' fsid {fsid} is not the configured {}",
                            *ours
                        );
                    }
                    *renew_subs = Instant::now() + Duration::from_secs(interval.max(2) as u64 / 2);
                }
                kind::AUTH_REPLY => {
                    let reply = message::decode_auth_reply(&m)?;
                    if reply.result < 0 {
                        tracing::warn!(
                            "cephx: renewing tickets for {} failed: {} {}",
                            self.cfg.name,
                            crate::errno_name(-reply.result),
                            reply.message
                        );
                    } else if let Err(e) = lock(&self.cephx).handle_reply(&reply.payload) {
                        tracing::warn!("cephx: renewing tickets for {}: {e}", self.cfg.name);
                    } else {
                        tracing::debug!("cephx: tickets renewed");
                    }
                }
                k => tracing::debug!("msgr2: ignoring message type {k:#x}"),
            }
            Ok(())
        })();
        if let Err(e) = r {
            tracing::warn!("msgr2: message type {:#x}: {e}", m.kind);
        }
    }
}
