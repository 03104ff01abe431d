//! Daemon families: MON, MGR, MDS/FS, RGW and rbd-mirror metadata, quorum and
//! manager module status.

use std::collections::HashMap;

use serde::Deserialize;
use wasm_mgr_sdk::{MonMap, cluster};

use crate::collect::{Servers, addr_ip, get_json};
use crate::exposition::{Kind, Page};

/// `get("mgr_map")`: the module list the typed manager map does not carry.
#[derive(Deserialize)]
struct MgrMapJson {
    #[serde(default)]
    available_modules: Vec<AvailableModuleJson>,
    #[serde(default)]
    always_on_modules: HashMap<String, Vec<String>>,
}

/// One module a manager can load.
#[derive(Deserialize)]
struct AvailableModuleJson {
    name: String,
    can_run: bool,
}

/// `ceph_fs_metadata` and `ceph_mds_metadata` (standbys with `fs_id="-1"`).
pub fn fs(page: &mut Page, servers: &Servers) {
    let fs_map = cluster::fs_map();
    let mut fam = page.family("ceph_fs_metadata", "FS Metadata", Kind::Untyped);
    for fs in &fs_map.filesystems {
        let data_pools = fs
            .data_pools
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        fam.sample(
            &[
                ("data_pools", &data_pools),
                ("fs_id", &fs.id),
                ("metadata_pool", &fs.metadata_pool),
                ("name", &fs.name),
            ],
            1u64,
        );
    }
    let mut fam = page.family("ceph_mds_metadata", "MDS Metadata", Kind::Untyped);
    let standbys = fs_map.standbys.iter().map(|m| (-1, m));
    let ranked = fs_map
        .filesystems
        .iter()
        .flat_map(|fs| fs.mdss.iter().map(move |m| (fs.id, m)));
    for (fs_id, mds) in standbys.chain(ranked) {
        let (host, version) = servers.get("mds", &mds.name);
        fam.sample(
            &[
                ("ceph_daemon", &format_args!("mds.{}", mds.name)),
                ("fs_id", &fs_id),
                ("hostname", &host),
                ("public_addr", &mds.addr),
                ("rank", &mds.rank),
                ("ceph_version", &version),
            ],
            1u64,
        );
    }
}

/// `ceph_mon_metadata` and `ceph_mon_quorum_status`. Returns the mon map.
pub fn quorum(page: &mut Page, servers: &Servers) -> MonMap {
    let mon_map = cluster::mon_map();
    let mut fam = page.family("ceph_mon_metadata", "MON Metadata", Kind::Untyped);
    for mon in &mon_map.mons {
        let (host, version) = servers.get("mon", &mon.name);
        fam.sample(
            &[
                ("ceph_daemon", &format_args!("mon.{}", mon.name)),
                ("hostname", &host),
                ("public_addr", &addr_ip(&mon.public_addr)),
                ("rank", &mon.rank),
                ("ceph_version", &version),
            ],
            1u64,
        );
    }
    let mut fam = page.family("ceph_mon_quorum_status", "Monitors in quorum", Kind::Gauge);
    for mon in &mon_map.mons {
        let in_quorum = mon_map.quorum.contains(&mon.rank);
        fam.sample(
            &[("ceph_daemon", &format_args!("mon.{}", mon.name))],
            in_quorum,
        );
    }
    mon_map
}

/// `ceph_mgr_metadata`, `ceph_mgr_status`, `ceph_mgr_module_status`,
/// `ceph_mgr_module_can_run`.
pub fn mgr(page: &mut Page, servers: &Servers) {
    let mgr_map = cluster::mgr_map();
    let mgrs: Vec<(&str, bool)> = mgr_map
        .standbys
        .iter()
        .map(|s| (s.name.as_str(), false))
        .chain((!mgr_map.active_name.is_empty()).then_some((mgr_map.active_name.as_str(), true)))
        .collect();
    let mut fam = page.family("ceph_mgr_metadata", "MGR metadata", Kind::Gauge);
    for (name, _) in &mgrs {
        let (host, version) = servers.get("mgr", name);
        fam.sample(
            &[
                ("ceph_daemon", &format_args!("mgr.{name}")),
                ("hostname", &host),
                ("ceph_version", &version),
            ],
            1u64,
        );
    }
    let mut fam = page.family(
        "ceph_mgr_status",
        "MGR status (0=standby, 1=active)",
        Kind::Gauge,
    );
    for (name, active) in &mgrs {
        fam.sample(&[("ceph_daemon", &format_args!("mgr.{name}"))], *active);
    }

    let json = get_json::<MgrMapJson>("mgr_map");
    let (available, always_on) = match &json {
        Some(j) => {
            // The always-on list of the active manager's release (`... pacific (stable)`).
            let (_, version) = servers.get("mgr", &mgr_map.active_name);
            let words: Vec<&str> = version.split_whitespace().collect();
            let release = words.len().checked_sub(2).map_or("", |i| words[i]);
            let always_on = j
                .always_on_modules
                .get(release)
                .map_or(&[][..], Vec::as_slice);
            (j.available_modules.as_slice(), always_on)
        }
        None => (&[][..], &[][..]),
    };
    let mut fam = page.family(
        "ceph_mgr_module_status",
        "MGR module status (0=disabled, 1=enabled, 2=auto-enabled)",
        Kind::Gauge,
    );
    for module in available {
        let state: u64 = if always_on.contains(&module.name) {
            2
        } else if mgr_map.modules.contains(&module.name) {
            1
        } else {
            0
        };
        fam.sample(&[("name", &module.name)], state);
    }
    let mut fam = page.family(
        "ceph_mgr_module_can_run",
        "MGR module runnable state i.e. can it run (0=no, 1=yes)",
        Kind::Gauge,
    );
    for module in available {
        fam.sample(&[("name", &module.name)], module.can_run);
    }
}

/// `ceph_rgw_metadata` and `ceph_rbd_mirror_metadata`.
pub fn others(page: &mut Page, servers: &Servers) {
    let mut fam = page.family("ceph_rgw_metadata", "RGW Metadata", Kind::Untyped);
    for (id, host, version) in servers.daemons("rgw") {
        fam.sample(
            &[
                ("ceph_daemon", &format_args!("rgw.{id}")),
                ("hostname", &host),
                ("ceph_version", &version),
                ("instance_id", &id),
            ],
            1u64,
        );
    }
    let mut fam = page.family(
        "ceph_rbd_mirror_metadata",
        "RBD Mirror Metadata",
        Kind::Untyped,
    );
    for (id, host, version) in servers.daemons("rbd-mirror") {
        let md = cluster::get_metadata("rbd-mirror", id).unwrap_or_default();
        let field = |k: &str| md.get(k).map_or("", String::as_str);
        fam.sample(
            &[
                ("ceph_daemon", &format_args!("rbd-mirror.{id}")),
                ("id", &field("id")),
                ("instance_id", &field("instance_id")),
                ("hostname", &host),
                ("ceph_version", &version),
            ],
            1u64,
        );
    }
}
