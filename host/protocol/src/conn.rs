//! A messenger v2 client connection: the banner, hello, authentication and
//! session handshake, then messages both ways with acks and keepalives.
//!
//! Connections are lossy, as a Ceph client's are: when one fails it is gone,
//! and the owner (the monitor client) opens a new session rather than replaying
//! one. The handshake is signed in both directions (HMAC-SHA256 over every byte
//! each side received before the signature), so a peer that tampered with the
//! unencrypted start is caught; after it, frames are crc-checked or, in secure
//! mode, AES-128-GCM sealed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::cephx::{Authorizer, CEPH_AUTH_CEPHX, CephxClient};
use crate::encoding::{Decoder, Encoder};
use crate::frame::{FrameCodec, FrameError, Limits, MESSAGE_ALIGNMENTS, Tag};
use crate::message::Message;
use crate::types::{AddrVec, EntityAddr, UTime, addr_type, entity};

const BANNER: &[u8] = b"ceph v2\n";
/// `CEPH_MSGR2_FEATURE_REVISION_1`.
const MSGR2_REV1: u64 = 1;
/// `CEPH_FEATUREMASK_MSG_ADDR2`: required of every msgr2 peer.
const FEATURE_MSG_ADDR2: u64 = 1 << 59;
/// The features Ceph 16.2 daemons and clients advertise (`CEPH_FEATURES_ALL`).
pub const FEATURES_PACIFIC: u64 = 0x3f01_cfbd_fffd_ffff;
/// `CEPH_MSG_CONNECT_LOSSY`.
const FLAG_LOSSY: u64 = 1;

/// Connection modes (`CEPH_CON_MODE_*`).
pub mod mode {
    /// Crc-checked frames.
    pub const CRC: u32 = 1;
    /// AES-128-GCM sealed frames.
    pub const SECURE: u32 = 2;

