//! Ceph messages: the header a message frame carries, and the messages a
//! monitor client sends and receives, encoded and decoded as the daemons do.
//!
//! Maps pushed by the monitors are decoded to what following a cluster needs
//! (epochs, the monitors' addresses, log entries, configuration); what a map
//! holds beyond that is read as JSON through [`MonCommand`].

use crate::encoding::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::types::{AddrVec, EntityName, Fsid, UTime};

/// Message types (`CEPH_MSG_*`, `MSG_*`).
pub mod kind {
    /// MMonMap.
    pub const MON_MAP: u16 = 4;
    /// MMonSubscribe.
    pub const MON_SUBSCRIBE: u16 = 15;
    /// MMonSubscribeAck.
    pub const MON_SUBSCRIBE_ACK: u16 = 16;
    /// MAuth.
    pub const AUTH: u16 = 17;
    /// MAuthReply.
    pub const AUTH_REPLY: u16 = 18;
    /// MOSDMap.
    pub const OSD_MAP: u16 = 41;
    /// MFSMap.
    pub const FS_MAP: u16 = 45;
    /// MMonCommand.
    pub const MON_COMMAND: u16 = 50;
    /// MMonCommandAck.
    pub const MON_COMMAND_ACK: u16 = 51;
    /// MLog.
    pub const LOG: u16 = 52;
    /// MConfig.
    pub const CONFIG: u16 = 62;
    /// MCommand (to an OSD, a monitor, a manager).
    pub const COMMAND: u16 = 97;
    /// MCommandReply.
    pub const COMMAND_REPLY: u16 = 98;
    /// MMgrMap.
    pub const MGR_MAP: u16 = 0x704;
    /// MMgrDigest.
    pub const MGR_DIGEST: u16 = 0x705;
    /// MServiceMap.
    pub const SERVICE_MAP: u16 = 0x707;
    /// MMgrCommand.
    pub const MGR_COMMAND: u16 = 0x709;
    /// MMgrCommandReply.
    pub const MGR_COMMAND_REPLY: u16 = 0x70a;
}

/// `CEPH_MSG_PRIO_DEFAULT`.
pub const PRIO_DEFAULT: u16 = 127;
/// Size of `ceph_msg_header2`.
pub const HEADER2_LEN: usize = 41;

/// A message as it travels in a message frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// One of [`kind`]'s types.
    pub kind: u16,
    /// Encoding version of the front.
    pub version: u16,
    /// Oldest version that can read it.
    pub compat: u16,
    /// Transaction id (matches replies to requests).
    pub tid: u64,
    /// Sequence number on the connection (set when sent).
    pub seq: u64,
    /// Priority.
    pub priority: u16,
    /// The front segment (the encoded fields).
    pub front: Vec<u8>,
    /// The middle segment.
    pub middle: Vec<u8>,
    /// The data segment (a command's input or output).
    pub data: Vec<u8>,
}

impl Message {
    /// A message of `kind` with `front`.
    pub fn new(kind: u16, version: u16, compat: u16, front: Vec<u8>) -> Message {
        Message {
            kind,
            version,
            compat,
            priority: PRIO_DEFAULT,
            front,
            ..Message::default()
        }
    }

    /// The frame's header segment, acknowledging `ack_seq`.
    pub fn header2(&self, ack_seq: u64) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u64(self.seq)
            .u64(self.tid)
            .u16(self.kind)
            .u16(self.priority)
            .u16(self.version)
            .u32(0) // data pre-padding
            .u16(0) // data offset
            .u64(ack_seq)
            .u8(1) // CEPH_MSG_FOOTER_COMPLETE
            .u16(self.compat)
            .u16(0);
        e.into_bytes()
    }

    /// Rebuild a message from a frame's segments; gives it and the sender's ack.
    pub fn from_segments(segments: Vec<Vec<u8>>) -> DecodeResult<(Message, u64)> {
        let mut it = segments.into_iter();
        let header = it.next().unwrap_or_default();
        if header.len() < HEADER2_LEN {
            return Err(DecodeError {
                what: format!("message header of {} bytes", header.len()),
            });
        }
        let mut d = Decoder::new(&header);
        let seq = d.u64()?;
        let tid = d.u64()?;
        let kind = d.u16()?;
        let priority = d.u16()?;
        let version = d.u16()?;
        d.u32()?;
        d.u16()?;
        let ack = d.u64()?;
        d.u8()?;
        let compat = d.u16()?;
        Ok((
            Message {
                kind,
                version,
                compat,
                tid,
                seq,
                priority,
                front: it.next().unwrap_or_default(),
                middle: it.next().unwrap_or_default(),
                data: it.next().unwrap_or_default(),
            },
            ack,
        ))
    }
}

