//! OSD families: flags, metadata (with a cache of each OSD's metadata), disk
//! occupation, up/in/weight and the apply/commit latencies.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use wasm_mgr_sdk::{OsdInfo, OsdMap, cluster};

use crate::collect::{Servers, addr_ip, get_json};
use crate::exposition::{Kind, Page};

/// A family written from one field of each item: name, HELP text and the field.
type Field<T, V> = (&'static str, &'static str, fn(&T) -> V);

/// OSD map flags that get a `ceph_osd_flag_<flag>` family.
const OSD_FLAGS: [&str; 9] = [
    "noup",
    "nodown",
    "noout",
    "noin",
    "nobackfill",
    "norebalance",
    "norecover",
    "noscrub",
    "nodeep-scrub",
];

/// What is kept from one OSD's metadata, valid while its `up_from` does not change.
struct OsdMeta {
    up_from: u64,
    back_iface: String,
    front_iface: String,
    objectstore: String,
    hostname: String,
    ceph_version: String,
    /// Data, DB and WAL device nodes; the data node is empty when unknown.
    dev_node: String,
    db_dev_node: String,
    wal_dev_node: String,
    devices: String,
    device_ids: String,
}

impl OsdMeta {
    /// The fields of `ceph osd metadata <id>` the page uses.
    fn fetch(id: i32, up_from: u64) -> Option<OsdMeta> {
        let mut md = cluster::get_metadata("osd", &id.to_string())?;
        let mut take = |key: &str| md.remove(key).unwrap_or_default();
        let objectstore = take("osd_objectstore");
        let (dev_node, db_dev_node, wal_dev_node) = match objectstore.as_str() {
            "bluestore" => (
                take("bluestore_bdev_dev_node"),
                take("bluefs_db_dev_node"),
                take("bluefs_wal_dev_node"),
            ),
            "filestore" => (
                take("backend_filestore_dev_node"),
                String::new(),
                take("osd_journal"),
            ),
            _ => Default::default(),
        };
        let non_empty = |s: String| if s.is_empty() { "N/A".to_owned() } else { s };
        Some(OsdMeta {
            up_from,
            back_iface: take("back_iface"),
            front_iface: take("front_iface"),
            hostname: take("hostname"),
            ceph_version: take("ceph_version"),
            devices: non_empty(take("devices")),
            device_ids: non_empty(take("device_ids")),
            dev_node: if dev_node == "unknown" {
                String::new()
            } else {
                dev_node
            },
            db_dev_node,
            wal_dev_node,
            objectstore,
        })
    }
}

/// The metadata of every OSD, fetched again only when the OSD boots (its `up_from`
/// moves): at 10,000 OSDs a collection then asks for none.
#[derive(Default)]
pub struct OsdCache {
    meta: HashMap<i32, OsdMeta>,
}

impl OsdCache {
    /// Read the OSD map and write the OSD families; returns the map.
    pub fn write(&mut self, page: &mut Page, servers: &Servers) -> OsdMap {
        let osd_map = cluster::osd_map();
        flags(page, &osd_map);
        self.refresh(&osd_map);
        self.metadata(page, &osd_map, servers);
        self.disk_occupation(page, &osd_map);
        status(page, &osd_map);
        osd_map
    }

    /// Fetch the metadata of OSDs that are new or booted since they were cached.
    fn refresh(&mut self, osd_map: &OsdMap) {
        let ids: HashSet<i32> = osd_map.osds.iter().map(|o| o.id).collect();
        self.meta.retain(|id, _| ids.contains(id));
        for o in &osd_map.osds {
            let fresh = self.meta.get(&o.id).is_some_and(|m| m.up_from == o.up_from);
            if !fresh && let Some(meta) = OsdMeta::fetch(o.id, o.up_from) {
                self.meta.insert(o.id, meta);
            }
        }
    }

    /// `ceph_osd_metadata`, for OSDs with metadata and addresses.
    fn metadata(&self, page: &mut Page, osd_map: &OsdMap, servers: &Servers) {
        let mut fam = page.family("ceph_osd_metadata", "OSD Metadata", Kind::Untyped);
        for o in &osd_map.osds {
            let (p_addr, c_addr) = (addr_ip(&o.public_addr), addr_ip(&o.cluster_addr));
            let Some(meta) = self.meta.get(&o.id) else {
                continue;
            };
            if p_addr.is_empty() || p_addr == "-" || c_addr.is_empty() || c_addr == "-" {
                continue;
            }
            let (host, version) = servers.get("osd", &o.id.to_string());
            let host = if host.is_empty() {
                &meta.hostname
            } else {
                host
            };
            let version = if version.is_empty() {
                &meta.ceph_version
            } else {
                version
            };
            fam.sample(
                &[
                    ("back_iface", &meta.back_iface),
                    ("ceph_daemon", &format_args!("osd.{}", o.id)),
                    ("cluster_addr", &c_addr),
                    ("device_class", &o.device_class),
                    ("front_iface", &meta.front_iface),
                    ("hostname", &host),
                    ("objectstore", &meta.objectstore),
                    ("public_addr", &p_addr),
                    ("ceph_version", &version),
                ],
                1u64,
            );
        }
    }

