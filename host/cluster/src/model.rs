//! Host-side types of every cluster map, mirroring `wit/types.wit` field for field,
//! plus the few extra fields needed to render Ceph's own JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// What changed, as ceph-mgr's `notify_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotifyKind {
    /// The monitor map (membership or quorum).
    MonMap,
    /// The OSD map.
    OsdMap,
    /// The FS map.
    FsMap,
    /// The manager map.
    MgrMap,
    /// PG states, usage and IO rates.
    PgSummary,
    /// Cluster health (including module checks).
    Health,
    /// The service map.
    ServiceMap,
    /// A cluster log entry.
    Clog,
    /// A command finished.
    Command,
    /// The configuration changed.
    Config,
}

impl NotifyKind {
    /// Every kind, in WIT order.
    pub const ALL: [NotifyKind; 10] = [
        NotifyKind::MonMap,
        NotifyKind::OsdMap,
        NotifyKind::FsMap,
        NotifyKind::MgrMap,
        NotifyKind::PgSummary,
        NotifyKind::Health,
        NotifyKind::ServiceMap,
        NotifyKind::Clog,
        NotifyKind::Command,
        NotifyKind::Config,
    ];

    /// ceph-mgr's notify name (`osd_map`, `pg_summary`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::MonMap => "mon_map",
            NotifyKind::OsdMap => "osd_map",
            NotifyKind::FsMap => "fs_map",
            NotifyKind::MgrMap => "mgr_map",
            NotifyKind::PgSummary => "pg_summary",
            NotifyKind::Health => "health",
            NotifyKind::ServiceMap => "service_map",
            NotifyKind::Clog => "clog",
            NotifyKind::Command => "command",
            NotifyKind::Config => "config",
        }
    }
}

impl fmt::Display for NotifyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotifyKind {
    type Err = String;

    /// Accepts ceph's names (`osd_map`) and the WIT spelling (`osd-map`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().replace('-', "_");
        NotifyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == norm)
            .ok_or_else(|| {
                let known: Vec<&str> = NotifyKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown notify kind '{s}' (known: {})", known.join(", "))
            })
    }
}

/// One change delivered to subscribers: ceph-mgr's `notify(notify_type, notify_id)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What changed.
    pub kind: NotifyKind,
    /// For `clog` the entry as JSON; empty for maps.
    pub id: String,
}

/// The epoch of every map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epochs {
    /// Monitor map epoch.
    pub mon_map: u64,
    /// OSD map epoch.
    pub osd_map: u64,
    /// FS map epoch.
    pub fs_map: u64,
    /// Manager map epoch.
    pub mgr_map: u64,
    /// PG summary version.
    pub pg_summary: u64,
    /// Health version.
    pub health: u64,
    /// Service map epoch.
    pub service_map: u64,
}

/// One monitor of the mon map.
#[derive(Clone, Debug, PartialEq)]
pub struct MonInfo {
    /// Monitor name (`a`).
    pub name: String,
    /// Rank in the map.
    pub rank: u32,
    /// `ip:port` of its v2 address.
    pub public_addr: String,
    /// Whether it is in quorum.
    pub in_quorum: bool,
}

/// The monitor map (`ceph mon dump`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MonMap {
    /// Epoch.
    pub epoch: u64,
    /// Cluster fsid.
    pub fsid: String,
    /// Monitors by rank.
    pub mons: Vec<MonInfo>,
    /// Ranks in quorum.
    pub quorum: Vec<u32>,
    /// Leader name, if there is a quorum.
    pub leader: Option<String>,
    /// Election epoch (odd while electing, even when settled).
    pub election_epoch: u64,
    /// Creation time, Ceph format.
    pub created: String,
    /// Last change time, Ceph format.
    pub modified: String,
}

