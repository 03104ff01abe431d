//! Read-only view of the cluster from the host's latest maps: typed maps, ceph-mgr's
//! `get()` JSON, servers, metadata, perf counters and the cluster log.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::wit::ceph::mgr::cluster as host;
use crate::{
    ClogEntry, Df, Epochs, Error, FsMap, Health, MgrMap, MonMap, OsdMap, PerfCounter, PgSummary,
    Result, Server,
};

/// ceph-mgr's `get(name)` JSON for a classic name (`osd_map`, `pg_summary`, `df`, ...).
pub fn get(name: &str) -> Result<String> {
    host::get(name)
}

/// [`get`] decoded into `T`; a decoding failure is an `internal` error.
pub fn get_json<T: DeserializeOwned>(name: &str) -> Result<T> {
    let json = get(name)?;
    serde_json::from_str(&json).map_err(|e| Error::Internal(format!("decoding {name}: {e}")))
}

/// The epoch of every map, to tell cheaply whether anything moved.
pub fn epochs() -> Epochs {
    host::get_epochs()
}

/// The monitor map (`ceph mon dump`).
pub fn mon_map() -> MonMap {
    host::get_mon_map()
}

/// The OSD map (`ceph osd dump`).
pub fn osd_map() -> OsdMap {
    host::get_osd_map()
}

/// The FS map (`ceph fs dump`).
pub fn fs_map() -> FsMap {
    host::get_fs_map()
}

/// The manager map (`ceph mgr dump`).
pub fn mgr_map() -> MgrMap {
    host::get_mgr_map()
}

/// Cluster health, including the checks modules raised.
pub fn health() -> Health {
    host::get_health()
}

/// PG states and cluster IO rates (`ceph pg stat`).
pub fn pg_summary() -> PgSummary {
    host::get_pg_summary()
}

/// Cluster and pool usage (`ceph df detail`).
pub fn df() -> Df {
    host::get_df()
}

/// Every host and its daemons (ceph-mgr's `list_servers`).
pub fn list_servers() -> Vec<Server> {
    host::list_servers()
}

/// One host and its daemons, if known.
pub fn get_server(hostname: &str) -> Option<Server> {
    host::get_server(hostname)
}

/// Metadata of one daemon (`ceph osd metadata 3`): `kind` is `osd`, `mon`, `mds` or `mgr`.
pub fn get_metadata(kind: &str, id: &str) -> Option<BTreeMap<String, String>> {
    host::get_metadata(kind, id).map(|pairs| pairs.into_iter().collect())
}

/// Every counter of the daemons whose name starts with `daemon_prefix` (`osd.`), whose
/// path starts with `path_prefix` (`osd.op_`); empty prefixes match all.
pub fn perf_counters(daemon_prefix: &str, path_prefix: &str) -> Vec<PerfCounter> {
    host::perf_counters(daemon_prefix, path_prefix)
}

/// The newest `max` cluster log entries, oldest first.
pub fn clog_tail(max: u32) -> Vec<ClogEntry> {
    host::clog_tail(max)
}

/// Whether the host currently hears from the monitors.
pub fn have_mon_connection() -> bool {
    host::have_mon_connection()
}
