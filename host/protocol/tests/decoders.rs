//! Hostile input for every decoder of the protocol crate, through its public API
//! only: the messages (`message::decode_*`, `Message::from_segments`), the small
//! types (addresses, keys), the encoding's versioned structs and counted lists,
//! and cephx (the client's replies and challenges, an authorizer's).
//!
//! Each decoder gets arbitrary bytes, and valid encodings (built here as Ceph
//! lays them out) truncated, with a byte flipped, or with a length or a count
//! overwritten. None may panic, and none may take more heap than a small multiple
//! of the bytes it was given (a global allocator counts every thread's peak). The
//! valid encodings must decode back to what was encoded, and the mutants must be
//! refused where nothing else is possible.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Instant;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use wasm_mgr_protocol::cephx::{AuthError, Authorizer, CEPH_AUTH_CEPHX, CephxClient};
use wasm_mgr_protocol::crypto::CryptoKey;
use wasm_mgr_protocol::encoding::{DecodeError, DecodeResult, Decoder, Encoder};
use wasm_mgr_protocol::message::{
    self, CommandReply, HEADER2_LEN, LogEntry, Message, MgrMapHead, MonMap, OsdMapEpochs, kind,
};
use wasm_mgr_protocol::types::{AddrVec, EntityAddr, EntityName, Fsid, UTime, addr_type, entity};

// ---------------------------------------------------------------------------
// Counting the heap.

/// The system allocator, counting what the current thread holds while watched.
struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    if WATCHING.try_with(Cell::get).unwrap_or(false) {
        let live = LIVE.get() + delta;
        LIVE.set(live);
        PEAK.set(PEAK.get().max(live));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as if the new block came before the old one went.
        note(new_size as isize);
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        note(-(layout.size() as isize));
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What a decode may hold per byte of input: a lossy string can triple, a list
/// doubles while it grows, and an element in memory is a few times its smallest
/// encoding (a configuration pair: 48 bytes for 8).
const HEAP_PER_BYTE: usize = 16;
/// And beyond that (error messages, the first small allocations).
const HEAP_SLACK: usize = 4096;

/// Run `f`, giving its result and the most heap the thread held meanwhile.
fn heap_peak<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LIVE.set(0);
    PEAK.set(0);
    WATCHING.set(true);
    let r = f();
    WATCHING.set(false);
    (r, PEAK.get().max(0) as usize)
}

/// Run a decode of `input` bytes, failing the case if it held too much heap.
fn bounded<R>(input: usize, f: impl FnOnce() -> R) -> Result<R, TestCaseError> {
    let (r, peak) = heap_peak(f);
    let limit = HEAP_PER_BYTE * input + HEAP_SLACK;
    prop_assert!(
        peak <= limit,
        "decoding {input} bytes held {peak} bytes of heap (limit {limit})"
    );
    Ok(r)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failures are reported with their seed; nothing is written beside the test.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Building encodings, remembering where their lengths and counts are.

/// An encoding, with the offsets of the u32 lengths and counts its decoder reads
/// (what a mutant overwrites).
#[derive(Default)]
struct Enc {
    e: Encoder,
    lens: Vec<usize>,
}

impl Enc {
    fn at(&self) -> usize {
        self.e.as_bytes().len()
    }

    /// A u32 length or count the decoder reads.
    fn len(&mut self, n: usize) -> &mut Self {
        self.lens.push(self.at());
        self.e.u32(n as u32);
        self
    }

    fn blob(&mut self, b: &[u8]) -> &mut Self {
        self.lens.push(self.at());
        self.e.blob(b);
        self
    }

    fn string(&mut self, s: &str) -> &mut Self {
        self.lens.push(self.at());
        self.e.string(s);
        self
    }

    /// `inner` as a buffer, its lengths too.
    fn nested(&mut self, inner: &Enc) -> &mut Self {
        let base = self.at() + 4;
        self.blob(inner.e.as_bytes());
        self.lens.extend(inner.lens.iter().map(|o| o + base));
        self
    }

    /// `plain` sealed with `key`, with its length (`encode_encrypt`).
    fn sealed(&mut self, key: &CryptoKey, plain: &[u8]) -> &mut Self {
        self.lens.push(self.at());
        key.seal_blob(plain, &mut self.e);
        self
    }

    /// A versioned struct, through `Encoder::versioned`.
    fn versioned(&mut self, v: u8, compat: u8, f: impl FnOnce(&mut Enc)) -> &mut Self {
        // The struct's length follows its two version bytes.
        self.lens.push(self.at() + 2);
        let lens = &mut self.lens;
        self.e.versioned(v, compat, |e| {
            let mut inner = Enc {
                e: std::mem::take(e),
                lens: std::mem::take(lens),
            };
            f(&mut inner);
            *e = inner.e;
            *lens = inner.lens;
        });
        self
    }

    fn bytes(&self) -> Vec<u8> {
        self.e.as_bytes().to_vec()
    }
}

/// `entity_addr_t` with MSG_ADDR2, as Ceph encodes it.
fn put_addr(w: &mut Enc, a: &EntityAddr) {
    w.e.u8(1);
    w.versioned(1, 1, |w| {
        w.e.u32(a.kind).u32(a.nonce);
        match a.addr {
            None => {
                w.len(0);
            }
            Some(SocketAddr::V4(s)) => {
                w.len(16);
                w.e.u16(2)
                    .raw(&s.port().to_be_bytes())
                    .raw(&s.ip().octets())
                    .raw(&[0; 8]);
            }
            Some(SocketAddr::V6(s)) => {
                w.len(28);
                w.e.u16(10)
                    .raw(&s.port().to_be_bytes())
                    .raw(&s.flowinfo().to_be_bytes())
                    .raw(&s.ip().octets())
                    .raw(&s.scope_id().to_le_bytes());
            }
        }
    });
}

/// `entity_addrvec_t` with MSG_ADDR2.
fn put_addrvec(w: &mut Enc, v: &AddrVec) {
    w.e.u8(2);
    w.len(v.0.len());
    for a in &v.0 {
        put_addr(w, a);
    }
}

/// `entity_addr_t` without MSG_ADDR2: a u32 zero, the nonce, and a
/// `sockaddr_storage` whose family is big-endian.
fn legacy_addr(nonce: u32, addr: Option<SocketAddr>) -> Vec<u8> {
    let mut ss = [0u8; 128];
    match addr {
        None => {}
        Some(SocketAddr::V4(s)) => {
            ss[0..2].copy_from_slice(&2u16.to_be_bytes());
            ss[2..4].copy_from_slice(&s.port().to_be_bytes());
            ss[4..8].copy_from_slice(&s.ip().octets());
        }
        Some(SocketAddr::V6(s)) => {
            ss[0..2].copy_from_slice(&10u16.to_be_bytes());
            ss[2..4].copy_from_slice(&s.port().to_be_bytes());
            ss[4..8].copy_from_slice(&s.flowinfo().to_be_bytes());
            ss[8..24].copy_from_slice(&s.ip().octets());
            ss[24..28].copy_from_slice(&s.scope_id().to_le_bytes());
        }
    }
    let mut e = Encoder::new();
    e.u32(0).u32(nonce).raw(&ss);
    e.into_bytes()
}

fn crypto_key(secret: [u8; 16], created: UTime) -> CryptoKey {
    let mut e = Encoder::new();
    e.u16(1);
    created.encode(&mut e);
    e.u16(16).raw(&secret);
    CryptoKey::decode(&mut Decoder::new(e.as_bytes())).expect("a valid key")
}

// ---------------------------------------------------------------------------
// Strategies.

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9._-]{0,10}", "\\PC{0,6}"]
}

fn raw_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

/// Bytes leaning to small values, so that lengths and counts in them are often
/// within reach and decoders go deeper.
fn hostile_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![3 => 0u8..4, 1 => any::<u8>()], 0..max)
}

fn fsid() -> impl Strategy<Value = Fsid> {
    any::<[u8; 16]>().prop_map(Fsid)
}

fn utime() -> impl Strategy<Value = UTime> {
    (any::<u32>(), any::<u32>()).prop_map(|(sec, nsec)| UTime { sec, nsec })
}