/// `PaxosServiceMessage`'s fields before the message's own.
fn paxos_header(e: &mut Encoder) {
    e.u64(0).i16(-1).u64(0);
}

fn skip_paxos_header(d: &mut Decoder) -> DecodeResult<u64> {
    let version = d.u64()?;
    d.i16()?;
    d.u64()?;
    Ok(version)
}

/// One subscription (`ceph_mon_subscribe_item`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// What: `osdmap`, `log-info`, ...
    pub what: String,
    /// The first version wanted (0: the current one).
    pub start: u64,
    /// Only one update, then the subscription ends.
    pub onetime: bool,
}

/// MMonSubscribe: what this client wants pushed.
pub fn mon_subscribe(subs: &[Subscription], hostname: &str) -> Message {
    let mut e = Encoder::new();
    e.u32(subs.len() as u32);
    for s in subs {
        e.string(&s.what).u64(s.start).u8(s.onetime as u8);
    }
    e.string(hostname);
    Message::new(kind::MON_SUBSCRIBE, 3, 1, e.into_bytes())
}

/// MMonSubscribeAck: how often to renew, and the cluster's fsid.
pub fn decode_subscribe_ack(m: &Message) -> DecodeResult<(u32, Fsid)> {
    let mut d = Decoder::new(&m.front);
    Ok((d.u32()?, Fsid::decode(&mut d)?))
}

/// MMonCommand: a command (Ceph's JSON) to the monitors, input in the data.
pub fn mon_command(tid: u64, fsid: Fsid, cmd: &str, inbuf: &[u8]) -> Message {
    let mut e = Encoder::new();
    paxos_header(&mut e);
    e.raw(&fsid.0).u32(1).string(cmd);
    let mut m = Message::new(kind::MON_COMMAND, 1, 0, e.into_bytes());
    m.tid = tid;
    m.data = inbuf.to_vec();
    m
}

/// A command's answer: return code, status text, output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandReply {
    /// 0 or a negative errno.
    pub retval: i32,
    /// The status line (`rs`).
    pub status: String,
    /// The output.
    pub data: Vec<u8>,
}

/// MMonCommandAck.
pub fn decode_mon_command_ack(m: &Message) -> DecodeResult<CommandReply> {
    let mut d = Decoder::new(&m.front);
    skip_paxos_header(&mut d)?;
    reply_fields(&mut d, m)
}

/// The return code and status every command reply starts with; the output is
/// the data segment.
fn reply_fields(d: &mut Decoder, m: &Message) -> DecodeResult<CommandReply> {
    Ok(CommandReply {
        retval: d.i32()?,
        status: d.string()?,
        data: m.data.clone(),
    })
}

/// MCommand (to an OSD or a monitor, `tell`), or MMgrCommand (to a manager):
/// the same fields.
pub fn command(kind: u16, tid: u64, fsid: Fsid, cmd: &str, inbuf: &[u8]) -> Message {
    let mut e = Encoder::new();
    e.raw(&fsid.0).u32(1).string(cmd);
    let mut m = Message::new(kind, 1, 0, e.into_bytes());
    m.tid = tid;
    m.data = inbuf.to_vec();
    m
}

/// MCommandReply or MMgrCommandReply.
pub fn decode_command_reply(m: &Message) -> DecodeResult<CommandReply> {
    reply_fields(&mut Decoder::new(&m.front), m)
}

