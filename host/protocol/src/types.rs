//! The small types every message carries: entity names, addresses, times, fsids.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::encoding::{DecodeError, DecodeResult, Decoder, Encoder};

/// Entity types (`CEPH_ENTITY_TYPE_*`), also the service bits of cephx tickets.
pub mod entity {
    /// A monitor.
    pub const MON: u32 = 0x01;
    /// A metadata server.
    pub const MDS: u32 = 0x02;
    /// An OSD.
    pub const OSD: u32 = 0x04;
    /// A client.
    pub const CLIENT: u32 = 0x08;
    /// A manager.
    pub const MGR: u32 = 0x10;
    /// The monitors' authentication service.
    pub const AUTH: u32 = 0x20;

    /// The type's name as Ceph writes it (`osd`).
    pub fn name(t: u32) -> &'static str {
        match t {
            MON => "mon",
            MDS => "mds",
            OSD => "osd",
            CLIENT => "client",
            MGR => "mgr",
            AUTH => "auth",
            _ => "unknown",
        }
    }
}

/// A cephx identity, `client.admin` (`EntityName`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntityName {
    /// One of [`entity`]'s types.
    pub kind: u32,
    /// What follows the dot.
    pub id: String,
}

impl FromStr for EntityName {
    type Err = String;

    fn from_str(s: &str) -> Result<EntityName, String> {
        let (kind, id) = s
            .split_once('.')
            .ok_or_else(|| format!("entity name {s:?} is not TYPE.ID"))?;
        let kind = match kind {
            "mon" => entity::MON,
            "mds" => entity::MDS,
            "osd" => entity::OSD,
            "client" => entity::CLIENT,
            "mgr" => entity::MGR,
            _ => return Err(format!("entity name {s:?}: unknown type {kind:?}")),
        };
        if id.is_empty() {
            return Err(format!("entity name {s:?} has no id"));
        }
        Ok(EntityName {
            kind,
            id: id.to_string(),
        })
    }
}

impl fmt::Display for EntityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", entity::name(self.kind), self.id)
    }
}

impl EntityName {
    /// Encode as Ceph does (a u32 type and the id).
    pub fn encode(&self, e: &mut Encoder) {
        e.u32(self.kind).string(&self.id);
    }

    /// Decode one.
    pub fn decode(d: &mut Decoder) -> DecodeResult<EntityName> {
        Ok(EntityName {
            kind: d.u32()?,
            id: d.string()?,
        })
    }
}

/// Address types (`entity_addr_t::TYPE_*`).
pub mod addr_type {
    /// No address.
    pub const NONE: u32 = 0;
    /// Messenger v1.
    pub const LEGACY: u32 = 1;
    /// Messenger v2.
    pub const MSGR2: u32 = 2;
    /// Either.
    pub const ANY: u32 = 3;
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// One address of an entity (`entity_addr_t`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntityAddr {
    /// One of [`addr_type`]'s types.
    pub kind: u32,
    /// Tells incarnations apart.
    pub nonce: u32,
    /// The socket address, if any.
    pub addr: Option<SocketAddr>,
}

impl EntityAddr {
    /// A messenger v2 address.
    pub fn msgr2(addr: SocketAddr) -> EntityAddr {
        EntityAddr {
            kind: addr_type::MSGR2,
            nonce: 0,
            addr: Some(addr),
        }
    }

    /// Encode with the MSG_ADDR2 feature, as every Pacific peer expects.
    pub fn encode(&self, e: &mut Encoder) {
        e.u8(1);
        e.versioned(1, 1, |e| {
            e.u32(self.kind).u32(self.nonce);
            match self.addr {
                None => {
                    e.u32(0);
                }
                Some(SocketAddr::V4(a)) => {
                    e.u32(16).u16(AF_INET);
                    e.raw(&a.port().to_be_bytes())
                        .raw(&a.ip().octets())
                        .raw(&[0u8; 8]);
                }
                Some(SocketAddr::V6(a)) => {
                    e.u32(28).u16(AF_INET6);
                    e.raw(&a.port().to_be_bytes())
                        .raw(&a.flowinfo().to_be_bytes())
                        .raw(&a.ip().octets())
                        .raw(&a.scope_id().to_le_bytes());
                }
            }
        });
    }

    /// Decode one (the legacy form too).
    pub fn decode(d: &mut Decoder) -> DecodeResult<EntityAddr> {
        let marker = d.u8()?;
        match marker {
            0 => {
                // Legacy: three more pad bytes, nonce, a 128-byte sockaddr_storage
                // whose family is big-endian.
                d.take(3, "legacy address padding")?;
                let nonce = d.u32()?;
                let ss = d.take(128, "legacy sockaddr")?;
                let family = u16::from_be_bytes([ss[0], ss[1]]);
                Ok(EntityAddr {
                    kind: addr_type::LEGACY,
                    nonce,
                    addr: sockaddr(family, &ss[2..]),
                })
            }
            1 => d.versioned("entity_addr_t", 1, |_, d| {
                let kind = d.u32()?;
                let nonce = d.u32()?;
                let len = d.u32()? as usize;
                let addr = if len >= 2 {
                    let family = d.u16()?;
                    sockaddr(family, d.take(len - 2, "sockaddr")?)
                } else {
                    d.take(len, "sockaddr")?;
                    None
                };
                Ok(EntityAddr { kind, nonce, addr })
            }),
            m => Err(DecodeError {
                what: format!("entity_addr_t: unknown marker {m}"),
            }),
        }
    }
}