/// A socket address as the decoder gives it back (IPv6 flow and scope are not
/// kept).
fn socket_addr() -> impl Strategy<Value = Option<SocketAddr>> {
    prop_oneof![
        Just(None),
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| Some(SocketAddr::from((ip, port)))),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| Some(SocketAddr::from((Ipv6Addr::from(ip), port)))),
    ]
}

fn addr() -> impl Strategy<Value = EntityAddr> {
    (
        prop_oneof![0u32..4, any::<u32>()],
        any::<u32>(),
        socket_addr(),
    )
        .prop_map(|(kind, nonce, addr)| EntityAddr { kind, nonce, addr })
}

fn addrvec() -> impl Strategy<Value = AddrVec> {
    vec(addr(), 0..3).prop_map(AddrVec)
}

fn command_reply() -> impl Strategy<Value = CommandReply> {
    (any::<i32>(), text(), raw_bytes(32)).prop_map(|(retval, status, data)| CommandReply {
        retval,
        status,
        data,
    })
}

/// How a mutant rewrites a length or a count.
#[derive(Debug, Clone, Copy)]
enum LenValue {
    /// 0xffffffff.
    Max,
    /// 0x80000000.
    High,
    /// The bytes after the field, divided by this: as many elements as could fit.
    Fit(u32),
    /// Anything.
    Any(u32),
}

fn len_value() -> impl Strategy<Value = LenValue> {
    prop_oneof![
        Just(LenValue::Max),
        Just(LenValue::High),
        (1u32..=16).prop_map(LenValue::Fit),
        any::<u32>().prop_map(LenValue::Any),
    ]
}

/// What a mutant appends, so that lying counts pass their first check.
fn padding() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        (0usize..4096).prop_map(|n| vec![0; n]),
        hostile_bytes(1024),
    ]
}

/// Overwrite the u32 at `at` after appending `pad`; gives the value written.
fn overwrite(bytes: &mut Vec<u8>, at: usize, value: LenValue, pad: &[u8]) -> u32 {
    bytes.extend_from_slice(pad);
    let rest = (bytes.len() - at - 4) as u32;
    let v = match value {
        LenValue::Max => u32::MAX,
        LenValue::High => 0x8000_0000,
        LenValue::Fit(k) => rest / k,
        LenValue::Any(v) => v,
    };
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    v
}

// ---------------------------------------------------------------------------
// Messages.

/// One monitor of a monmap: its name, `mon_info_t` version, and addresses (one
/// only before v3).
#[derive(Debug, Clone)]
struct Mon {
    name: String,
    info_version: u8,
    addrs: AddrVec,
}

#[derive(Debug, Clone)]
struct Entry {
    version: u8,
    name: EntityName,
    rank: (u8, i64),
    addrs: AddrVec,
    stamp: UTime,
    seq: u64,
    prio: u16,
    message: String,
    channel: String,
    newer: Vec<u8>,
}

/// A message the monitors send, as generated.
#[derive(Debug, Clone)]
enum Case {
    SubscribeAck {
        interval: u32,
        fsid: Fsid,
    },
    MonCommandAck {
        version: u64,
        reply: CommandReply,
        cmd: Vec<String>,
    },
    CommandReply {
        reply: CommandReply,
        mgr: bool,
    },
    AuthReply {
        result: i32,
        global_id: u64,
        payload: Vec<u8>,
        message: String,
    },
    MonMap {
        version: u8,
        epoch: u32,
        fsid: Fsid,
        mons: Vec<Mon>,
        ranks: Vec<String>,
    },
    OsdMap {
        version: u16,
        fsid: Fsid,
        incrementals: Vec<(u32, Vec<u8>)>,
        full: Vec<(u32, Vec<u8>)>,
        oldest: u32,
        newest: u32,
    },
    FsMap {
        epoch: u32,
        map: Vec<u8>,
    },
    MgrMap {
        version: u8,
        compat: u8,
        head: MgrMapHead,
        newer: Vec<u8>,
    },
    ServiceMap {
        version: u8,
        epoch: u32,
        newer: Vec<u8>,
    },
    Config(Vec<(String, String)>),
    MgrDigest {
        status: Vec<u8>,
        health: Vec<u8>,
    },
    Log {
        version: u64,
        fsid: Fsid,
        entries: Vec<Entry>,
    },
}

fn mon() -> impl Strategy<Value = Mon> {
    (text(), 1u8..=6, addr(), addrvec()).prop_map(|(name, info_version, one, many)| Mon {
        name,
        info_version,
        addrs: if info_version < 3 {
            AddrVec(vec![one])
        } else {
            many
        },
    })
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        (
            5u8..=7,
            any::<u32>(),
            text(),
            any::<u8>(),
            any::<i64>(),
            addrvec(),
        ),
        (utime(), any::<u64>(), prop_oneof![0u16..6, any::<u16>()]),
        (text(), text(), raw_bytes(8)),
    )
        .prop_map(
            |(
                (version, kind, id, rt, rn, addrs),
                (stamp, seq, prio),
                (message, channel, newer),
            )| {
                Entry {
                    version,
                    name: EntityName { kind, id },
                    rank: (rt, rn),
                    addrs,
                    stamp,
                    seq,
                    prio,
                    message,
                    channel,
                    newer: if version > 5 { newer } else { Vec::new() },
                }
            },
        )
}

fn epochs() -> impl Strategy<Value = Vec<(u32, Vec<u8>)>> {
    vec((any::<u32>(), raw_bytes(8)), 0..4)
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        (any::<u32>(), fsid()).prop_map(|(interval, fsid)| Case::SubscribeAck { interval, fsid }),
        (any::<u64>(), command_reply(), vec(text(), 0..3)).prop_map(|(version, reply, cmd)| {
            Case::MonCommandAck {
                version,
                reply,
                cmd,
            }
        }),
        (command_reply(), any::<bool>()).prop_map(|(reply, mgr)| Case::CommandReply { reply, mgr }),
        (any::<i32>(), any::<u64>(), raw_bytes(48), text()).prop_map(
            |(result, global_id, payload, message)| Case::AuthReply {
                result,
                global_id,
                payload,
                message,
            }
        ),
        (
            6u8..=9,
            any::<u32>(),
            fsid(),
            vec(mon(), 0..4),
            vec(text(), 0..3)
        )
            .prop_map(|(version, epoch, fsid, mons, ranks)| Case::MonMap {
                version,
                epoch,
                fsid,
                mons,
                ranks,
            }),
        (
            1u16..=3,
            fsid(),
            epochs(),
            epochs(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(
                |(version, fsid, incrementals, full, oldest, newest)| Case::OsdMap {
                    version,
                    fsid,
                    incrementals,
                    full,
                    oldest,
                    newest,
                }
            ),
        (any::<u32>(), raw_bytes(32)).prop_map(|(epoch, map)| Case::FsMap { epoch, map }),
        (
            6u8..=11,
            1u8..=6,
            (any::<u32>(), any::<u64>(), text(), any::<bool>(), addrvec()),
            raw_bytes(16)
        )
            .prop_map(
                |(
                    version,
                    compat,
                    (epoch, active_gid, active_name, available, active_addrs),
                    newer,
                )| {
                    Case::MgrMap {
                        version,
                        compat,
                        head: MgrMapHead {
                            epoch,
                            active_gid,
                            active_name,
                            available,
                            active_addrs,
                        },
                        newer,
                    }
                }
            ),
        (1u8..=4, any::<u32>(), raw_bytes(16)).prop_map(|(version, epoch, newer)| {
            Case::ServiceMap {
                version,
                epoch,
                newer,
            }
        }),
        vec((text(), text()), 0..5).prop_map(Case::Config),
        (raw_bytes(64), raw_bytes(64))
            .prop_map(|(status, health)| Case::MgrDigest { status, health }),
        (any::<u64>(), fsid(), vec(entry(), 0..4)).prop_map(|(version, fsid, entries)| Case::Log {
            version,
            fsid,
            entries
        }),
    ]
}

/// An encoded message: the lengths its decoder reads, and how much of the front
/// it needs (what follows is ignored).
struct Built {
    msg: Message,
    lens: Vec<usize>,
    needed: usize,
}

impl Built {
    fn input(&self) -> usize {
        self.msg.front.len() + self.msg.middle.len() + self.msg.data.len()
    }
}

/// What a decoder gave (or is expected to give).
#[derive(Debug, PartialEq)]
enum Decoded {
    SubscribeAck(DecodeResult<(u32, Fsid)>),
    CommandReply(DecodeResult<CommandReply>),
    AuthReply(DecodeResult<(i32, Vec<u8>, String)>),
    MonMap(DecodeResult<MonMap>),
    OsdMap(DecodeResult<OsdMapEpochs>),
    Epoch(DecodeResult<u32>),
    MgrMap(DecodeResult<MgrMapHead>),
    Config(DecodeResult<Vec<(String, String)>>),
    MgrDigest(DecodeResult<(Vec<u8>, Vec<u8>)>),
    Log(DecodeResult<(u64, Vec<LogEntry>)>),
}

impl Decoded {
    fn is_err(&self) -> bool {
        match self {
            Decoded::SubscribeAck(r) => r.is_err(),
            Decoded::CommandReply(r) => r.is_err(),
            Decoded::AuthReply(r) => r.is_err(),
            Decoded::MonMap(r) => r.is_err(),
            Decoded::OsdMap(r) => r.is_err(),
            Decoded::Epoch(r) => r.is_err(),
            Decoded::MgrMap(r) => r.is_err(),
            Decoded::Config(r) => r.is_err(),
            Decoded::MgrDigest(r) => r.is_err(),
            Decoded::Log(r) => r.is_err(),
        }
    }
}

fn level(prio: u16) -> &'static str {
    ["DBG", "INF", "SEC", "WRN", "ERR"]
        .get(prio as usize)
        .copied()
        .unwrap_or("UNK")
}