/// MAuth: a cephx request on an established monitor session (ticket renewal).
pub fn auth(payload: &[u8], monmap_epoch: u32) -> Message {
    let mut e = Encoder::new();
    paxos_header(&mut e);
    e.u32(crate::cephx::CEPH_AUTH_CEPHX)
        .blob(payload)
        .u32(monmap_epoch);
    Message::new(kind::AUTH, 1, 0, e.into_bytes())
}

/// MAuthReply's fields.
#[derive(Debug)]
pub struct AuthReply {
    /// 0 or a negative errno.
    pub result: i32,
    /// The cephx reply.
    pub payload: Vec<u8>,
    /// Why, when it failed.
    pub message: String,
}

/// Decode MAuthReply.
pub fn decode_auth_reply(m: &Message) -> DecodeResult<AuthReply> {
    let mut d = Decoder::new(&m.front);
    d.u32()?;
    let result = d.i32()?;
    d.u64()?;
    let payload = d.blob()?.to_vec();
    let message = d.string()?;
    Ok(AuthReply {
        result,
        payload,
        message,
    })
}

/// The monitor map, decoded as far as a client needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonMap {
    /// Its epoch.
    pub epoch: u32,
    /// The cluster's fsid.
    pub fsid: Fsid,
    /// Each monitor's name and addresses.
    pub mons: Vec<(String, AddrVec)>,
}

/// MMonMap: the encoded monmap (`MonMap::encode`, v9 in Pacific, readable
/// from v6).
pub fn decode_mon_map(m: &Message) -> DecodeResult<MonMap> {
    let mut d = Decoder::new(&m.front);
    let bl = d.blob()?;
    Decoder::new(bl).versioned("MonMap", 6, |v, d| {
        if v < 6 {
            return Err(DecodeError {
                what: format!("monmap v{v} (pre-Nautilus)"),
            });
        }
        let fsid = Fsid::decode(d)?;
        let epoch = d.u32()?;
        UTime::decode(d)?; // last_changed
        UTime::decode(d)?; // created
        // persistent and optional features: two versioned mon_feature_t.
        d.versioned("mon_feature_t", 1, |_, _| Ok(()))?;
        d.versioned("mon_feature_t", 1, |_, _| Ok(()))?;
        let mons = d.list(10, |d| {
            let name = d.string()?;
            let addrs = d.versioned("mon_info_t", 4, |v, d| {
                d.string()?;
                if v < 3 {
                    return Ok(AddrVec(vec![crate::types::EntityAddr::decode(d)?]));
                }
                AddrVec::decode(d)
            })?;
            Ok((name, addrs))
        })?;
        Ok(MonMap { epoch, fsid, mons })
    })
}

/// MOSDMap: the epochs of the full maps and incrementals it carries, and the
/// newest the monitors have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsdMapEpochs {
    /// Epochs of incremental maps.
    pub incrementals: Vec<u32>,
    /// Epochs of full maps.
    pub full: Vec<u32>,
    /// The oldest the monitors keep.
    pub oldest: u32,
    /// The newest the monitors have.
    pub newest: u32,
}

impl OsdMapEpochs {
    /// The last epoch this message brings.
    pub fn last(&self) -> Option<u32> {
        self.incrementals.iter().chain(&self.full).copied().max()
    }
}

/// Decode MOSDMap to its epochs.
pub fn decode_osd_map(m: &Message) -> DecodeResult<OsdMapEpochs> {
    let mut d = Decoder::new(&m.front);
    Fsid::decode(&mut d)?;
    let epochs = |d: &mut Decoder| {
        d.list(8, |d| {
            let e = d.u32()?;
            d.blob()?;
            Ok(e)
        })
    };
    let incrementals = epochs(&mut d)?;
    let full = epochs(&mut d)?;
    let (oldest, newest) = if m.version >= 2 {
        (d.u32()?, d.u32()?)
    } else {
        (0, 0)
    };
    Ok(OsdMapEpochs {
        incrementals,
        full,
        oldest,
        newest,
    })
}