/// One OSD as the OSD map sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct OsdInfo {
    /// OSD id.
    pub id: i32,
    /// OSD uuid.
    pub uuid: String,
    /// Marked up.
    pub up: bool,
    /// Marked in.
    pub in_: bool,
    /// Reweight (0.0..1.0).
    pub weight: f64,
    /// CRUSH weight (TiB).
    pub crush_weight: f64,
    /// Primary affinity.
    pub primary_affinity: f64,
    /// CRUSH host bucket.
    pub host: String,
    /// Device class (`hdd`, `ssd`).
    pub device_class: String,
    /// Public `ip:port` (v2).
    pub public_addr: String,
    /// Cluster `ip:port` (v2).
    pub cluster_addr: String,
    /// Epoch it last came up.
    pub up_from: u64,
    /// Epoch it last went down.
    pub down_at: u64,
    /// Messenger nonce of its addresses.
    pub nonce: u32,
}

/// One pool of the OSD map.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolInfo {
    /// Pool id.
    pub id: i64,
    /// Pool name.
    pub name: String,
    /// `replicated` or `erasure`.
    pub pool_type: String,
    /// Replica count.
    pub size: u32,
    /// Minimum replicas to serve IO.
    pub min_size: u32,
    /// PG count.
    pub pg_num: u32,
    /// Placement PG count.
    pub pgp_num: u32,
    /// CRUSH rule id.
    pub crush_rule: u32,
    /// Applications enabled (`rbd`, `cephfs`, ...).
    pub applications: Vec<String>,
    /// 0 = no quota.
    pub quota_max_bytes: u64,
    /// 0 = no quota.
    pub quota_max_objects: u64,
    /// Creation time, Ceph format.
    pub create_time: String,
    /// OSD map epoch of the last change.
    pub last_change: u64,
}

/// OSD map flags in Ceph's order, with their bit in `flags_num`.
pub const OSD_FLAGS: &[(&str, u64)] = &[
    ("pauserd", 1 << 2),
    ("pausewr", 1 << 3),
    ("pauserec", 1 << 4),
    ("noup", 1 << 5),
    ("nodown", 1 << 6),
    ("noout", 1 << 7),
    ("noin", 1 << 8),
    ("nobackfill", 1 << 9),
    ("norebalance", 1 << 14),
    ("norecover", 1 << 10),
    ("noscrub", 1 << 11),
    ("nodeep-scrub", 1 << 12),
    ("notieragent", 1 << 13),
    ("nosnaptrim", 1 << 21),
    ("sortbitwise", 1 << 15),
    ("recovery_deletes", 1 << 19),
    ("purged_snapdirs", 1 << 20),
    ("pglog_hardlimit", 1 << 22),
];

/// Flags that are always set on a Pacific cluster (not operator flags).
pub const ALWAYS_ON_FLAGS: &[&str] = &[
    "sortbitwise",
    "recovery_deletes",
    "purged_snapdirs",
    "pglog_hardlimit",
];

/// The OSD map (`ceph osd dump`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OsdMap {
    /// Epoch.
    pub epoch: u64,
    /// Cluster fsid.
    pub fsid: String,
    /// Flags set, in Ceph's order (`noout`, ... plus the always-on ones).
    pub flags: Vec<String>,
    /// OSDs by id.
    pub osds: Vec<OsdInfo>,
    /// Pools by id.
    pub pools: Vec<PoolInfo>,
    /// Full ratio.
    pub full_ratio: f64,
    /// Backfill-full ratio.
    pub backfillfull_ratio: f64,
    /// Near-full ratio.
    pub nearfull_ratio: f64,
    /// Creation time, Ceph format.
    pub created: String,
    /// Last change time, Ceph format.
    pub modified: String,
    /// Highest pool id ever used.
    pub pool_max: i64,
    /// Unix time of the last OSD up/down change.
    pub last_up_change: u64,
    /// Unix time of the last OSD in/out change.
    pub last_in_change: u64,
}

impl MonMap {
    /// Names of the monitors in quorum, in rank order.
    pub fn quorum_names(&self) -> Vec<&str> {
        self.mons
            .iter()
            .filter(|m| m.in_quorum)
            .map(|m| m.name.as_str())
            .collect()
    }
}