fn msg_of(kind: u16, version: u16, w: &Enc, data: &[u8]) -> Message {
    Message {
        kind,
        version,
        front: w.bytes(),
        data: data.to_vec(),
        ..Message::default()
    }
}

impl Case {
    /// Encode it as the daemons do.
    fn build(&self) -> Built {
        let mut w = Enc::default();
        let mut needed = None;
        let msg = match self {
            Case::SubscribeAck { interval, fsid } => {
                w.e.u32(*interval).raw(&fsid.0);
                msg_of(kind::MON_SUBSCRIBE_ACK, 1, &w, &[])
            }
            Case::MonCommandAck {
                version,
                reply,
                cmd,
            } => {
                w.e.u64(*version).i16(-1).u64(0).i32(reply.retval);
                w.string(&reply.status);
                needed = Some(w.at());
                // The command it answers, which the decoder skips.
                w.e.u32(cmd.len() as u32);
                for c in cmd {
                    w.e.string(c);
                }
                msg_of(kind::MON_COMMAND_ACK, 1, &w, &reply.data)
            }
            Case::CommandReply { reply, mgr } => {
                w.e.i32(reply.retval);
                w.string(&reply.status);
                let k = if *mgr {
                    kind::MGR_COMMAND_REPLY
                } else {
                    kind::COMMAND_REPLY
                };
                msg_of(k, 1, &w, &reply.data)
            }
            Case::AuthReply {
                result,
                global_id,
                payload,
                message: text,
            } => {
                w.e.u32(CEPH_AUTH_CEPHX).i32(*result).u64(*global_id);
                w.blob(payload).string(text);
                msg_of(kind::AUTH_REPLY, 1, &w, &[])
            }
            Case::MonMap {
                version,
                epoch,
                fsid,
                mons,
                ranks,
            } => {
                let mut map = Enc::default();
                map.versioned(*version, 6, |w| {
                    w.e.raw(&fsid.0).u32(*epoch);
                    UTime { sec: 1, nsec: 2 }.encode(&mut w.e);
                    UTime { sec: 3, nsec: 4 }.encode(&mut w.e);
                    for features in [0x3f_u64, 0] {
                        w.versioned(1, 1, |w| {
                            w.e.u64(features);
                        });
                    }
                    w.len(mons.len());
                    for m in mons {
                        w.string(&m.name);
                        w.versioned(m.info_version, 1, |w| {
                            w.string(&m.name);
                            if m.info_version < 3 {
                                put_addr(w, &m.addrs.0[0]);
                            } else {
                                put_addrvec(w, &m.addrs);
                            }
                            w.e.u16(0).u16(0); // priority and weight, skipped
                        });
                    }
                    // Ranks and the minimum release, skipped.
                    w.e.u32(ranks.len() as u32);
                    for r in ranks {
                        w.e.string(r);
                    }
                    w.e.u8(16);
                });
                w.nested(&map);
                msg_of(kind::MON_MAP, 1, &w, &[])
            }
            Case::OsdMap {
                version,
                fsid,
                incrementals,
                full,
                oldest,
                newest,
            } => {
                w.e.raw(&fsid.0);
                for maps in [incrementals, full] {
                    w.len(maps.len());
                    for (epoch, bl) in maps {
                        w.e.u32(*epoch);
                        w.blob(bl);
                    }
                }
                if *version >= 2 {
                    w.e.u32(*oldest).u32(*newest);
                }
                msg_of(kind::OSD_MAP, *version, &w, &[])
            }
            Case::FsMap { epoch, map } => {
                w.e.u32(*epoch);
                needed = Some(w.at());
                w.e.versioned(7, 6, |e| {
                    e.raw(map);
                });
                msg_of(kind::FS_MAP, 1, &w, &[])
            }
            Case::MgrMap {
                version,
                compat,
                head,
                newer,
            } => {
                w.versioned(*version, *compat, |w| {
                    w.e.u32(head.epoch);
                    put_addrvec(w, &head.active_addrs);
                    w.e.u64(head.active_gid).bool(head.available);
                    w.string(&head.active_name);
                    w.e.raw(newer);
                });
                msg_of(kind::MGR_MAP, 1, &w, &[])
            }
            Case::ServiceMap {
                version,
                epoch,
                newer,
            } => {
                w.versioned(*version, 1, |w| {
                    w.e.u32(*epoch).raw(newer);
                });
                msg_of(kind::SERVICE_MAP, 1, &w, &[])
            }
            Case::Config(pairs) => {
                w.len(pairs.len());
                for (k, v) in pairs {
                    w.string(k).string(v);
                }
                msg_of(kind::CONFIG, 1, &w, &[])
            }
            Case::MgrDigest { status, health } => {
                w.blob(status).blob(health);
                msg_of(kind::MGR_DIGEST, 1, &w, &[])
            }
            Case::Log {
                version,
                fsid,
                entries,
            } => {
                w.e.u64(*version).i16(-1).u64(0).raw(&fsid.0);
                w.len(entries.len());
                for en in entries {
                    w.versioned(en.version, 5, |w| {
                        let at = w.at();
                        en.name.encode(&mut w.e);
                        w.lens.push(at + 4);
                        w.e.u8(en.rank.0).i64(en.rank.1);
                        put_addrvec(w, &en.addrs);
                        en.stamp.encode(&mut w.e);
                        w.e.u64(en.seq).u16(en.prio);
                        w.string(&en.message).string(&en.channel);
                        w.e.raw(&en.newer);
                    });
                }
                msg_of(kind::LOG, 2, &w, &[])
            }
        };
        Built {
            needed: needed.unwrap_or(msg.front.len()),
            msg,
            lens: w.lens,
        }
    }

