//! Deterministic, CRUSH-like placement of PGs on OSDs: the OSDs of a PG follow from a
//! hash of its pgid and the OSD map, so no per-PG OSD list is ever stored.
//!
//! Like CRUSH, a PG only moves when one of its OSDs is marked out or reweighted, and
//! replicas go to distinct hosts while there are enough hosts.

use super::model::OsdMap;

/// Most replicas a PG can have.
pub const MAX_REPLICAS: usize = 16;

/// Attempts per replica before giving up (the PG is then undersized).
const MAX_ATTEMPTS: u64 = 100;

#[derive(Clone, Copy, Debug)]
struct Candidate {
    id: i32,
    host: u32,
    /// Reweight in 1/65536 (0 = out).
    weight: u32,
    up: bool,
}

/// The OSD map reduced to what placement needs.
#[derive(Clone, Debug)]
pub struct Placement {
    osds: Vec<Candidate>,
    /// Index into `osds` by OSD id.
    by_id: Vec<Option<u32>>,
    /// Hosts with at least one OSD in.
    hosts_in: usize,
}

/// OSDs of one PG: the raw (CRUSH) set and the up set, primary first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    raw: [i32; MAX_REPLICAS],
    raw_len: u8,
    up: [i32; MAX_REPLICAS],
    up_len: u8,
}

impl Mapping {
    /// OSDs CRUSH picked among the OSDs that are in.
    pub fn raw(&self) -> &[i32] {
        &self.raw[..self.raw_len as usize]
    }

    /// The raw set without the OSDs that are down (the acting set).
    pub fn up(&self) -> &[i32] {
        &self.up[..self.up_len as usize]
    }