impl OsdMap {
    /// The OSD with this id.
    pub fn osd(&self, id: i32) -> Option<&OsdInfo> {
        self.osds.iter().find(|o| o.id == id)
    }

    /// The pool with this id.
    pub fn pool(&self, id: i64) -> Option<&PoolInfo> {
        self.pools.iter().find(|p| p.id == id)
    }

    /// The pool with this name.
    pub fn pool_by_name(&self, name: &str) -> Option<&PoolInfo> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// Whether a flag is set.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Ceph's `flags_num` bit mask.
    pub fn flags_num(&self) -> u64 {
        OSD_FLAGS
            .iter()
            .filter(|(n, _)| self.has_flag(n))
            .map(|(_, b)| b)
            .sum()
    }

    /// Host names in order of first appearance among the OSDs.
    pub fn hosts(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.osds
            .iter()
            .map(|o| o.host.as_str())
            .filter(|h| seen.insert(*h))
            .collect()
    }
}

/// One MDS daemon.
#[derive(Clone, Debug, PartialEq)]
pub struct MdsInfo {
    /// Daemon name.
    pub name: String,
    /// Global id.
    pub gid: u64,
    /// Rank, -1 for a standby.
    pub rank: i32,
    /// `up:active`, `up:standby`, ...
    pub state: String,
    /// `ip:port` (v2).
    pub addr: String,
}

/// One CephFS file system.
#[derive(Clone, Debug, PartialEq)]
pub struct Filesystem {
    /// FS id (fscid).
    pub id: i64,
    /// FS name.
    pub name: String,
    /// Metadata pool id.
    pub metadata_pool: i64,
    /// Data pool ids.
    pub data_pools: Vec<i64>,
    /// Wanted active MDS count.
    pub max_mds: u32,
    /// MDS daemons holding a rank (or standby-replay) in this FS.
    pub mdss: Vec<MdsInfo>,
    /// Creation time, Ceph format.
    pub created: String,
    /// MDS map epoch of this FS.
    pub mds_epoch: u64,
}

/// The FS map (`ceph fs dump`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FsMap {
    /// Epoch.
    pub epoch: u64,
    /// File systems.
    pub filesystems: Vec<Filesystem>,
    /// Standby MDS daemons.
    pub standbys: Vec<MdsInfo>,
}

/// One standby manager.
#[derive(Clone, Debug, PartialEq)]
pub struct MgrStandby {
    /// Daemon name.
    pub name: String,
    /// Global id.
    pub gid: u64,
}

/// The manager map (`ceph mgr dump`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MgrMap {
    /// Epoch.
    pub epoch: u64,
    /// Active manager name.
    pub active_name: String,
    /// Active manager global id.
    pub active_gid: u64,
    /// Active manager `ip:port` (v2).
    pub active_addr: String,
    /// Whether a manager is active.
    pub available: bool,
    /// Standby managers.
    pub standbys: Vec<MgrStandby>,
    /// Enabled modules.
    pub modules: Vec<String>,
    /// Services published by modules: (name, URI).
    pub services: Vec<(String, String)>,
}

/// Health severity, ordered from best to worst.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthStatus {
    /// `HEALTH_OK`.
    #[default]
    Ok,
    /// `HEALTH_WARN`.
    Warn,
    /// `HEALTH_ERR`.
    Err,
}

impl HealthStatus {
    /// Ceph's spelling (`HEALTH_WARN`).
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ok => "HEALTH_OK",
            HealthStatus::Warn => "HEALTH_WARN",
            HealthStatus::Err => "HEALTH_ERR",
        }
    }

    /// The short tag `ceph health detail` prints (`[WRN]`).
    pub fn tag(self) -> &'static str {
        match self {
            HealthStatus::Ok => "[INF]",
            HealthStatus::Warn => "[WRN]",
            HealthStatus::Err => "[ERR]",
        }
    }
}

impl FromStr for HealthStatus {
    type Err = String;