    /// Decode `m` with this case's decoder.
    fn decode(&self, m: &Message) -> Decoded {
        match self {
            Case::SubscribeAck { .. } => Decoded::SubscribeAck(message::decode_subscribe_ack(m)),
            Case::MonCommandAck { .. } => Decoded::CommandReply(message::decode_mon_command_ack(m)),
            Case::CommandReply { .. } => Decoded::CommandReply(message::decode_command_reply(m)),
            Case::AuthReply { .. } => Decoded::AuthReply(
                message::decode_auth_reply(m).map(|r| (r.result, r.payload, r.message)),
            ),
            Case::MonMap { .. } => Decoded::MonMap(message::decode_mon_map(m)),
            Case::OsdMap { .. } => Decoded::OsdMap(message::decode_osd_map(m)),
            Case::FsMap { .. } => Decoded::Epoch(message::decode_fs_map_epoch(m)),
            Case::MgrMap { .. } => Decoded::MgrMap(message::decode_mgr_map(m)),
            Case::ServiceMap { .. } => Decoded::Epoch(message::decode_service_map_epoch(m)),
            Case::Config(_) => Decoded::Config(message::decode_config(m)),
            Case::MgrDigest { .. } => Decoded::MgrDigest(message::decode_mgr_digest(m)),
            Case::Log { .. } => Decoded::Log(message::decode_log(m)),
        }
    }

    /// What the valid encoding decodes to.
    fn expected(&self) -> Decoded {
        match self.clone() {
            Case::SubscribeAck { interval, fsid } => Decoded::SubscribeAck(Ok((interval, fsid))),
            Case::MonCommandAck { reply, .. } | Case::CommandReply { reply, .. } => {
                Decoded::CommandReply(Ok(reply))
            }
            Case::AuthReply {
                result,
                payload,
                message,
                ..
            } => Decoded::AuthReply(Ok((result, payload, message))),
            Case::MonMap {
                epoch, fsid, mons, ..
            } => Decoded::MonMap(Ok(MonMap {
                epoch,
                fsid,
                mons: mons.into_iter().map(|m| (m.name, m.addrs)).collect(),
            })),
            Case::OsdMap {
                version,
                incrementals,
                full,
                oldest,
                newest,
                ..
            } => {
                let (oldest, newest) = if version >= 2 {
                    (oldest, newest)
                } else {
                    (0, 0)
                };
                Decoded::OsdMap(Ok(OsdMapEpochs {
                    incrementals: incrementals.iter().map(|(e, _)| *e).collect(),
                    full: full.iter().map(|(e, _)| *e).collect(),
                    oldest,
                    newest,
                }))
            }
            Case::FsMap { epoch, .. } | Case::ServiceMap { epoch, .. } => Decoded::Epoch(Ok(epoch)),
            Case::MgrMap { head, .. } => Decoded::MgrMap(Ok(head)),
            Case::Config(pairs) => Decoded::Config(Ok(pairs)),
            Case::MgrDigest { status, health } => Decoded::MgrDigest(Ok((status, health))),
            Case::Log {
                version, entries, ..
            } => Decoded::Log(Ok((
                version,
                entries
                    .into_iter()
                    .map(|e| LogEntry {
                        name: e.name,
                        stamp: e.stamp,
                        seq: e.seq,
                        level: level(e.prio),
                        message: e.message,
                        channel: e.channel,
                    })
                    .collect(),
            ))),
        }
    }
}

type Check = fn(&Message) -> bool;

/// Every message decoder, by name.
const DECODERS: &[(&str, Check)] = &[
    ("decode_subscribe_ack", |m| {
        message::decode_subscribe_ack(m).is_ok()
    }),
    ("decode_mon_command_ack", |m| {
        message::decode_mon_command_ack(m).is_ok()
    }),
    ("decode_command_reply", |m| {
        message::decode_command_reply(m).is_ok()
    }),
    ("decode_auth_reply", |m| {
        message::decode_auth_reply(m).is_ok()
    }),
    ("decode_mon_map", |m| message::decode_mon_map(m).is_ok()),
    ("decode_osd_map", |m| message::decode_osd_map(m).is_ok()),
    ("decode_fs_map_epoch", |m| {
        message::decode_fs_map_epoch(m).is_ok()
    }),
    ("decode_mgr_map", |m| message::decode_mgr_map(m).is_ok()),
    ("decode_service_map_epoch", |m| {
        message::decode_service_map_epoch(m).is_ok()
    }),
    ("decode_config", |m| message::decode_config(m).is_ok()),
    ("decode_mgr_digest", |m| {
        message::decode_mgr_digest(m).is_ok()
    }),
    ("decode_log", |m| message::decode_log(m).is_ok()),
];

proptest! {
    #![proptest_config(config(1500))]

    /// Arbitrary fronts, to every decoder: no panic, bounded heap; and a front
    /// too short for the first field is refused.
    #[test]
    fn arbitrary_fronts_never_panic(
        version in 0u16..4,
        front in prop_oneof![hostile_bytes(512), raw_bytes(512)],
        data in raw_bytes(64),
    ) {
        let m = Message { kind: 0, version, front, data, ..Message::default() };
        let input = m.front.len() + m.data.len();
        for (name, decode) in DECODERS {
            let ok = bounded(input, || decode(&m))?;
            if m.front.len() < 4 {
                prop_assert!(!ok, "{} took a front of {} bytes", name, m.front.len());
            }
        }
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// A valid encoding of each message decodes to what was encoded.
    #[test]
    fn valid_messages_round_trip(case in case()) {
        let b = case.build();
        let got = bounded(b.input(), || case.decode(&b.msg))?;
        prop_assert_eq!(got, case.expected());
    }

    /// A message cut short of what its decoder reads is refused; cut after, it
    /// still decodes to what was encoded.
    #[test]
    fn truncated_messages_are_refused(case in case(), cut in any::<Index>()) {
        let mut b = case.build();
        let len = b.msg.front.len();
        let cut = cut.index(len + 1);
        b.msg.front.truncate(cut);
        let got = bounded(b.input(), || case.decode(&b.msg))?;
        if cut < b.needed {
            prop_assert!(got.is_err(), "cut at {} of {} bytes: {:?}", cut, len, got);
        } else {
            prop_assert_eq!(got, case.expected());
        }
    }

    /// A flipped byte never panics; past what the decoder reads, it changes
    /// nothing.
    #[test]
    fn flipped_bytes_never_panic(case in case(), at in any::<Index>(), mask in 1u8..=255) {
        let mut b = case.build();
        prop_assume!(!b.msg.front.is_empty());
        let at = at.index(b.msg.front.len());
        b.msg.front[at] ^= mask;
        let got = bounded(b.input(), || case.decode(&b.msg))?;
        if at >= b.needed {
            prop_assert_eq!(got, case.expected());
        }
    }

    /// A length or a count overwritten (with bytes after it for lying counts to
    /// feed on) never panics nor takes the heap it claims; 0xffffffff is refused.
    #[test]
    fn overwritten_lengths_are_bounded(
        case in case(),
        which in any::<Index>(),
        value in len_value(),
        pad in padding(),
    ) {
        let mut b = case.build();
        prop_assume!(!b.lens.is_empty());
        let at = b.lens[which.index(b.lens.len())];
        let v = overwrite(&mut b.msg.front, at, value, &pad);
        let got = bounded(b.input(), || case.decode(&b.msg))?;
        if v == u32::MAX {
            prop_assert!(got.is_err(), "a length of 0xffffffff at {} was taken: {:?}", at, got);
        }
    }

    /// Frame segments: a header of at least `HEADER2_LEN` bytes gives a message
    /// with the header's fields and the other segments; a shorter one is refused.
    #[test]
    fn arbitrary_segments_never_panic(segments in vec(raw_bytes(64), 0..6)) {
        let input = segments.iter().map(Vec::len).sum();
        let copy = segments.clone();
        let got = bounded(input, || Message::from_segments(segments))?;
        let header = copy.first().cloned().unwrap_or_default();
        match got {
            Err(_) => prop_assert!(header.len() < HEADER2_LEN),
            Ok((m, ack)) => {
                prop_assert!(header.len() >= HEADER2_LEN);
                let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().unwrap());
                let u16_at = |i: usize| u16::from_le_bytes(header[i..i + 2].try_into().unwrap());
                prop_assert_eq!(
                    (m.seq, m.tid, m.kind, m.priority, m.version, ack, m.compat),
                    (u64_at(0), u64_at(8), u16_at(16), u16_at(18), u16_at(20), u64_at(28), u16_at(37))
                );
                let seg = |i: usize| copy.get(i).cloned().unwrap_or_default();
                prop_assert_eq!((m.front, m.middle, m.data), (seg(1), seg(2), seg(3)));
            }
        }
    }

    /// A message's header round-trips through `from_segments`, and any cut of it
    /// is refused.
    #[test]
    fn message_headers_round_trip(
        (kind, version, compat, priority) in (any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>()),
        (tid, seq, ack) in (any::<u64>(), any::<u64>(), any::<u64>()),
        (front, middle, data) in (raw_bytes(64), raw_bytes(16), raw_bytes(64)),
        cut in any::<Index>(),
    ) {
        let m = Message { kind, version, compat, tid, seq, priority, front, middle, data };
        let header = m.header2(ack);
        prop_assert_eq!(header.len(), HEADER2_LEN);
        let segments = vec![header.clone(), m.front.clone(), m.middle.clone(), m.data.clone()];
        let input = segments.iter().map(Vec::len).sum();
        let got = bounded(input, || Message::from_segments(segments))?;
        prop_assert_eq!(got, Ok((m.clone(), ack)));
        let short = header[..cut.index(HEADER2_LEN)].to_vec();
        prop_assert!(Message::from_segments(vec![short, m.front]).is_err());
    }
}