    /// Parse Ceph's option form (`"secure crc"`).
    pub fn parse(s: &str) -> Result<Vec<u32>, String> {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(|w| match w {
                "crc" => Ok(CRC),
                "secure" => Ok(SECURE),
                _ => Err(format!("unknown connection mode {w:?} (crc or secure)")),
            })
            .collect()
    }
}

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The frame layer failed (socket closed, bad frame, failed authentication).
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer said no, or said something we cannot accept.
    #[error("{0}")]
    Protocol(String),
    /// Authentication failed.
    #[error("{0}")]
    Auth(#[from] crate::cephx::AuthError),
    /// A decode failed.
    #[error("{0}")]
    Decode(#[from] crate::encoding::DecodeError),
    /// The peer did not answer in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

fn protocol(s: impl Into<String>) -> ConnError {
    ConnError::Protocol(s.into())
}

/// How this side authenticates.
pub enum Credentials {
    /// To a monitor: a cephx session of our own.
    Mon(Arc<Mutex<CephxClient>>),
    /// To an OSD or a manager: the ticket's authorizer.
    Service(Authorizer),
}

/// How to connect.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// What the peer is (a [`entity`] type).
    pub peer_type: u32,
    /// Acceptable modes, preferred first.
    pub modes: Vec<u32>,
    /// Our global id (0 before a monitor assigned one).
    pub global_id: u64,
    /// Limits on what the peer may make us read.
    pub limits: Limits,
    /// How long the handshake may take.
    pub timeout: Duration,
    /// How often to send a keepalive.
    pub keepalive: Duration,
    /// Silence from the peer after which it counts as gone.
    pub idle_timeout: Duration,
}

impl ConnectOptions {
    /// Defaults for a peer of `peer_type`.
    pub fn new(peer_type: u32, modes: Vec<u32>) -> ConnectOptions {
        ConnectOptions {
            peer_type,
            modes,
            global_id: 0,
            limits: Limits::default(),
            timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// An established session.
pub struct Connection {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The mode agreed.
    pub mode: u32,
    /// Our global id, as the handshake settled it.
    pub global_id: u64,
    /// The features both sides have.
    pub features: u64,
    out: mpsc::UnboundedSender<Outgoing>,
    incoming: mpsc::Receiver<Message>,
    closed: Arc<Mutex<Option<String>>>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

enum Outgoing {
    Message(Message),
    Ack,
    KeepaliveAck(UTime),
}

impl Drop for Connection {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Connection {
    /// Connect to `target` (its address and nonce: a daemon checks both) and
    /// authenticate.
    pub async fn connect(
        target: &EntityAddr,
        creds: Credentials,
        opts: &ConnectOptions,
    ) -> Result<Connection, ConnError> {
        let Some(addr) = target.addr else {
            return Err(protocol(format!("{target} has no socket address")));
        };
        let target = EntityAddr {
            kind: addr_type::MSGR2,
            ..target.clone()
        };
        match tokio::time::timeout(opts.timeout, Self::handshake(addr, &target, creds, opts)).await
        {
            Ok(r) => r,
            Err(_) => Err(ConnError::Timeout(opts.timeout)),
        }
    }

    async fn handshake(
        addr: SocketAddr,
        target: &EntityAddr,
        creds: Credentials,
        opts: &ConnectOptions,
    ) -> Result<Connection, ConnError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        let mut rx_log = Vec::new();
        let mut tx_log = Vec::new();
        let mut codec = FrameCodec::crc();

        // Banner.
        let mut banner = Encoder::new();
        banner.raw(BANNER).u16(16).u64(MSGR2_REV1).u64(0);
        send_raw(&mut w, banner.as_bytes(), &mut tx_log).await?;
        let mut head = [0u8; 10];
        r.read_exact(&mut head).await?;
        rx_log.extend_from_slice(&head);
        if &head[..8] != BANNER {
            let v1 = head.starts_with(b"ceph v0");
            return Err(protocol(if v1 {
                format!("{addr} speaks messenger v1 only")
            } else {
                format!("{addr} is not a Ceph messenger v2 endpoint")
            }));
        }
        let len = u16::from_le_bytes([head[8], head[9]]) as usize;
        if !(16..=1024).contains(&len) {
            return Err(protocol(format!("banner payload of {len} bytes")));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload).await?;
        rx_log.extend_from_slice(&payload);
        let mut d = Decoder::new(&payload);
        let (peer_supported, peer_required) = (d.u64()?, d.u64()?);
        if peer_required & !MSGR2_REV1 != 0 {
            return Err(protocol(format!(
                "{addr} requires messenger features {peer_required:#x} we lack"
            )));
        }
        if peer_supported & MSGR2_REV1 == 0 {
            return Err(protocol(format!(
                "{addr} speaks messenger v2.0 only (Pacific and later speak 2.1)"
            )));
        }

        // Hello.
        let mut hello = Encoder::new();
        hello.u8(entity::CLIENT as u8);
        target.encode(&mut hello);
        send_frame(
            &mut w,
            &mut codec,
            Tag::Hello,
            hello.as_bytes(),
            &mut tx_log,
        )
        .await?;
        let f = codec.read(&mut r, opts.limits, Some(&mut rx_log)).await?;
        if f.tag != Tag::Hello {
            return Err(protocol(format!(
                "{addr} answered the hello with {:?}",
                f.tag
            )));
        }
        let mut d = Decoder::new(&f.segments[0]);
        let peer_type = d.u8()? as u32;
        let me = EntityAddr::decode(&mut d)?;
        if peer_type != opts.peer_type {
            return Err(protocol(format!(
                "{addr} is a {}, not a {}",
                entity::name(peer_type),
                entity::name(opts.peer_type)
            )));
        }

        // Authentication.
        let mut creds = creds;
        let first = match &creds {
            Credentials::Mon(c) => lock(c).initial_request(),
            Credentials::Service(a) => a.bytes.clone(),
        };
        let mut req = Encoder::new();
        req.u32(CEPH_AUTH_CEPHX).u32(opts.modes.len() as u32);
        for m in &opts.modes {
            req.u32(*m);
        }
        req.blob(&first);
        send_frame(
            &mut w,
            &mut codec,
            Tag::AuthRequest,
            req.as_bytes(),
            &mut tx_log,
        )
        .await?;
        let peer_name = format!("{} at {addr}", entity::name(opts.peer_type));
        let (global_id, con_mode, session_key, secret) = loop {
            let f = codec.read(&mut r, opts.limits, Some(&mut rx_log)).await?;
            let mut d = Decoder::new(&f.segments[0]);
            match f.tag {
                Tag::AuthBadMethod => {
                    let method = d.u32()?;
                    let result = d.i32()?;
                    let methods = d.list(4, |d| d.u32())?;
                    let modes = d.list(4, |d| d.u32())?;
                    let who = match &creds {
                        Credentials::Mon(c) => lock(c).name().to_string(),
                        Credentials::Service(_) => "this client".into(),
                    };
                    return Err(ConnError::Auth(crate::cephx::AuthError::Refused(format!(
                        "the {peer_name} refused {who}: {} (method {method}; it allows methods {methods:?}, modes {modes:?}; we offered modes {:?})",
                        describe_auth_error(result),
                        opts.modes
                    ))));
                }
                Tag::AuthReplyMore => {
                    let payload = d.blob()?;
                    let more = match &mut creds {
                        Credentials::Mon(c) => lock(c).answer_challenge(payload)?,
                        Credentials::Service(a) => a.answer_challenge(payload)?,
                    };
                    let mut e = Encoder::new();
                    e.blob(&more);
                    send_frame(
                        &mut w,
                        &mut codec,
                        Tag::AuthRequestMore,
                        e.as_bytes(),
                        &mut tx_log,
                    )
                    .await?;
                }
                Tag::AuthDone => {
                    let global_id = d.u64()?;
                    let con_mode = d.u32()?;
                    let payload = d.blob()?;
                    let (key, secret) = match &creds {
                        Credentials::Mon(c) => {
                            let mut c = lock(c);
                            c.set_global_id(global_id);
                            let s = c.handle_reply(payload)?.ok_or_else(|| {
                                protocol("the monitor's AUTH_DONE carried no session key")
                            })?;
                            (s.session_key, s.connection_secret)
                        }
                        Credentials::Service(a) => {
                            (a.session_key().clone(), a.verify_reply(payload)?)
                        }
                    };
                    break (global_id, con_mode, key, secret);
                }
                t => {
                    return Err(protocol(format!(
                        "{peer_name} sent {t:?} during authentication"
                    )));
                }
            }
        };
        if !opts.modes.contains(&con_mode) {
            return Err(protocol(format!(
                "{peer_name} chose connection mode {con_mode}, we allow {:?}",
                opts.modes
            )));
        }
        if con_mode == mode::SECURE {
            codec = FrameCodec::secure(&secret, true)?;
        }
        let global_id = if global_id != 0 {
            global_id
        } else {
            opts.global_id
        };

        // Signatures: ours over what we received, theirs over what we sent.
        let sig = session_key.hmac_sha256(&rx_log);
        let bytes = codec.encode(Tag::AuthSignature, &[&sig], &[8]);
        w.write_all(&bytes).await?;
        let f = codec.read(&mut r, opts.limits, None).await?;
        if f.tag != Tag::AuthSignature {
            return Err(protocol(format!(
                "{peer_name} sent {:?} instead of its signature",
                f.tag
            )));
        }
        if f.segments[0].as_slice() != session_key.hmac_sha256(&tx_log) {
            return Err(protocol(format!(
                "{peer_name}: the handshake signature does not match (tampered connection?)"
            )));
        }
        drop(rx_log);
        drop(tx_log);

        // Session.
        let mut ident = Encoder::new();
        let mine = EntityAddr {
            kind: addr_type::ANY,
            nonce: rand::random(),
            addr: me.addr.map(|a| SocketAddr::new(a.ip(), 0)),
        };
        AddrVec(vec![mine]).encode(&mut ident);
        target.encode(&mut ident);
        ident
            .i64(global_id as i64)
            .u64(1)
            .u64(FEATURES_PACIFIC)
            .u64(FEATURE_MSG_ADDR2)
            .u64(FLAG_LOSSY)
            .u64(0);
        let bytes = codec.encode(Tag::ClientIdent, &[ident.as_bytes()], &[8]);
        w.write_all(&bytes).await?;
        let f = codec.read(&mut r, opts.limits, None).await?;
        let mut d = Decoder::new(&f.segments[0]);
        let features = match f.tag {
            Tag::ServerIdent => {
                AddrVec::decode(&mut d)?;
                d.i64()?;
                d.u64()?;
                let supported = d.u64()?;
                let required = d.u64()?;
                if required & !FEATURES_PACIFIC != 0 {
                    return Err(protocol(format!(
                        "{peer_name} requires features {:#x} we lack",
                        required & !FEATURES_PACIFIC
                    )));
                }
                supported & FEATURES_PACIFIC
            }
            Tag::IdentMissingFeatures => {
                return Err(protocol(format!(
                    "{peer_name} requires features {:#x} we lack",
                    d.u64()?
                )));
            }
            Tag::Wait => return Err(protocol(format!("{peer_name} asked us to wait"))),
            t => {
                return Err(protocol(format!(
                    "{peer_name} answered our ident with {t:?}"
                )));
            }
        };
        let (tx_codec, rx_codec) = codec.split();
        Ok(spawn_session(
            addr, con_mode, global_id, features, r, w, tx_codec, rx_codec, opts,
        ))
    }

    /// Send a message (queued; fails only if the connection is gone).
    pub fn send(&self, m: Message) -> Result<(), ConnError> {
        self.out
            .send(Outgoing::Message(m))
            .map_err(|_| protocol(self.close_reason()))
    }

    /// The next message, or `None` once the connection is gone.
    pub async fn recv(&mut self) -> Option<Message> {
        self.incoming.recv().await
    }

    /// Why the connection ended (once it has).
    pub fn close_reason(&self) -> String {
        lock(&self.closed)
            .clone()
            .unwrap_or_else(|| "connection closed".into())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn describe_auth_error(result: i32) -> String {
    let name = crate::errno_name(-result);
    match -result {
        1 | 13 => format!("{name} (wrong key, or the entity lacks caps?)"),
        2 => format!("{name} (no such entity?)"),
        _ => name,
    }
}

async fn send_raw(w: &mut OwnedWriteHalf, b: &[u8], log: &mut Vec<u8>) -> Result<(), ConnError> {
    log.extend_from_slice(b);
    w.write_all(b).await?;
    Ok(())
}

async fn send_frame(
    w: &mut OwnedWriteHalf,
    codec: &mut FrameCodec,
    tag: Tag,
    payload: &[u8],
    log: &mut Vec<u8>,
) -> Result<(), ConnError> {
    let bytes = codec.encode(tag, &[payload], &[8]);
    send_raw(w, &bytes, log).await
}

#[allow(clippy::too_many_arguments)]
fn spawn_session(
    peer: SocketAddr,
    mode: u32,
    global_id: u64,
    features: u64,
    mut r: BufReader<OwnedReadHalf>,
    mut w: OwnedWriteHalf,
    mut tx_codec: FrameCodec,
    mut rx_codec: FrameCodec,
    opts: &ConnectOptions,
) -> Connection {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outgoing>();
    let (in_tx, in_rx) = mpsc::channel::<Message>(1024);
    let in_seq = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(Mutex::new(None::<String>));
    let limits = opts.limits;
    let idle = opts.idle_timeout;
    let keepalive = opts.keepalive;

    let reader = {
        let in_seq = Arc::clone(&in_seq);
        let closed = Arc::clone(&closed);
        let out = out_tx.clone();
        tokio::spawn(async move {
            let why = loop {
                let f = match tokio::time::timeout(idle, rx_codec.read(&mut r, limits, None)).await
                {
                    Err(_) => break format!("{peer} silent for {idle:?}"),
                    Ok(Err(e)) => break format!("{peer}: {e}"),
                    Ok(Ok(f)) => f,
                };
                match f.tag {
                    Tag::Message => match Message::from_segments(f.segments) {
                        Ok((m, _ack)) => {
                            in_seq.store(m.seq, Ordering::Relaxed);
                            let _ = out.send(Outgoing::Ack);
                            if in_tx.send(m).await.is_err() {
                                break "closed by us".into();
                            }
                        }
                        Err(e) => break format!("{peer}: {e}"),
                    },
                    Tag::Keepalive2 => {
                        let mut d = Decoder::new(&f.segments[0]);
                        match UTime::decode(&mut d) {
                            Ok(t) => {
                                let _ = out.send(Outgoing::KeepaliveAck(t));
                            }
                            Err(e) => break format!("{peer}: keepalive: {e}"),
                        }
                    }
                    Tag::Keepalive2Ack | Tag::Ack => {}
                    Tag::SessionReset => break format!("{peer} reset the session"),
                    t => break format!("{peer} sent {t:?} in an open session"),
                }
            };
            tracing::debug!("msgr2: {why}");
            lock(&closed).get_or_insert(why);
        })
    };

    let writer = {
        let in_seq = Arc::clone(&in_seq);
        let closed = Arc::clone(&closed);
        tokio::spawn(async move {
            let mut out_seq = 0u64;
            let mut tick = tokio::time::interval(keepalive);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let why = loop {
                let bytes = tokio::select! {
                    o = out_rx.recv() => match o {
                        None => break "closed by us".to_string(),
                        Some(Outgoing::Message(mut m)) => {
                            out_seq += 1;
                            m.seq = out_seq;
                            let header = m.header2(in_seq.load(Ordering::Relaxed));
                            tx_codec.encode(
                                Tag::Message,
                                &[&header, &m.front, &m.middle, &m.data],
                                &MESSAGE_ALIGNMENTS,
                            )
                        }
                        Some(Outgoing::Ack) => {
                            let mut e = Encoder::new();
                            e.u64(in_seq.load(Ordering::Relaxed));
                            tx_codec.encode(Tag::Ack, &[e.as_bytes()], &[8])
                        }
                        Some(Outgoing::KeepaliveAck(t)) => {
                            let mut e = Encoder::new();
                            t.encode(&mut e);
                            tx_codec.encode(Tag::Keepalive2Ack, &[e.as_bytes()], &[8])
                        }
                    },
                    _ = tick.tick() => {
                        let mut e = Encoder::new();
                        UTime::now().encode(&mut e);
                        tx_codec.encode(Tag::Keepalive2, &[e.as_bytes()], &[8])
                    }
                };
                if let Err(e) = w.write_all(&bytes).await {
                    break format!("{peer}: {e}");
                }
            };
            lock(&closed).get_or_insert(why);
        })
    };

    Connection {
        peer,
        mode,
        global_id,
        features,
        out: out_tx,
        incoming: in_rx,
        closed,
        tasks: [reader, writer],
    }
}