    /// The primary: first up OSD, -1 if none.
    pub fn primary(&self) -> i32 {
        self.up().first().copied().unwrap_or(-1)
    }
}

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hash(pool: i64, ps: u32, replica: u64, attempt: u64) -> u64 {
    let a = mix((pool as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(ps));
    mix(a ^ mix(replica.wrapping_mul(0x1000_0000_01b3) ^ (attempt << 40)))
}

impl Placement {
    /// Build from an OSD map.
    pub fn new(map: &OsdMap) -> Placement {
        let hosts: std::collections::HashMap<&str, usize> = map
            .hosts()
            .into_iter()
            .enumerate()
            .map(|(i, h)| (h, i))
            .collect();
        let mut osds = Vec::with_capacity(map.osds.len());
        let max_id = map.osds.iter().map(|o| o.id).max().unwrap_or(-1);
        let mut by_id = vec![None; usize::try_from(max_id + 1).unwrap_or(0)];
        let mut host_has_in = vec![false; hosts.len()];
        let max_crush = map.osds.iter().map(|o| o.crush_weight).fold(0.0, f64::max);
        for o in &map.osds {
            let host = hosts.get(o.host.as_str()).copied().unwrap_or(0);
            // Bigger devices get proportionally more PGs, as with CRUSH weights.
            let crush = if max_crush > 0.0 {
                (o.crush_weight / max_crush).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let weight = if o.in_ {
                (o.weight.clamp(0.0, 1.0) * crush * 65536.0).round() as u32
            } else {
                0
            };
            if weight > 0
                && let Some(slot) = host_has_in.get_mut(host)
            {
                *slot = true;
            }
            if let Ok(idx) = usize::try_from(o.id)
                && let Some(slot) = by_id.get_mut(idx)
            {
                *slot = Some(osds.len() as u32);
            }
            osds.push(Candidate {
                id: o.id,
                host: host as u32,
                weight,
                up: o.up,
            });
        }
        let hosts_in = host_has_in.iter().filter(|h| **h).count();
        Placement {
            osds,
            by_id,
            hosts_in,
        }
    }

    /// Whether the OSD exists and is up.
    pub fn is_up(&self, id: i32) -> bool {
        self.candidate(id).is_some_and(|c| c.up)
    }

    fn candidate(&self, id: i32) -> Option<&Candidate> {
        let idx = usize::try_from(id).ok()?;
        let pos = (*self.by_id.get(idx)?)?;
        self.osds.get(pos as usize)
    }

    /// Map PG `pool.ps` of a pool with `size` replicas.
    pub fn map(&self, pool: i64, ps: u32, size: u32) -> Mapping {
        let mut m = Mapping {
            raw: [-1; MAX_REPLICAS],
            raw_len: 0,
            up: [-1; MAX_REPLICAS],
            up_len: 0,
        };
        let n = self.osds.len() as u64;
        if n == 0 {
            return m;
        }
        let size = (size as usize).min(MAX_REPLICAS);
        let distinct_hosts = self.hosts_in >= size;
        let mut hosts = [u32::MAX; MAX_REPLICAS];
        for r in 0..size {
            for attempt in 0..MAX_ATTEMPTS {
                let h = hash(pool, ps, r as u64, attempt);
                let c = self.osds[(h % n) as usize];
                if c.weight == 0 {
                    continue;
                }
                if c.weight < 65536 && ((h >> 40) & 0xffff) as u32 >= c.weight {
                    continue;
                }
                let chosen = &m.raw[..m.raw_len as usize];
                if chosen.contains(&c.id) {
                    continue;
                }
                if distinct_hosts && hosts[..m.raw_len as usize].contains(&c.host) {
                    continue;
                }
                hosts[m.raw_len as usize] = c.host;
                m.raw[m.raw_len as usize] = c.id;
                m.raw_len += 1;
                if c.up {
                    m.up[m.up_len as usize] = c.id;
                    m.up_len += 1;
                }
                break;
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OsdInfo;

    fn map(n: i32, hosts: i32) -> OsdMap {
        OsdMap {
            osds: (0..n)
                .map(|i| OsdInfo {
                    id: i,
                    uuid: String::new(),
                    up: true,
                    in_: true,
                    weight: 1.0,
                    crush_weight: 1.0,
                    primary_affinity: 1.0,
                    host: format!("h{}", i % hosts),
                    device_class: "hdd".into(),
                    public_addr: String::new(),
                    cluster_addr: String::new(),
                    up_from: 1,
                    down_at: 0,
                    nonce: 0,
                })
                .collect(),
            ..OsdMap::default()
        }
    }

    #[test]
    fn distinct_hosts_and_stable() {
        let mut m = map(12, 4);
        let p = Placement::new(&m);
        for ps in 0..256 {
            let got = p.map(1, ps, 3);
            assert_eq!(got.raw().len(), 3);
            let mut hosts: Vec<i32> = got.raw().iter().map(|o| o % 4).collect();
            hosts.sort();
            hosts.dedup();
            assert_eq!(hosts.len(), 3);
        }
        // Marking osd.5 down keeps the raw set and drops it from up.
        m.osds[5].up = false;
        let q = Placement::new(&m);
        for ps in 0..256 {
            let (a, b) = (p.map(1, ps, 3), q.map(1, ps, 3));
            assert_eq!(a.raw(), b.raw());
            assert!(!b.up().contains(&5));
        }
        // Marking it out only moves the PGs that used it.
        m.osds[5].in_ = false;
        let r = Placement::new(&m);
        for ps in 0..256 {
            let (a, b) = (p.map(1, ps, 3), r.map(1, ps, 3));
            if !a.raw().contains(&5) {
                assert_eq!(a.raw(), b.raw());
            }
            assert!(!b.raw().contains(&5));
        }
    }

    #[test]
    fn fewer_osds_than_size() {
        let m = map(2, 2);
        let p = Placement::new(&m);
        assert_eq!(p.map(1, 0, 3).raw().len(), 2);
        let empty = Placement::new(&OsdMap::default());
        assert_eq!(empty.map(1, 0, 3).primary(), -1);
    }
}