/// A log whose entry count claims every 6 bytes left holds an entry reserves no
/// more heap than the bytes it holds (a `LogEntry` is 112 bytes in memory).
#[test]
fn a_log_claiming_entries_it_lacks_reserves_no_more_than_its_bytes() {
    let pad = 60_000;
    let mut e = Encoder::new();
    e.u64(1).i16(-1).u64(0).raw(&[0; 16]).u32((pad / 6) as u32);
    e.raw(&vec![0; pad]);
    let m = Message::new(kind::LOG, 2, 1, e.into_bytes());
    let (got, peak) = heap_peak(|| message::decode_log(&m).is_ok());
    assert!(!got, "zeros are no log entries");
    assert!(
        peak <= 2 * m.front.len() + HEAP_SLACK,
        "a log of {} bytes reserved {peak} bytes",
        m.front.len()
    );
}

// ---------------------------------------------------------------------------
// Addresses and keys.

proptest! {
    #![proptest_config(config(1000))]

    /// Addresses round-trip through the crate's encoder, which writes what Ceph
    /// does (the reference here); a single address, v2 or legacy, is a vector of
    /// one; any cut is refused.
    #[test]
    fn addresses_round_trip(v in addrvec(), cut in any::<Index>()) {
        let mut reference = Enc::default();
        put_addrvec(&mut reference, &v);
        let mut e = Encoder::new();
        v.encode(&mut e);
        prop_assert_eq!(e.as_bytes(), reference.e.as_bytes());
        let bytes = e.into_bytes();
        let mut d = Decoder::new(&bytes);
        let got = bounded(bytes.len(), || AddrVec::decode(&mut d))?;
        prop_assert_eq!(got, Ok(v.clone()));
        prop_assert!(d.is_empty());
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(AddrVec::decode(&mut Decoder::new(short)).is_err());

        for a in &v.0 {
            let mut e = Encoder::new();
            a.encode(&mut e);
            let one = e.into_bytes();
            prop_assert_eq!(EntityAddr::decode(&mut Decoder::new(&one)), Ok(a.clone()));
            prop_assert_eq!(AddrVec::decode(&mut Decoder::new(&one)), Ok(AddrVec(vec![a.clone()])));
            let legacy = legacy_addr(a.nonce, a.addr);
            let want = EntityAddr { kind: addr_type::LEGACY, ..a.clone() };
            let mut d = Decoder::new(&legacy);
            prop_assert_eq!(bounded(legacy.len(), || EntityAddr::decode(&mut d))?, Ok(want.clone()));
            prop_assert!(d.is_empty());
            prop_assert_eq!(AddrVec::decode(&mut Decoder::new(&legacy)), Ok(AddrVec(vec![want])));
            let short = &legacy[..cut.index(legacy.len())];
            prop_assert!(EntityAddr::decode(&mut Decoder::new(short)).is_err());
        }
    }

    /// Arbitrary bytes as addresses: no panic, bounded heap, never a read past
    /// the input.
    #[test]
    fn arbitrary_addresses_never_panic(bytes in prop_oneof![hostile_bytes(400), raw_bytes(400)], lead in 0u8..4) {
        let mut input = vec![lead];
        input.extend_from_slice(&bytes);
        let mut d = Decoder::new(&input);
        let _ = bounded(input.len(), || AddrVec::decode(&mut d))?;
        let mut d = Decoder::new(&input);
        let _ = bounded(input.len(), || EntityAddr::decode(&mut d))?;
        if lead >= 2 {
            prop_assert!(EntityAddr::decode(&mut Decoder::new(&input)).is_err());
        }
    }

    /// Addresses with a length or count overwritten, or a byte flipped: no panic,
    /// bounded heap; 0xffffffff is refused.
    #[test]
    fn mutated_addresses_are_bounded(
        v in addrvec(),
        which in any::<Index>(),
        value in len_value(),
        pad in padding(),
        flip in any::<Index>(),
        mask in 1u8..=255,
    ) {
        let mut w = Enc::default();
        put_addrvec(&mut w, &v);
        let mut flipped = w.bytes();
        let at = flip.index(flipped.len());
        flipped[at] ^= mask;
        let _ = bounded(flipped.len(), || AddrVec::decode(&mut Decoder::new(&flipped)))?;

        let mut bytes = w.bytes();
        let at = w.lens[which.index(w.lens.len())];
        let n = overwrite(&mut bytes, at, value, &pad);
        let got = bounded(bytes.len(), || AddrVec::decode(&mut Decoder::new(&bytes)))?;
        if n == u32::MAX {
            prop_assert!(got.is_err());
        }
    }

    /// Keys round-trip through their encoding, and seal and open what they carry;
    /// a cut key is refused.
    #[test]
    fn keys_round_trip(
        secret in any::<[u8; 16]>(),
        created in utime(),
        plain in raw_bytes(64),
        cut in any::<Index>(),
    ) {
        let mut e = Encoder::new();
        e.u16(1);
        created.encode(&mut e);
        e.u16(16).raw(&secret);
        let bytes = e.into_bytes();
        let mut d = Decoder::new(&bytes);
        let key = bounded(bytes.len(), || CryptoKey::decode(&mut d))?;
        prop_assert!(d.is_empty());
        let key = key.map_err(|e| TestCaseError::fail(e.what))?;
        prop_assert_eq!(key.secret(), &secret[..]);
        let mut again = Encoder::new();
        key.encode(&mut again);
        prop_assert_eq!(again.as_bytes(), &bytes[..]);
        prop_assert!(CryptoKey::decode(&mut Decoder::new(&bytes[..cut.index(bytes.len())])).is_err());

        let sealed = key.seal(&plain);
        prop_assert_eq!(key.open(&sealed), Ok(plain.clone()));
        let mut blob = Encoder::new();
        key.seal_blob(&plain, &mut blob);
        prop_assert_eq!(key.open_blob(&mut Decoder::new(blob.as_bytes())), Ok(plain));
    }

    /// Arbitrary keys: only an AES key of 16 bytes is taken.
    #[test]
    fn arbitrary_keys_never_panic(
        kind in prop_oneof![Just(1u16), any::<u16>()],
        created in utime(),
        len in prop_oneof![Just(16u16), 0u16..40, any::<u16>()],
        rest in raw_bytes(40),
    ) {
        let mut e = Encoder::new();
        e.u16(kind);
        created.encode(&mut e);
        e.u16(len).raw(&rest);
        let bytes = e.into_bytes();
        let got = bounded(bytes.len(), || CryptoKey::decode(&mut Decoder::new(&bytes)))?;
        prop_assert_eq!(got.is_ok(), kind == 1 && len == 16 && rest.len() >= 16);
        for cut in 0..bytes.len().min(12) {
            prop_assert!(CryptoKey::decode(&mut Decoder::new(&bytes[..cut])).is_err());
        }
    }

    /// Arbitrary bytes are no sealed block.
    #[test]
    fn arbitrary_sealed_blocks_are_refused(secret in any::<[u8; 16]>(), bytes in raw_bytes(200)) {
        let key = crypto_key(secret, UTime::default());
        prop_assert!(bounded(bytes.len(), || key.open(&bytes))?.is_err());
        let mut d = Decoder::new(&bytes);
        prop_assert!(bounded(bytes.len(), || key.open_blob(&mut d))?.is_err());
    }
}