    /// Accepts `HEALTH_WARN`, `warn`, `warning`, `err`, `error`, `ok`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().trim_start_matches("health_") {
            "ok" => Ok(HealthStatus::Ok),
            "warn" | "warning" => Ok(HealthStatus::Warn),
            "err" | "error" => Ok(HealthStatus::Err),
            _ => Err(format!("unknown health status '{s}'")),
        }
    }
}

/// One health check (`ceph health detail`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// Upper-case code such as `OSD_DOWN`.
    pub code: String,
    /// Severity.
    pub severity: HealthStatus,
    /// One-line summary.
    pub summary: String,
    /// Detail lines.
    pub detail: Vec<String>,
    /// Number of affected things.
    pub count: u64,
}

/// Cluster health: every check, the cluster's and the modules'.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Version, bumped whenever the checks change.
    pub epoch: u64,
    /// Worst severity.
    pub status: HealthStatus,
    /// Checks sorted by code.
    pub checks: Vec<HealthCheck>,
}

/// Number of PGs in one state string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgStateCount {
    /// State string (`active+clean`).
    pub state: String,
    /// Number of PGs.
    pub count: u64,
}

/// PG states of one pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPgStates {
    /// Pool id.
    pub pool_id: i64,
    /// Counts by state.
    pub states: Vec<PgStateCount>,
}

/// Usage, counters and rates of one pool (the pool part of the PG map).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolStat {
    /// Pool id.
    pub id: i64,
    /// PG count.
    pub num_pg: u64,
    /// Objects stored.
    pub objects: u64,
    /// Bytes stored (before replication).
    pub bytes: u64,
    /// Total read ops.
    pub rd: u64,
    /// Total bytes read.
    pub rd_bytes: u64,
    /// Total write ops.
    pub wr: u64,
    /// Total bytes written.
    pub wr_bytes: u64,
    /// Client read rate.
    pub read_bytes_sec: u64,
    /// Client write rate.
    pub write_bytes_sec: u64,
    /// Client read ops rate.
    pub read_op_per_sec: u64,
    /// Client write ops rate.
    pub write_op_per_sec: u64,
    /// Object replicas missing.
    pub degraded_objects: u64,
    /// Object replicas in the wrong place.
    pub misplaced_objects: u64,
    /// Recovery rate.
    pub recovering_bytes_per_sec: u64,
    /// Recovery objects rate.
    pub recovering_objects_per_sec: u64,
}

/// Usage and latency of one OSD (the OSD part of the PG map).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OsdStat {
    /// OSD id.
    pub id: i32,
    /// Epoch it came up.
    pub up_from: u64,
    /// Device size in bytes.
    pub total_bytes: u64,
    /// Bytes used.
    pub used_bytes: u64,
    /// PGs mapped to it.
    pub num_pgs: u32,
    /// PGs for which it is primary.
    pub num_pgs_primary: u32,
    /// Commit latency in ms.
    pub commit_latency_ms: u32,
    /// Apply latency in ms.
    pub apply_latency_ms: u32,
}

/// PG summary and cluster IO rates (`ceph pg stat`, `ceph status` pgmap).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PgSummary {
    /// PG map version.
    pub epoch: u64,
    /// PG count.
    pub num_pgs: u64,
    /// Object count.
    pub num_objects: u64,
    /// Counts by state over all pools.
    pub by_state: Vec<PgStateCount>,
    /// Counts by state per pool.
    pub by_pool: Vec<PoolPgStates>,
    /// Object replicas missing.
    pub degraded_objects: u64,
    /// Object replicas in the wrong place.
    pub misplaced_objects: u64,
    /// Client read rate.
    pub read_bytes_sec: u64,
    /// Client write rate.
    pub write_bytes_sec: u64,
    /// Client read ops rate.
    pub read_op_per_sec: u64,
    /// Client write ops rate.
    pub write_op_per_sec: u64,
    /// Recovery rate.
    pub recovering_bytes_per_sec: u64,
    /// Recovery objects rate.
    pub recovering_objects_per_sec: u64,
    /// Object replicas in total (the denominator of the degraded ratio).
    pub num_object_copies: u64,
    /// Bytes stored (before replication).
    pub data_bytes: u64,
    /// Raw bytes used.
    pub bytes_used: u64,
    /// Raw bytes available.
    pub bytes_avail: u64,
    /// Raw capacity.
    pub bytes_total: u64,
    /// Stamp of this version, Ceph format.
    pub stamp: String,
    /// Seconds covered by the rates.
    pub stamp_delta: f64,
    /// Per-pool usage and rates.
    pub pools: Vec<PoolStat>,
    /// Per-OSD usage.
    pub osds: Vec<OsdStat>,
}