fn sockaddr(family: u16, data: &[u8]) -> Option<SocketAddr> {
    match family {
        AF_INET if data.len() >= 6 => {
            let port = u16::from_be_bytes([data[0], data[1]]);
            let ip = Ipv4Addr::new(data[2], data[3], data[4], data[5]);
            Some(SocketAddr::new(IpAddr::V4(ip), port))
        }
        AF_INET6 if data.len() >= 22 => {
            let port = u16::from_be_bytes([data[0], data[1]]);
            let mut o = [0u8; 16];
            o.copy_from_slice(&data[6..22]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
        }
        _ => None,
    }
}

impl FromStr for EntityAddr {
    type Err = String;

    /// Parse Ceph's text form, `v2:127.0.0.1:6800/27855` (no prefix: v2; no
    /// nonce: 0).
    fn from_str(s: &str) -> Result<EntityAddr, String> {
        let (kind, rest) = if let Some(r) = s.strip_prefix("v2:") {
            (addr_type::MSGR2, r)
        } else if let Some(r) = s.strip_prefix("v1:") {
            (addr_type::LEGACY, r)
        } else if let Some(r) = s.strip_prefix("any:") {
            (addr_type::ANY, r)
        } else {
            (addr_type::MSGR2, s)
        };
        let (addr, nonce) = match rest.rsplit_once('/') {
            Some((a, n)) => (
                a,
                n.parse().map_err(|_| format!("address {s:?}: bad nonce"))?,
            ),
            None => (rest, 0),
        };
        let addr = addr
            .parse()
            .map_err(|_| format!("address {s:?} is not IP:PORT"))?;
        Ok(EntityAddr {
            kind,
            nonce,
            addr: Some(addr),
        })
    }
}

impl fmt::Display for EntityAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            addr_type::LEGACY => "v1:",
            addr_type::MSGR2 => "v2:",
            addr_type::ANY => "any:",
            _ => "",
        };
        match self.addr {
            Some(a) => write!(f, "{kind}{a}/{}", self.nonce),
            None => write!(f, "{kind}-/{}", self.nonce),
        }
    }
}

/// An entity's addresses (`entity_addrvec_t`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrVec(pub Vec<EntityAddr>);

impl AddrVec {
    /// Encode with the MSG_ADDR2 feature.
    pub fn encode(&self, e: &mut Encoder) {
        e.u8(2).u32(self.0.len() as u32);
        for a in &self.0 {
            a.encode(e);
        }
    }

    /// Decode one (a single legacy or v2 address counts as a vector of one).
    pub fn decode(d: &mut Decoder) -> DecodeResult<AddrVec> {
        let mut peek = d.clone();
        match peek.u8()? {
            2 => {
                d.u8()?;
                Ok(AddrVec(d.list(6, EntityAddr::decode)?))
            }
            _ => Ok(AddrVec(vec![EntityAddr::decode(d)?])),
        }
    }

    /// The messenger v2 address, if there is one.
    pub fn msgr2(&self) -> Option<&EntityAddr> {
        self.0
            .iter()
            .find(|a| (a.kind == addr_type::MSGR2 || a.kind == addr_type::ANY) && a.addr.is_some())
    }
}

/// A time (`utime_t`): seconds and nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct UTime {
    /// Seconds.
    pub sec: u32,
    /// Nanoseconds.
    pub nsec: u32,
}

impl UTime {
    /// Now, by the system clock.
    pub fn now() -> UTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UTime {
            sec: d.as_secs() as u32,
            nsec: d.subsec_nanos(),
        }
    }

    /// Encode one.
    pub fn encode(&self, e: &mut Encoder) {
        e.u32(self.sec).u32(self.nsec);
    }

    /// Decode one.
    pub fn decode(d: &mut Decoder) -> DecodeResult<UTime> {
        Ok(UTime {
            sec: d.u32()?,
            nsec: d.u32()?,
        })
    }

    /// As a duration (for validities).
    pub fn as_duration(&self) -> std::time::Duration {
        std::time::Duration::new(self.sec as u64, self.nsec.min(999_999_999))
    }
}

/// A cluster's fsid (`uuid_d`, 16 raw bytes on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fsid(pub [u8; 16]);

impl FromStr for Fsid {
    type Err = String;

    fn from_str(s: &str) -> Result<Fsid, String> {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 {
            return Err(format!("fsid {s:?} is not a UUID"));
        }
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("fsid {s:?} is not a UUID"))?;
        }
        Ok(Fsid(out))
    }
}

impl fmt::Display for Fsid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Fsid {
    /// Decode one.
    pub fn decode(d: &mut Decoder) -> DecodeResult<Fsid> {
        let mut out = [0u8; 16];
        out.copy_from_slice(d.take(16, "fsid")?);
        Ok(Fsid(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for a in ["127.0.0.1:6789", "[::1]:3300"] {
            let addr = EntityAddr {
                kind: addr_type::MSGR2,
                nonce: 42,
                addr: Some(a.parse().unwrap()),
            };
            let mut e = Encoder::new();
            AddrVec(vec![addr.clone()]).encode(&mut e);
            let bytes = e.into_bytes();
            let back = AddrVec::decode(&mut Decoder::new(&bytes)).unwrap();
            assert_eq!(back.0, vec![addr]);
        }
    }

    #[test]
    fn names_and_fsids_parse() {
        let n: EntityName = "client.admin".parse().unwrap();
        assert_eq!((n.kind, n.id.as_str()), (entity::CLIENT, "admin"));
        assert!("admin".parse::<EntityName>().is_err());
        let f: Fsid = "0e1e08b3-1905-4fac-b544-f4fde4c6dc85".parse().unwrap();
        assert_eq!(f.to_string(), "0e1e08b3-1905-4fac-b544-f4fde4c6dc85");
    }
}