// ---------------------------------------------------------------------------
// The encoding: versioned structs and lists.

/// One level of nested versioned structs.
#[derive(Debug, Clone)]
struct Level {
    v: u8,
    compat: u8,
    value: u32,
    newer: Vec<u8>,
}

fn levels() -> impl Strategy<Value = Vec<Level>> {
    vec(
        (0u8..6, 0u8..3, any::<u32>(), raw_bytes(8)).prop_map(|(compat, ahead, value, newer)| {
            Level {
                v: compat + ahead,
                compat,
                value,
                newer,
            }
        }),
        1..8,
    )
}

const MARKER: u32 = 0xfeed_face;

fn put_levels(w: &mut Enc, levels: &[Level]) {
    let (l, inner) = levels.split_first().expect("a level");
    w.versioned(l.v, l.compat, |w| {
        w.e.u32(l.value).bool(!inner.is_empty());
        if !inner.is_empty() {
            put_levels(w, inner);
        }
        // Fields of a newer version than the reader knows.
        w.e.raw(&l.newer);
    });
}

/// Read nested levels (at most `depth` deep), each struct's version and value.
fn read_levels(d: &mut Decoder, understood: u8, depth: usize) -> DecodeResult<Vec<(u8, u32)>> {
    d.versioned("level", understood, |v, d| {
        let mut out = vec![(v, d.u32()?)];
        if d.bool()? {
            if depth == 0 {
                return Err(DecodeError {
                    what: "too deep".into(),
                });
            }
            out.extend(read_levels(d, understood, depth - 1)?);
        }
        Ok(out)
    })
}

proptest! {
    #![proptest_config(config(1000))]

    /// Nested versioned structs decode to their versions and values, skipping
    /// fields of newer versions, and the reader resumes after them; a struct
    /// whose compat version is above the reader's is refused, and so is any cut,
    /// a length of 0xffffffff, or anything that makes a length lie.
    #[test]
    fn nested_versioned_structs(
        levels in levels(),
        understood in 0u8..8,
        cut in any::<Index>(),
        which in any::<Index>(),
        value in len_value(),
    ) {
        let mut w = Enc::default();
        put_levels(&mut w, &levels);
        w.e.u32(MARKER);
        let bytes = w.bytes();
        let read = |bytes: &[u8]| -> DecodeResult<Vec<(u8, u32)>> {
            let mut d = Decoder::new(bytes);
            let out = read_levels(&mut d, understood, 16)?;
            if d.u32()? != MARKER || !d.is_empty() {
                return Err(DecodeError { what: "not after the struct".into() });
            }
            Ok(out)
        };
        let got = bounded(bytes.len(), || read(&bytes))?;
        if levels.iter().any(|l| l.compat > understood) {
            let e = got.expect_err("a struct too new was read");
            prop_assert!(e.what.contains("needs a reader of"), "{}", e.what);
        } else {
            prop_assert_eq!(got, Ok(levels.iter().map(|l| (l.v, l.value)).collect::<Vec<_>>()));
        }
        prop_assert!(bounded(bytes.len(), || read(&bytes[..cut.index(bytes.len())]))?.is_err());

        let mut mutant = bytes.clone();
        let at = w.lens[which.index(w.lens.len())];
        let n = overwrite(&mut mutant, at, value, &[]);
        let got = bounded(mutant.len(), || read(&mutant))?;
        // The outermost length must be exact (the marker follows it); any length
        // must fit in the bytes there are.
        let old = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        if (at == 2 && n != old) || n as usize > bytes.len() {
            prop_assert!(got.is_err(), "a struct's length of {} for {} was taken", n, old);
        }
    }

    /// Arbitrary bytes as nested versioned structs: no panic, bounded heap.
    #[test]
    fn arbitrary_versioned_structs_never_panic(bytes in hostile_bytes(600), understood in 0u8..4) {
        let mut d = Decoder::new(&bytes);
        let _ = bounded(bytes.len(), || read_levels(&mut d, understood, 64))?;
    }
}

/// How a list's count is written.
#[derive(Debug, Clone, Copy)]
enum Count {
    /// The elements there are.
    Exact,
    /// As many as `min_size` allows in the bytes left.
    Fit,
    /// This.
    Value(u32),
}

proptest! {
    #![proptest_config(config(2000))]

    /// A list of u64s under any count: taken when the count is within both the
    /// bytes left (at `min_size` each) and the elements there are, refused
    /// otherwise; what it reserves never exceeds the bytes it holds.
    #[test]
    fn lists_with_huge_counts(
        elems in vec(any::<u64>(), 0..96),
        count in prop_oneof![
            Just(Count::Exact),
            Just(Count::Fit),
            Just(Count::Value(u32::MAX)),
            Just(Count::Value(0x2000_0000)),
            (0u32..200).prop_map(Count::Value),
            any::<u32>().prop_map(Count::Value),
        ],
        min_size in 0usize..=8,
    ) {
        let rest = elems.len() * 8;
        let n = match count {
            Count::Exact => elems.len() as u32,
            Count::Fit => (rest / min_size.max(1)) as u32,
            Count::Value(v) => v,
        };
        let mut e = Encoder::new();
        e.u32(n);
        for x in &elems {
            e.u64(*x);
        }
        let bytes = e.into_bytes();
        let mut d = Decoder::new(&bytes);
        let (got, peak) = heap_peak(|| d.list(min_size, |d| d.u64()));
        prop_assert!(
            peak <= bytes.len() + 1024,
            "a list of {} bytes counting {} reserved {} bytes", bytes.len(), n, peak
        );
        let n = n as usize;
        if n.saturating_mul(min_size.max(1)) > rest || n > elems.len() {
            prop_assert!(got.is_err(), "a count of {} over {} elements was taken", n, elems.len());
        } else {
            prop_assert_eq!(got, Ok(elems[..n].to_vec()));
            prop_assert_eq!(d.remaining(), rest - n * 8);
        }
    }
}

// ---------------------------------------------------------------------------
// Cephx.

/// A ticket the monitors hand out.
#[derive(Debug, Clone)]
struct TicketSpec {
    service: u32,
    secret: [u8; 16],
    validity: u32,
    secret_id: u64,
    blob: Vec<u8>,
}

impl TicketSpec {
    fn key(&self) -> CryptoKey {
        crypto_key(
            self.secret,
            UTime {
                sec: self.validity,
                nsec: 7,
            },
        )
    }
}

fn ticket(services: &'static [u32]) -> impl Strategy<Value = TicketSpec> {
    (
        proptest::sample::select(services),
        any::<[u8; 16]>(),
        60u32..100_000,
        any::<u64>(),
        raw_bytes(24),
    )
        .prop_map(|(service, secret, validity, secret_id, blob)| TicketSpec {
            service,
            secret,
            validity,
            secret_id,
            blob,
        })
}

/// An exchange with the monitors: the client's key, the reply to its auth session
/// key request, and a later reply with service tickets.
#[derive(Debug, Clone)]
struct Exchange {
    client: [u8; 16],
    auth: TicketSpec,
    first: Vec<TicketSpec>,
    /// Whether the reply has the connection secret and extra tickets at all.
    tail: bool,
    connection_secret: Option<Vec<u8>>,
    extra: Vec<TicketSpec>,
    renewed: Vec<(TicketSpec, bool)>,
    global_id: u64,
}

const SERVICES: &[u32] = &[entity::MON, entity::OSD, entity::MGR];

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        (
            any::<[u8; 16]>(),
            ticket(&[entity::AUTH]),
            vec(ticket(SERVICES), 0..3),
        ),
        (any::<bool>(), proptest::option::of(raw_bytes(40))),
        (
            vec(ticket(SERVICES), 0..3),
            vec((ticket(SERVICES), any::<bool>()), 0..3),
        ),
        any::<u64>(),
    )
        .prop_map(
            |((client, auth, first), (tail, connection_secret), (extra, renewed), global_id)| {
                Exchange {
                    client,
                    auth,
                    first,
                    tail,
                    connection_secret,
                    extra,
                    renewed,
                    global_id,
                }
            },
        )
}