/// Usage of one pool (`ceph df detail`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolUsage {
    /// Pool id.
    pub id: i64,
    /// Pool name.
    pub name: String,
    /// Bytes stored.
    pub stored: u64,
    /// Objects.
    pub objects: u64,
    /// Raw bytes used.
    pub bytes_used: u64,
    /// Bytes that can still be stored.
    pub max_avail: u64,
    /// Used fraction (0..1).
    pub percent_used: f64,
    /// Read ops.
    pub rd: u64,
    /// Bytes read.
    pub rd_bytes: u64,
    /// Write ops.
    pub wr: u64,
    /// Bytes written.
    pub wr_bytes: u64,
    /// Object quota (0 = none).
    pub quota_objects: u64,
    /// Byte quota (0 = none).
    pub quota_bytes: u64,
}

/// Raw usage of one device class.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassUsage {
    /// Device class.
    pub class: String,
    /// Capacity.
    pub total_bytes: u64,
    /// Used.
    pub total_used_bytes: u64,
    /// Available.
    pub total_avail_bytes: u64,
}

/// Cluster and pool usage (`ceph df detail`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Df {
    /// PG map version it was computed at.
    pub epoch: u64,
    /// Raw capacity.
    pub total_bytes: u64,
    /// Raw used.
    pub total_used_bytes: u64,
    /// Raw available.
    pub total_avail_bytes: u64,
    /// Per pool.
    pub pools: Vec<PoolUsage>,
    /// Per device class.
    pub by_class: Vec<ClassUsage>,
    /// OSDs counted.
    pub num_osds: u32,
}

/// A daemon by type and id: (`osd`, `3`), (`mon`, `a`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DaemonKey {
    /// `osd`, `mon`, `mds`, `mgr`.
    pub kind: String,
    /// Id within the kind.
    pub id: String,
}

/// One host and the daemons on it (ceph-mgr's `list_servers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// Host name.
    pub hostname: String,
    /// Ceph version string.
    pub ceph_version: String,
    /// Daemons on the host.
    pub daemons: Vec<DaemonKey>,
}

/// Metadata of one daemon: keys shared by many daemons plus its own, kept apart so
/// that 10,000 OSDs do not each carry a copy of the common keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonMetadata {
    /// Keys common to many daemons (version, distro, ...).
    pub common: Arc<Vec<(String, String)>>,
    /// This daemon's own keys (hostname, addresses, ...); they win over `common`.
    pub own: Vec<(String, String)>,
}

impl DaemonMetadata {
    /// All key/value pairs, sorted by key (own values override common ones).
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut map: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in self.common.iter().chain(self.own.iter()) {
            map.insert(k, v);
        }
        map.into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Metadata of every daemon.
pub type MetadataMap = BTreeMap<DaemonKey, DaemonMetadata>;

/// How a perf counter's value reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CounterKind {
    /// A level that goes up and down.
    Gauge,
    /// A total that only grows.
    Counter,
    /// A sum and a count, averaged by the reader.
    Average,
}

/// Definition of one perf counter path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterDef {
    /// `osd.op_r`.
    pub path: String,
    /// Kind.
    pub kind: CounterKind,
    /// Description, as in `perf schema`.
    pub description: String,
}

/// The counters of one daemon: values in the order of a shared schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonCounters {
    /// `osd.3`, `mon.a`.
    pub daemon: Arc<str>,
    /// Counter definitions, shared by daemons of a kind.
    pub schema: Arc<[CounterDef]>,
    /// `(value, count)` per schema entry (count is 0 except for averages).
    pub values: Vec<(u64, u64)>,
}