    /// `ceph_disk_occupation` and `ceph_disk_occupation_human`, for OSDs whose
    /// metadata names their data device.
    fn disk_occupation(&self, page: &mut Page, osd_map: &OsdMap) {
        let disks: Vec<(i32, &OsdMeta)> = osd_map
            .osds
            .iter()
            .filter_map(|o| Some((o.id, self.meta.get(&o.id)?)))
            .filter(|(_, m)| !m.dev_node.is_empty() && !m.hostname.is_empty())
            .collect();
        let mut fam = page.family(
            "ceph_disk_occupation",
            "Associate Ceph daemon with disk used",
            Kind::Untyped,
        );
        for (id, m) in &disks {
            fam.sample(
                &[
                    ("ceph_daemon", &format_args!("osd.{id}")),
                    ("device", &m.dev_node),
                    ("db_device", &m.db_dev_node),
                    ("wal_device", &m.wal_dev_node),
                    ("instance", &m.hostname),
                    ("devices", &m.devices),
                    ("device_ids", &m.device_ids),
                ],
                1u64,
            );
        }
        // The same, one sample per (device, host) with the daemons joined: for display.
        let mut groups: Vec<(String, &str, &str)> = Vec::new();
        let mut index: HashMap<(&str, &str), usize> = HashMap::new();
        for (id, m) in &disks {
            let key = (m.dev_node.as_str(), m.hostname.as_str());
            match index.get(&key) {
                Some(&i) => {
                    let daemons = &mut groups[i].0;
                    daemons.push_str(", osd.");
                    daemons.push_str(&id.to_string());
                }
                None => {
                    index.insert(key, groups.len());
                    groups.push((format!("osd.{id}"), key.0, key.1));
                }
            }
        }
        let mut fam = page.family(
            "ceph_disk_occupation_human",
            "Associate Ceph daemon with disk used",
            Kind::Untyped,
        );
        for (daemons, device, host) in &groups {
            fam.sample(
                &[
                    ("ceph_daemon", daemons),
                    ("device", device),
                    ("instance", host),
                ],
                1u64,
            );
        }
    }
}

/// `ceph_osd_flag_<flag>`, 1 while the flag is set.
fn flags(page: &mut Page, osd_map: &OsdMap) {
    for flag in OSD_FLAGS {
        let name = format!("ceph_osd_flag_{}", flag.replace('-', "_"));
        let set = osd_map.flags.iter().any(|f| f == flag);
        page.family(&name, &format!("OSD Flag {flag}"), Kind::Untyped)
            .sample(&[], set);
    }
}

/// `ceph_osd_weight`, `ceph_osd_up`, `ceph_osd_in` for every OSD of the map.
fn status(page: &mut Page, osd_map: &OsdMap) {
    let statuses: [Field<OsdInfo, f64>; 3] = [
        ("ceph_osd_weight", "OSD status weight", |o| o.weight),
        ("ceph_osd_up", "OSD status up", |o| {
            f64::from(u8::from(o.up))
        }),
        ("ceph_osd_in", "OSD status in", |o| {
            f64::from(u8::from(o.in_))
        }),
    ];
    for (name, help, value) in statuses {
        let mut fam = page.family(name, help, Kind::Untyped);
        for o in &osd_map.osds {
            fam.sample(&[("ceph_daemon", &format_args!("osd.{}", o.id))], value(o));
        }
    }
}

/// `get("osd_stats")`: per-OSD statistics, of which the page uses the latencies.
#[derive(Deserialize)]
struct OsdStatsJson {
    osd_stats: Vec<OsdStatJson>,
}

/// One OSD of `get("osd_stats")`.
#[derive(Deserialize)]
struct OsdStatJson {
    osd: i32,
    perf_stat: PerfStatJson,
}

/// An OSD's latencies.
#[derive(Deserialize)]
struct PerfStatJson {
    apply_latency_ms: f64,
    commit_latency_ms: f64,
}

/// `ceph_osd_apply_latency_ms` and `ceph_osd_commit_latency_ms`.
pub fn osd_stats(page: &mut Page) {
    let Some(stats) = get_json::<OsdStatsJson>("osd_stats") else {
        return;
    };
    let latencies: [Field<PerfStatJson, f64>; 2] = [
        (
            "ceph_osd_apply_latency_ms",
            "OSD stat apply_latency_ms",
            |p| p.apply_latency_ms,
        ),
        (
            "ceph_osd_commit_latency_ms",
            "OSD stat commit_latency_ms",
            |p| p.commit_latency_ms,
        ),
    ];
    for (name, help, value) in latencies {
        let mut fam = page.family(name, help, Kind::Gauge);
        for osd in &stats.osd_stats {
            fam.sample(
                &[("ceph_daemon", &format_args!("osd.{}", osd.osd))],
                value(&osd.perf_stat),
            );
        }
    }
}