/// Tickets as the monitors encode them (`CephXServiceTicketInfo`s), each sealed
/// with `sealer`, or its ticket sealed again with the old key it pairs with.
fn put_tickets(w: &mut Enc, sealer: &CryptoKey, tickets: &[(TicketSpec, Option<CryptoKey>)]) {
    w.e.u8(1);
    w.len(tickets.len());
    for (t, old) in tickets {
        w.e.u32(t.service).u8(1);
        let mut info = Encoder::new();
        info.u8(1);
        t.key().encode(&mut info);
        UTime {
            sec: t.validity,
            nsec: 0,
        }
        .encode(&mut info);
        w.sealed(sealer, info.as_bytes());
        let mut bl = Enc::default();
        bl.e.u8(1).u64(t.secret_id);
        bl.blob(&t.blob);
        match old {
            None => {
                w.e.bool(false);
                w.nested(&bl);
            }
            Some(old) => {
                w.e.bool(true);
                let mut inner = Encoder::new();
                inner.blob(bl.e.as_bytes());
                w.sealed(old, inner.as_bytes());
            }
        }
    }
}

/// What an exchange encodes to.
struct Replies {
    /// The reply to the auth session key request.
    first: Enc,
    /// Where the first reply could end (its optional part begins).
    first_tickets_end: usize,
    /// The reply with service tickets, given the first was taken.
    renewal: Enc,
    /// The tickets the client should hold after the first reply, then after both.
    after_first: HashMap<u32, TicketSpec>,
    after_both: HashMap<u32, TicketSpec>,
}

impl Exchange {
    fn client(&self) -> CephxClient {
        let key = crypto_key(self.client, UTime { sec: 9, nsec: 9 });
        let name = "client.admin".parse().expect("a name");
        CephxClient::new(name, key, entity::MON | entity::OSD | entity::MGR)
    }

    fn replies(&self) -> Replies {
        let client_key = crypto_key(self.client, UTime { sec: 9, nsec: 9 });
        let auth_key = self.auth.key();
        let mut held: HashMap<u32, TicketSpec> = HashMap::new();

        let mut first = Enc::default();
        first.e.u16(0x0100).i32(0);
        let tickets: Vec<_> = std::iter::once(&self.auth)
            .chain(&self.first)
            .map(|t| (t.clone(), None))
            .collect();
        put_tickets(&mut first, &client_key, &tickets);
        for (t, _) in tickets {
            held.insert(t.service, t);
        }
        let first_tickets_end = first.at();
        if self.tail {
            let mut cbl = Enc::default();
            if let Some(secret) = &self.connection_secret {
                let mut plain = Encoder::new();
                plain.blob(secret);
                cbl.sealed(&auth_key, plain.as_bytes());
            }
            first.nested(&cbl);
            let mut extra = Enc::default();
            if !self.extra.is_empty() {
                let tickets: Vec<_> = self.extra.iter().map(|t| (t.clone(), None)).collect();
                put_tickets(&mut extra, &auth_key, &tickets);
                for (t, _) in tickets {
                    held.insert(t.service, t);
                }
            }
            first.nested(&extra);
        }
        let after_first = held.clone();

        let mut renewal = Enc::default();
        renewal.e.u16(0x0200).i32(0);
        let mut tickets = Vec::new();
        for (t, encrypted) in &self.renewed {
            let old = match held.get(&t.service) {
                Some(old) if *encrypted => Some(old.key()),
                _ => None,
            };
            tickets.push((t.clone(), old));
            held.insert(t.service, t.clone());
        }
        put_tickets(&mut renewal, &auth_key, &tickets);
        Replies {
            first,
            first_tickets_end,
            renewal,
            after_first,
            after_both: held,
        }
    }

    /// A client that took the first reply.
    fn primed(&self) -> CephxClient {
        let mut c = self.client();
        c.handle_reply(&self.replies().first.bytes())
            .expect("a valid reply");
        c.set_global_id(self.global_id);
        c
    }
}

fn holds(c: &CephxClient, want: &HashMap<u32, TicketSpec>) -> Result<(), TestCaseError> {
    for (service, t) in want {
        let got = c.ticket(*service);
        prop_assert!(got.is_some(), "no ticket for {:#x}", service);
        let got = got.unwrap();
        prop_assert_eq!(&got.session_key, &t.key());
        prop_assert_eq!(got.secret_id, t.secret_id);
        prop_assert_eq!(&got.blob, &t.blob);
        prop_assert!(got.renew_after <= got.expires && got.expires > Instant::now());
    }
    Ok(())
}

/// An authorizer's bytes: the ticket's part and the sealed authenticator's nonce.
fn read_authorizer(
    a: &Authorizer,
    t: &TicketSpec,
    global_id: u64,
) -> Result<(usize, u64), TestCaseError> {
    let mut d = Decoder::new(&a.bytes);
    let head = (
        d.u8(),
        d.u64(),
        d.u32(),
        d.u8(),
        d.u64(),
        d.blob().map(<[u8]>::to_vec),
    );
    prop_assert_eq!(
        head,
        (
            Ok(1),
            Ok(global_id),
            Ok(t.service),
            Ok(1),
            Ok(t.secret_id),
            Ok(t.blob.clone())
        )
    );
    let base = a.bytes.len() - d.remaining();
    let plain = a
        .session_key()
        .open_blob(&mut d)
        .map_err(|e| TestCaseError::fail(e.what))?;
    prop_assert!(d.is_empty());
    let mut p = Decoder::new(&plain);
    let (v, nonce) = (p.u8(), p.u64());
    prop_assert_eq!(
        (v, p.bool(), p.u64(), p.is_empty()),
        (Ok(2), Ok(false), Ok(0), true)
    );
    Ok((base, nonce.unwrap()))
}