/// One perf counter sample of one daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerfCounter {
    /// `osd.3`.
    pub daemon: String,
    /// `osd.op_r`.
    pub path: String,
    /// Kind.
    pub kind: CounterKind,
    /// Value, or the sum for an average (seconds in nanoseconds).
    pub value: u64,
    /// Sample count for an average, 0 otherwise.
    pub count: u64,
    /// Description.
    pub description: String,
}

/// One cluster log entry (`ceph log last`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClogEntry {
    /// RFC 3339 time.
    pub stamp: String,
    /// Who logged it: `mon.a`, `osd.3`, `mgr.x`.
    pub name: String,
    /// `cluster` or `audit`.
    pub channel: String,
    /// `[DBG]`, `[INF]`, `[WRN]`, `[ERR]`, `[SEC]`.
    pub priority: String,
    /// Text.
    pub message: String,
    /// Sequence number.
    pub seq: u64,
}

/// One service of the service map (`rgw`, `rbd-mirror`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    /// Service name.
    pub name: String,
    /// Daemon ids registered under it.
    pub daemons: Vec<String>,
}

/// The service map (`ceph service dump`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceMap {
    /// Epoch.
    pub epoch: u64,
    /// Last change, Ceph format.
    pub modified: String,
    /// Services.
    pub services: Vec<ServiceEntry>,
}

/// One entry of the configuration database (`ceph config dump`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    /// `global`, `mon`, `mgr`, `osd.3`, ...
    pub section: String,
    /// Option name.
    pub name: String,
    /// Value.
    pub value: String,
    /// `basic`, `advanced`, `dev`.
    pub level: String,
    /// Whether daemons apply it without restart.
    pub can_update_at_runtime: bool,
    /// Location mask, usually empty.
    pub mask: String,
}

/// PG state bits (a subset of Ceph's `PG_STATE_*`), printed in Ceph's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgState(pub u16);

impl PgState {
    /// Serving IO.
    pub const ACTIVE: PgState = PgState(1);
    /// All replicas present and in place.
    pub const CLEAN: PgState = PgState(1 << 1);
    /// Fewer replicas than the pool size.
    pub const UNDERSIZED: PgState = PgState(1 << 2);
    /// Objects missing replicas.
    pub const DEGRADED: PgState = PgState(1 << 3);
    /// Mapped away from its acting set.
    pub const REMAPPED: PgState = PgState(1 << 4);
    /// Being scrubbed.
    pub const SCRUBBING: PgState = PgState(1 << 5);
    /// Scrub is deep.
    pub const DEEP: PgState = PgState(1 << 6);
    /// Waiting to backfill.
    pub const BACKFILL_WAIT: PgState = PgState(1 << 7);
    /// Backfilling.
    pub const BACKFILLING: PgState = PgState(1 << 8);
    /// Recovering.
    pub const RECOVERING: PgState = PgState(1 << 9);
    /// Waiting to recover.
    pub const RECOVERY_WAIT: PgState = PgState(1 << 10);
    /// Peered but below min_size (not active).
    pub const PEERED: PgState = PgState(1 << 11);
    /// No up OSD reports it.
    pub const STALE: PgState = PgState(1 << 12);
    /// Peering.
    pub const PEERING: PgState = PgState(1 << 13);
    /// `active+clean`.
    pub const ACTIVE_CLEAN: PgState = PgState(1 | (1 << 1));