/// MFSMap: its epoch.
pub fn decode_fs_map_epoch(m: &Message) -> DecodeResult<u32> {
    Decoder::new(&m.front).u32()
}

/// MMgrMap: the manager map's epoch and active manager.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MgrMapHead {
    /// The epoch.
    pub epoch: u32,
    /// The active manager's gid.
    pub active_gid: u64,
    /// The active manager's name.
    pub active_name: String,
    /// Whether it is available.
    pub available: bool,
    /// Its addresses.
    pub active_addrs: AddrVec,
}

/// Decode MMgrMap's head (`MgrMap::encode`, v11 in Pacific, readable from v6).
pub fn decode_mgr_map(m: &Message) -> DecodeResult<MgrMapHead> {
    Decoder::new(&m.front).versioned("MgrMap", 6, |_, d| {
        Ok(MgrMapHead {
            epoch: d.u32()?,
            active_addrs: AddrVec::decode(d)?,
            active_gid: d.u64()?,
            available: d.bool()?,
            active_name: d.string()?,
        })
    })
}

/// MServiceMap: its epoch (`ServiceMap::encode`).
pub fn decode_service_map_epoch(m: &Message) -> DecodeResult<u32> {
    Decoder::new(&m.front).versioned("ServiceMap", 1, |_, d| d.u32())
}

/// MConfig: the configuration the monitors hold for this entity.
pub fn decode_config(m: &Message) -> DecodeResult<Vec<(String, String)>> {
    Decoder::new(&m.front).list(8, |d| Ok((d.string()?, d.string()?)))
}

/// MMgrDigest: the monitors' status and health, as JSON.
pub fn decode_mgr_digest(m: &Message) -> DecodeResult<(Vec<u8>, Vec<u8>)> {
    let mut d = Decoder::new(&m.front);
    Ok((d.blob()?.to_vec(), d.blob()?.to_vec()))
}

/// One cluster log entry (`LogEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Who logged it (`mon.a`, `osd.1`).
    pub name: EntityName,
    /// When.
    pub stamp: UTime,
    /// Its sequence number at its sender.
    pub seq: u64,
    /// `DBG`, `INF`, `SEC`, `WRN`, `ERR`.
    pub level: &'static str,
    /// The text.
    pub message: String,
    /// `cluster`, `audit`, ...
    pub channel: String,
}

/// MLog: the log's version (for resubscribing without gaps) and its entries.
pub fn decode_log(m: &Message) -> DecodeResult<(u64, Vec<LogEntry>)> {
    let mut d = Decoder::new(&m.front);
    let version = skip_paxos_header(&mut d)?;
    Fsid::decode(&mut d)?;
    let entries = d.list(6, |d| {
        d.versioned("LogEntry", 5, |v, d| {
            if v < 5 {
                return Err(DecodeError {
                    what: format!("log entry v{v} (pre-Nautilus)"),
                });
            }
            let name = EntityName::decode(d)?;
            d.u8()?; // rank: entity_name_t type
            d.i64()?; // and number
            AddrVec::decode(d)?;
            let stamp = UTime::decode(d)?;
            let seq = d.u64()?;
            let prio = d.u16()?;
            let message = d.string()?;
            let channel = d.string()?;
            let level = match prio {
                0 => "DBG",
                1 => "INF",
                2 => "SEC",
                3 => "WRN",
                4 => "ERR",
                _ => "UNK",
            };
            Ok(LogEntry {
                name,
                stamp,
                seq,
                level,
                message,
                channel,
            })
        })
    })?;
    Ok((version, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let mut m = mon_command(7, Fsid([3; 16]), "{\"prefix\":\"status\"}", b"in");
        m.seq = 9;
        let h = m.header2(4);
        assert_eq!(h.len(), HEADER2_LEN);
        let (back, ack) =
            Message::from_segments(vec![h, m.front.clone(), vec![], m.data.clone()]).unwrap();
        assert_eq!((back, ack), (m, 4));
    }
}