proptest! {
    #![proptest_config(config(400))]

    /// A valid exchange: the client takes the auth session key and tickets, the
    /// connection secret, the extra tickets, then renewed ones (some sealed with
    /// the ticket's old key); an authorizer built from a ticket answers its
    /// service's challenge and checks its reply.
    #[test]
    fn cephx_exchanges_round_trip(x in exchange(), challenge in any::<u64>(), secret in raw_bytes(32), v1 in any::<bool>()) {
        let r = x.replies();
        let mut c = x.client();
        let first = r.first.bytes();
        let session = bounded(first.len(), || c.handle_reply(&first))?;
        let session = session.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let session = session.expect("a session");
        prop_assert_eq!(&session.session_key, &x.auth.key());
        let want_secret = if x.tail { x.connection_secret.clone().unwrap_or_default() } else { Vec::new() };
        prop_assert_eq!(&session.connection_secret, &want_secret);
        holds(&c, &r.after_first)?;

        let renewal = r.renewal.bytes();
        let got = bounded(renewal.len(), || c.handle_reply(&renewal))?;
        prop_assert!(matches!(got, Ok(None)), "{:?}", got);
        holds(&c, &r.after_both)?;

        c.set_global_id(x.global_id);
        let service = *r.after_both.keys().filter(|s| **s != entity::AUTH).min().unwrap_or(&entity::AUTH);
        let t = &r.after_both[&service];
        let mut a = c.authorizer(service).expect("an authorizer");
        prop_assert_eq!(a.session_key(), &t.key());
        let (base, nonce) = read_authorizer(&a, t, x.global_id)?;

        let mut reply = Encoder::new();
        if v1 {
            reply.u8(1).u64(nonce.wrapping_add(1));
        } else {
            reply.u8(2).u64(nonce.wrapping_add(1)).blob(&secret);
        }
        let mut sealed = Encoder::new();
        t.key().seal_blob(reply.as_bytes(), &mut sealed);
        let got = a.verify_reply(sealed.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, if v1 { Vec::new() } else { secret.clone() });
        let mut wrong = Encoder::new();
        wrong.u8(2).u64(nonce).blob(&secret);
        let mut sealed = Encoder::new();
        t.key().seal_blob(wrong.as_bytes(), &mut sealed);
        prop_assert!(matches!(a.verify_reply(sealed.as_bytes()), Err(AuthError::Refused(_))));

        let before = a.bytes.clone();
        let mut ch = Encoder::new();
        ch.u8(1).u64(challenge);
        let answer = a.answer_challenge(&t.key().seal(ch.as_bytes()))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&answer, &a.bytes);
        prop_assert_eq!(&answer[..base], &before[..base]);
        let plain = t.key().open_blob(&mut Decoder::new(&answer[base..]))
            .map_err(|e| TestCaseError::fail(e.what))?;
        let mut p = Decoder::new(&plain);
        prop_assert_eq!(
            (p.u8(), p.u64(), p.bool(), p.u64(), p.is_empty()),
            (Ok(2), Ok(nonce), Ok(true), Ok(challenge.wrapping_add(1)), true)
        );
    }

    /// Replies mutated (cut, a byte flipped, a length or a count overwritten):
    /// no panic, bounded heap; a cut reply is refused unless it ends where the
    /// optional part begins; a length of 0xffffffff is refused.
    #[test]
    fn mutated_cephx_replies_are_bounded(
        x in exchange(),
        renewal in any::<bool>(),
        cut in any::<Index>(),
        flip in (any::<Index>(), 1u8..=255),
        which in any::<Index>(),
        value in len_value(),
        pad in padding(),
    ) {
        let r = x.replies();
        let (w, end) = if renewal { (&r.renewal, None) } else { (&r.first, Some(r.first_tickets_end)) };
        let fresh = || if renewal { x.primed() } else { x.client() };
        let bytes = w.bytes();

        let cut = cut.index(bytes.len());
        let mut c = fresh();
        let got = bounded(cut, || c.handle_reply(&bytes[..cut]))?;
        if Some(cut) != end || !x.tail {
            prop_assert!(got.is_err(), "a reply cut at {} of {} was taken", cut, bytes.len());
        }

        let mut flipped = bytes.clone();
        let at = flip.0.index(flipped.len());
        flipped[at] ^= flip.1;
        let mut c = fresh();
        let _ = bounded(flipped.len(), || c.handle_reply(&flipped))?;

        let mut mutant = bytes.clone();
        let at = w.lens[which.index(w.lens.len())];
        let n = overwrite(&mut mutant, at, value, &pad);
        let mut c = fresh();
        let got = bounded(mutant.len(), || c.handle_reply(&mutant))?;
        if n == u32::MAX {
            prop_assert!(got.is_err(), "a length of 0xffffffff at {} was taken", at);
        }
    }

    /// Arbitrary bytes: a client refuses them as a reply; as a challenge it takes
    /// any nine bytes and answers with a proof of its key over both challenges;
    /// an authorizer refuses them as a challenge and as a reply.
    #[test]
    fn arbitrary_cephx_payloads_are_refused(
        x in exchange(),
        kind in prop_oneof![Just(0x0100u16), Just(0x0200), any::<u16>()],
        status in prop_oneof![Just(0i32), Just(i32::MIN), i32::MIN..0, any::<i32>()],
        rest in prop_oneof![hostile_bytes(200), raw_bytes(200)],
        raw in raw_bytes(64),
    ) {
        let mut payload = Encoder::new();
        payload.u16(kind).i32(status).raw(&rest);
        let payload = payload.into_bytes();
        let mut c = x.client();
        let got = bounded(payload.len(), || c.handle_reply(&payload))?;
        prop_assert!(got.is_err());
        if status < 0 {
            prop_assert!(matches!(got, Err(AuthError::Refused(_))));
        }
        let mut c = x.primed();
        let _ = bounded(payload.len(), || c.handle_reply(&payload))?;

        let mut c = x.client();
        let got = bounded(raw.len(), || c.answer_challenge(&raw))?;
        prop_assert_eq!(got.is_ok(), raw.len() >= 9);
        if let Ok(req) = got {
            let server_challenge = u64::from_le_bytes(raw[1..9].try_into().unwrap());
            let mut d = Decoder::new(&req);
            let (op, v, client_challenge, proof) = (d.u16(), d.u8(), d.u64(), d.u64());
            prop_assert_eq!((op, v), (Ok(0x0100), Ok(3)));
            let mut blob = Encoder::new();
            blob.u64(server_challenge).u64(client_challenge.unwrap());
            let mut sealed = Encoder::new();
            crypto_key(x.client, UTime { sec: 9, nsec: 9 }).seal_blob(blob.as_bytes(), &mut sealed);
            let want = sealed
                .as_bytes()
                .chunks_exact(8)
                .fold(0u64, |k, c| k ^ u64::from_le_bytes(c.try_into().unwrap()));
            prop_assert_eq!(proof, Ok(want));
            // No old ticket, and every ticket wanted.
            let tail = (d.u8(), d.u64(), d.blob().map(<[u8]>::len), d.u32(), d.is_empty());
            let want = entity::MON | entity::OSD | entity::MGR | entity::AUTH;
            prop_assert_eq!(tail, (Ok(1), Ok(0), Ok(0), Ok(want), true));
        }

        let c = x.primed();
        let mut a = c.authorizer(entity::AUTH).expect("an authorizer");
        let before = a.bytes.clone();
        prop_assert!(bounded(raw.len(), || a.answer_challenge(&raw))?.is_err());
        prop_assert_eq!(&a.bytes, &before);
        prop_assert!(bounded(raw.len(), || a.verify_reply(&raw))?.is_err());
        prop_assert!(bounded(payload.len(), || a.verify_reply(&payload))?.is_err());
    }

    /// Sealed garbage (arbitrary bytes sealed with the right key) where a ticket,
    /// the connection secret, an authorizer's challenge or its reply belongs: no
    /// panic, bounded heap, and refused when too short to hold what is read.
    #[test]
    fn sealed_garbage_never_panics(x in exchange(), garbage in prop_oneof![hostile_bytes(80), raw_bytes(80)]) {
        let client_key = crypto_key(x.client, UTime { sec: 9, nsec: 9 });
        let auth_key = x.auth.key();

        // The auth ticket's info.
        let mut w = Encoder::new();
        w.u16(0x0100).i32(0).u8(1).u32(1).u32(entity::AUTH).u8(1);
        client_key.seal_blob(&garbage, &mut w);
        w.bool(false).blob(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let bytes = w.into_bytes();
        let mut c = x.client();
        let got = bounded(bytes.len(), || c.handle_reply(&bytes))?;
        // A version, a key of 28 bytes and a validity.
        if garbage.len() < 37 {
            prop_assert!(got.is_err());
        }

        // The connection secret.
        let r = x.replies();
        let mut e = Encoder::new();
        e.raw(&r.first.e.as_bytes()[..r.first_tickets_end]);
        let mut cbl = Encoder::new();
        auth_key.seal_blob(&garbage, &mut cbl);
        e.blob(cbl.as_bytes()).blob(&[]);
        let bytes = e.into_bytes();
        let mut c = x.client();
        let got = bounded(bytes.len(), || c.handle_reply(&bytes))?;
        let n = garbage.get(..4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
        let fits = n.is_some_and(|n| n <= garbage.len() - 4);
        prop_assert_eq!(got.is_ok(), fits);
        if let (Ok(Some(s)), Some(n)) = (got, n) {
            prop_assert_eq!(&s.connection_secret[..], &garbage[4..4 + n]);
        }

        // An authorizer's challenge and reply.
        let c = x.primed();
        let mut a = c.authorizer(entity::AUTH).expect("an authorizer");
        let sealed = auth_key.seal(&garbage);
        let got = bounded(sealed.len(), || a.answer_challenge(&sealed))?;
        prop_assert_eq!(got.is_ok(), garbage.len() >= 9);
        let mut sealed = Encoder::new();
        auth_key.seal_blob(&garbage, &mut sealed);
        let sealed = sealed.into_bytes();
        prop_assert!(bounded(sealed.len(), || a.verify_reply(&sealed))?.is_err());
    }
}