    const ORDER: [(PgState, &'static str); 14] = [
        (PgState::STALE, "stale"),
        (PgState::ACTIVE, "active"),
        (PgState::CLEAN, "clean"),
        (PgState::RECOVERY_WAIT, "recovery_wait"),
        (PgState::RECOVERING, "recovering"),
        (PgState::UNDERSIZED, "undersized"),
        (PgState::DEGRADED, "degraded"),
        (PgState::REMAPPED, "remapped"),
        (PgState::SCRUBBING, "scrubbing"),
        (PgState::DEEP, "deep"),
        (PgState::PEERING, "peering"),
        (PgState::BACKFILL_WAIT, "backfill_wait"),
        (PgState::BACKFILLING, "backfilling"),
        (PgState::PEERED, "peered"),
    ];

    /// Whether every bit of `other` is set.
    pub fn has(self, other: PgState) -> bool {
        self.0 & other.0 == other.0
    }

    /// This state with `other`'s bits added.
    pub fn with(self, other: PgState) -> PgState {
        PgState(self.0 | other.0)
    }

    /// This state with `other`'s bits removed.
    pub fn without(self, other: PgState) -> PgState {
        PgState(self.0 & !other.0)
    }

    /// Ceph's state string (`active+undersized+degraded`).
    pub fn name(self) -> String {
        let parts: Vec<&str> = PgState::ORDER
            .iter()
            .filter(|(s, _)| self.has(*s))
            .map(|(_, n)| *n)
            .collect();
        if parts.is_empty() {
            "unknown".to_string()
        } else {
            parts.join("+")
        }
    }
}

/// PG states of one pool, one compact state per PG (index = placement seed `ps`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolPgs {
    /// Pool id.
    pub pool: i64,
    /// State of PG `pool.ps` at index `ps`.
    pub states: Vec<PgState>,
}

/// Every PG of the cluster, compactly: 2 bytes per PG. Up/acting sets are not stored;
/// they follow from the OSD map through [`crate::placement`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PgTable {
    /// Per pool, in pool id order; each pool is shared until it changes.
    pub pools: Vec<Arc<PoolPgs>>,
}

impl PgTable {
    /// Total PG count.
    pub fn len(&self) -> usize {
        self.pools.iter().map(|p| p.states.len()).sum()
    }

    /// Whether there is no PG.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The PGs of a pool.
    pub fn pool(&self, id: i64) -> Option<&PoolPgs> {
        self.pools.iter().find(|p| p.pool == id).map(|p| &**p)
    }
}

/// Ceph's `pgid` spelling: pool id, dot, placement seed in lower-case hex (`1.1f`).
pub fn pgid(pool: i64, ps: u32) -> String {
    format!("{pool}.{ps:x}")
}

/// Parse `1.1f` into (pool, ps).
pub fn parse_pgid(s: &str) -> Option<(i64, u32)> {
    let (pool, ps) = s.trim().split_once('.')?;
    let pool: i64 = pool.parse().ok()?;
    if pool < 0 || ps.is_empty() {
        return None;
    }
    let ps = u32::from_str_radix(ps, 16).ok()?;
    Some((pool, ps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_kind_round_trip() {
        for k in NotifyKind::ALL {
            assert_eq!(k.as_str().parse::<NotifyKind>(), Ok(k));
        }
        assert_eq!("osd-map".parse::<NotifyKind>(), Ok(NotifyKind::OsdMap));
        assert!("bogus".parse::<NotifyKind>().is_err());
    }

    #[test]
    fn pg_state_names() {
        assert_eq!(PgState::ACTIVE_CLEAN.name(), "active+clean");
        let s = PgState::ACTIVE
            .with(PgState::UNDERSIZED)
            .with(PgState::DEGRADED);
        assert_eq!(s.name(), "active+undersized+degraded");
        let s = PgState::ACTIVE_CLEAN.with(PgState::SCRUBBING);
        assert_eq!(s.name(), "active+clean+scrubbing");
        let s = PgState::ACTIVE
            .with(PgState::REMAPPED)
            .with(PgState::BACKFILLING);
        assert_eq!(s.name(), "active+remapped+backfilling");
        assert_eq!(PgState(0).name(), "unknown");
    }

    #[test]
    fn pgid_round_trip() {
        assert_eq!(pgid(2, 31), "2.1f");
        assert_eq!(parse_pgid("2.1f"), Some((2, 31)));
        assert_eq!(parse_pgid("x.1"), None);
        assert_eq!(parse_pgid("1.zz"), None);
        assert_eq!(parse_pgid("1."), None);
    }
}
