//! Perf counters of the simulated daemons, and how they move with the sim's IO.
//!
//! The tables are ceph 16.2.15's own counters (paths, kinds, descriptions) that the
//! daemons send to the manager: a daemon reports only counters of priority "useful" or
//! higher (`mgr_stats_threshold`), so those are the ones ceph-mgr, and its prometheus
//! module, ever see. OSDs carry the `osd` and `objecter` sections; monitors `mon`,
//! `paxos`, `rocksdb` and `prioritycache` (with its `kv`, `inc` and `full` caches).
//! The active manager reports no counters of that priority about itself.
//!
//! Values follow the host's convention: averages are `(sum, count)`, times in
//! nanoseconds. A tick rewrites every value in place in a buffer that is reused once
//! no reader holds it (see [`PerfOut`]): no allocation per tick.

use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use wasm_mgr_cluster::model::{
    CounterDef,
    CounterKind::{self, Average, Counter, Gauge},
    DaemonCounters,
};

/// One counter: path, kind, ceph's description.
type Def = (&'static str, CounterKind, &'static str);

/// The counters of an OSD.
const OSD: &[Def] = &[
    (
        "osd.op_wip",
        Gauge,
        "Replication operations currently being processed (primary)",
    ),
    ("osd.op", Counter, "Client operations"),
    (
        "osd.op_in_bytes",
        Counter,
        "Client operations total write size",
    ),
    (
        "osd.op_out_bytes",
        Counter,
        "Client operations total read size",
    ),
    (
        "osd.op_latency",
        Average,
        "Latency of client operations (including queue time)",
    ),
    (
        "osd.op_process_latency",
        Average,
        "Latency of client operations (excluding queue time)",
    ),
    (
        "osd.op_prepare_latency",
        Average,
        "Latency of client operations (excluding queue time and wait for finished)",
    ),
    ("osd.op_r", Counter, "Client read operations"),
    ("osd.op_r_out_bytes", Counter, "Client data read"),
    (
        "osd.op_r_latency",
        Average,
        "Latency of read operation (including queue time)",
    ),
    (
        "osd.op_r_process_latency",
        Average,
        "Latency of read operation (excluding queue time)",
    ),
    (
        "osd.op_r_prepare_latency",
        Average,
        "Latency of read operations (excluding queue time and wait for finished)",
    ),
    ("osd.op_w", Counter, "Client write operations"),
    ("osd.op_w_in_bytes", Counter, "Client data written"),
    (
        "osd.op_w_latency",
        Average,
        "Latency of write operation (including queue time)",
    ),
    (
        "osd.op_w_process_latency",
        Average,
        "Latency of write operation (excluding queue time)",
    ),
    (
        "osd.op_w_prepare_latency",
        Average,
        "Latency of write operations (excluding queue time and wait for finished)",
    ),
    ("osd.op_rw", Counter, "Client read-modify-write operations"),
    (
        "osd.op_rw_in_bytes",
        Counter,
        "Client read-modify-write operations write in",
    ),
    (
        "osd.op_rw_out_bytes",
        Counter,
        "Client read-modify-write operations read out ",
    ),
    (
        "osd.op_rw_latency",
        Average,
        "Latency of read-modify-write operation (including queue time)",
    ),
    (
        "osd.op_rw_process_latency",
        Average,
        "Latency of read-modify-write operation (excluding queue time)",
    ),
    (
        "osd.op_rw_prepare_latency",
        Average,
        "Latency of read-modify-write operations (excluding queue time and wait for finished)",
    ),
    ("osd.recovery_ops", Counter, "Started recovery operations"),
    ("osd.recovery_bytes", Counter, "recovery bytes"),
    ("osd.numpg", Gauge, "Placement groups"),
    (
        "osd.numpg_removing",
        Gauge,
        "Placement groups queued for local deletion",
    ),
    ("osd.stat_bytes", Gauge, "OSD size"),
    ("osd.stat_bytes_used", Gauge, "Used space"),
    ("objecter.op_active", Gauge, "Operations active"),
    ("objecter.op_r", Counter, "Read operations"),
    ("objecter.op_w", Counter, "Write operations"),
    ("objecter.op_rmw", Counter, "Read-modify-write operations"),
];

/// The counters of a monitor, before the per-cache `prioritycache:<cache>` ones.
const MON: &[Def] = &[
    ("mon.num_sessions", Gauge, "Open sessions"),
    ("mon.session_add", Counter, "Created sessions"),
    ("mon.session_rm", Counter, "Removed sessions"),
    ("mon.session_trim", Counter, "Trimmed sessions"),
    ("mon.num_elections", Counter, "Elections participated in"),
    ("mon.election_call", Counter, "Elections started"),
    ("mon.election_win", Counter, "Elections won"),
    ("mon.election_lose", Counter, "Elections lost"),
    ("paxos.start_leader", Counter, "Starts in leader role"),
    ("paxos.start_peon", Counter, "Starts in peon role"),
    ("paxos.restart", Counter, "Restarts"),
    ("paxos.refresh", Counter, "Refreshes"),
    ("paxos.refresh_latency", Average, "Refresh latency"),
    ("paxos.begin", Counter, "Started and handled begins"),
    ("paxos.begin_keys", Average, "Keys in transaction on begin"),
    ("paxos.begin_bytes", Average, "Data in transaction on begin"),
    ("paxos.begin_latency", Average, "Latency of begin operation"),
    ("paxos.commit", Counter, "Commits"),
    (
        "paxos.commit_keys",
        Average,
        "Keys in transaction on commit",
    ),
    (
        "paxos.commit_bytes",
        Average,
        "Data in transaction on commit",
    ),
    ("paxos.commit_latency", Average, "Commit latency"),
    ("paxos.collect", Counter, "Peon collects"),
    (
        "paxos.collect_keys",
        Average,
        "Keys in transaction on peon collect",
    ),
    (
        "paxos.collect_bytes",
        Average,
        "Data in transaction on peon collect",
    ),
    ("paxos.collect_latency", Average, "Peon collect latency"),
    (
        "paxos.collect_uncommitted",
        Counter,
        "Uncommitted values in started and handled collects",
    ),
    ("paxos.collect_timeout", Counter, "Collect timeouts"),
    ("paxos.accept_timeout", Counter, "Accept timeouts"),
    (
        "paxos.lease_ack_timeout",
        Counter,
        "Lease acknowledgement timeouts",
    ),
    ("paxos.lease_timeout", Counter, "Lease timeouts"),
    ("paxos.store_state", Counter, "Store a shared state on disk"),
    (
        "paxos.store_state_keys",
        Average,
        "Keys in transaction in stored state",
    ),
    (
        "paxos.store_state_bytes",
        Average,
        "Data in transaction in stored state",
    ),
    (
        "paxos.store_state_latency",
        Average,
        "Storing state latency",
    ),
    ("paxos.share_state", Counter, "Sharings of state"),
    ("paxos.share_state_keys", Average, "Keys in shared state"),
    ("paxos.share_state_bytes", Average, "Data in shared state"),
    ("paxos.new_pn", Counter, "New proposal number queries"),
    (
        "paxos.new_pn_latency",
        Average,
        "New proposal number getting latency",
    ),
    ("rocksdb.get", Counter, "Gets"),
    ("rocksdb.get_latency", Average, "Get latency"),
    ("rocksdb.submit_latency", Average, "Submit Latency"),
    (
        "rocksdb.submit_sync_latency",
        Average,
        "Submit Sync Latency",
    ),
    ("rocksdb.compact", Counter, "Compactions"),
    ("rocksdb.compact_range", Counter, "Compactions by range"),
    (
        "rocksdb.compact_queue_merge",
        Counter,
        "Mergings of ranges in compaction queue",
    ),
    (
        "rocksdb.compact_queue_len",
        Gauge,
        "Length of compaction queue",
    ),
    (
        "rocksdb.rocksdb_write_wal_time",
        Average,
        "Rocksdb write wal time",
    ),
    (
        "rocksdb.rocksdb_write_memtable_time",
        Average,
        "Rocksdb write memtable time",
    ),
    (
        "rocksdb.rocksdb_write_delay_time",
        Average,
        "Rocksdb write delay time",
    ),
    (
        "rocksdb.rocksdb_write_pre_and_post_time",
        Average,
        "total time spent on writing a record, excluding write process",
    ),
    (
        "prioritycache.target_bytes",
        Gauge,
        "target process memory usage in bytes",
    ),
    (
        "prioritycache.mapped_bytes",
        Gauge,
        "total bytes mapped by the process",
    ),
    (
        "prioritycache.unmapped_bytes",
        Gauge,
        "unmapped bytes that the kernel has yet to reclaimed",
    ),
    (
        "prioritycache.heap_bytes",
        Gauge,
        "aggregate bytes in use by the heap",
    ),
    (
        "prioritycache.cache_bytes",
        Gauge,
        "current memory available for caches.",
    ),
];

/// The monitor's priority caches: rocksdb's block cache, incremental and full OSD maps.
const MON_CACHES: [&str; 3] = ["kv", "inc", "full"];

/// Priorities of a priority cache (`pri0` .. `pri11`).
const CACHE_PRIORITIES: usize = 12;

/// Counters per priority cache: one per priority, reserved, committed.
const CACHE_COUNTERS: usize = CACHE_PRIORITIES + 2;

/// Whether two strings are equal, at compile time.
const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Position of `path` in `table`; a compile error when it is not there.
const fn at(table: &[Def], path: &str) -> usize {
    let mut i = 0;
    while i < table.len() {
        if same(table[i].0, path) {
            return i;
        }
        i += 1;
    }
    panic!("no such counter")
}

/// Positions of the OSD counters the sim moves.
mod osd {
    use super::{OSD, at};

    pub(crate) const OP_WIP: usize = at(OSD, "osd.op_wip");
    pub(crate) const OP: usize = at(OSD, "osd.op");
    pub(crate) const OP_IN_BYTES: usize = at(OSD, "osd.op_in_bytes");
    pub(crate) const OP_OUT_BYTES: usize = at(OSD, "osd.op_out_bytes");
    pub(crate) const OP_LATENCY: usize = at(OSD, "osd.op_latency");
    pub(crate) const OP_PROCESS_LATENCY: usize = at(OSD, "osd.op_process_latency");
    pub(crate) const OP_PREPARE_LATENCY: usize = at(OSD, "osd.op_prepare_latency");
    /// `op_r`, `op_w`, `op_rw` and their `_latency`, `_process_latency`,
    /// `_prepare_latency`.
    pub(crate) const BY_TYPE: [[usize; 4]; 3] = [
        [
            at(OSD, "osd.op_r"),
            at(OSD, "osd.op_r_latency"),
            at(OSD, "osd.op_r_process_latency"),
            at(OSD, "osd.op_r_prepare_latency"),
        ],
        [
            at(OSD, "osd.op_w"),
            at(OSD, "osd.op_w_latency"),
            at(OSD, "osd.op_w_process_latency"),
            at(OSD, "osd.op_w_prepare_latency"),
        ],
        [
            at(OSD, "osd.op_rw"),
            at(OSD, "osd.op_rw_latency"),
            at(OSD, "osd.op_rw_process_latency"),
            at(OSD, "osd.op_rw_prepare_latency"),
        ],
    ];
    pub(crate) const OP_R_OUT_BYTES: usize = at(OSD, "osd.op_r_out_bytes");
    pub(crate) const OP_W_IN_BYTES: usize = at(OSD, "osd.op_w_in_bytes");
    pub(crate) const OP_RW_IN_BYTES: usize = at(OSD, "osd.op_rw_in_bytes");
    pub(crate) const OP_RW_OUT_BYTES: usize = at(OSD, "osd.op_rw_out_bytes");
    pub(crate) const RECOVERY_OPS: usize = at(OSD, "osd.recovery_ops");
    pub(crate) const RECOVERY_BYTES: usize = at(OSD, "osd.recovery_bytes");
    pub(crate) const NUMPG: usize = at(OSD, "osd.numpg");
    pub(crate) const NUMPG_REMOVING: usize = at(OSD, "osd.numpg_removing");
    pub(crate) const STAT_BYTES: usize = at(OSD, "osd.stat_bytes");
    pub(crate) const STAT_BYTES_USED: usize = at(OSD, "osd.stat_bytes_used");
}

/// Positions of the monitor counters the sim moves.
mod mon {
    use super::{CACHE_COUNTERS, MON, at};

    pub(crate) const NUM_SESSIONS: usize = at(MON, "mon.num_sessions");
    pub(crate) const SESSION_ADD: usize = at(MON, "mon.session_add");
    pub(crate) const SESSION_RM: usize = at(MON, "mon.session_rm");
    pub(crate) const NUM_ELECTIONS: usize = at(MON, "mon.num_elections");
    pub(crate) const ELECTION_CALL: usize = at(MON, "mon.election_call");
    pub(crate) const ELECTION_WIN: usize = at(MON, "mon.election_win");
    pub(crate) const ELECTION_LOSE: usize = at(MON, "mon.election_lose");
    pub(crate) const START_LEADER: usize = at(MON, "paxos.start_leader");
    pub(crate) const START_PEON: usize = at(MON, "paxos.start_peon");
    pub(crate) const RESTART: usize = at(MON, "paxos.restart");
    pub(crate) const REFRESH: usize = at(MON, "paxos.refresh");
    pub(crate) const REFRESH_LATENCY: usize = at(MON, "paxos.refresh_latency");
    pub(crate) const BEGIN: usize = at(MON, "paxos.begin");
    pub(crate) const BEGIN_KEYS: usize = at(MON, "paxos.begin_keys");
    pub(crate) const BEGIN_BYTES: usize = at(MON, "paxos.begin_bytes");
    pub(crate) const BEGIN_LATENCY: usize = at(MON, "paxos.begin_latency");
    pub(crate) const COMMIT: usize = at(MON, "paxos.commit");
    pub(crate) const COMMIT_KEYS: usize = at(MON, "paxos.commit_keys");
    pub(crate) const COMMIT_BYTES: usize = at(MON, "paxos.commit_bytes");
    pub(crate) const COMMIT_LATENCY: usize = at(MON, "paxos.commit_latency");
    pub(crate) const COLLECT: usize = at(MON, "paxos.collect");
    pub(crate) const COLLECT_KEYS: usize = at(MON, "paxos.collect_keys");
    pub(crate) const COLLECT_BYTES: usize = at(MON, "paxos.collect_bytes");
    pub(crate) const COLLECT_LATENCY: usize = at(MON, "paxos.collect_latency");
    pub(crate) const LEASE_TIMEOUT: usize = at(MON, "paxos.lease_timeout");
    pub(crate) const LEASE_ACK_TIMEOUT: usize = at(MON, "paxos.lease_ack_timeout");
    pub(crate) const STORE_STATE: usize = at(MON, "paxos.store_state");
    pub(crate) const STORE_STATE_KEYS: usize = at(MON, "paxos.store_state_keys");
    pub(crate) const STORE_STATE_BYTES: usize = at(MON, "paxos.store_state_bytes");
    pub(crate) const STORE_STATE_LATENCY: usize = at(MON, "paxos.store_state_latency");
    pub(crate) const SHARE_STATE: usize = at(MON, "paxos.share_state");
    pub(crate) const SHARE_STATE_KEYS: usize = at(MON, "paxos.share_state_keys");
    pub(crate) const SHARE_STATE_BYTES: usize = at(MON, "paxos.share_state_bytes");
    pub(crate) const NEW_PN: usize = at(MON, "paxos.new_pn");
    pub(crate) const NEW_PN_LATENCY: usize = at(MON, "paxos.new_pn_latency");
    pub(crate) const GET: usize = at(MON, "rocksdb.get");
    pub(crate) const GET_LATENCY: usize = at(MON, "rocksdb.get_latency");
    pub(crate) const SUBMIT_SYNC_LATENCY: usize = at(MON, "rocksdb.submit_sync_latency");
    pub(crate) const COMPACT_RANGE: usize = at(MON, "rocksdb.compact_range");
    pub(crate) const TARGET_BYTES: usize = at(MON, "prioritycache.target_bytes");
    pub(crate) const MAPPED_BYTES: usize = at(MON, "prioritycache.mapped_bytes");
    pub(crate) const UNMAPPED_BYTES: usize = at(MON, "prioritycache.unmapped_bytes");
    pub(crate) const HEAP_BYTES: usize = at(MON, "prioritycache.heap_bytes");
    pub(crate) const CACHE_BYTES: usize = at(MON, "prioritycache.cache_bytes");

    /// First counter of priority cache `cache` (its `pri0_bytes`); `reserved_bytes`
    /// and `committed_bytes` follow the priorities.
    pub(crate) const fn cache(cache: usize) -> usize {
        MON.len() + cache * CACHE_COUNTERS
    }
}

/// Definitions from a table.
fn defs(table: &[Def]) -> impl Iterator<Item = CounterDef> + '_ {
    table.iter().map(|(path, kind, description)| CounterDef {
        path: (*path).to_string(),
        kind: *kind,
        description: (*description).to_string(),
    })
}

/// The schema every OSD shares.
pub(crate) fn osd_schema() -> Arc<[CounterDef]> {
    defs(OSD).collect()
}

/// The schema every monitor shares.
pub(crate) fn mon_schema() -> Arc<[CounterDef]> {
    let caches = MON_CACHES.iter().flat_map(|cache| {
        let gauge = move |leaf: String, description: String| CounterDef {
            path: format!("prioritycache:{cache}.{leaf}"),
            kind: Gauge,
            description,
        };
        (0..CACHE_PRIORITIES)
            .map(move |p| {
                gauge(
                    format!("pri{p}_bytes"),
                    format!("bytes allocated to pri{p}"),
                )
            })
            .chain([
                gauge(
                    "reserved_bytes".into(),
                    "bytes reserved for future growth.".into(),
                ),
                gauge("committed_bytes".into(), "total bytes committed,".into()),
            ])
    });
    defs(MON).chain(caches).collect()
}

/// One OSD's client IO in one tick, already its share of the cluster's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OsdLoad {
    /// Read operations.
    pub(crate) reads: f64,
    /// Write operations.
    pub(crate) writes: f64,
    /// Bytes read.
    pub(crate) read_bytes: f64,
    /// Bytes written.
    pub(crate) write_bytes: f64,
    /// Recovery operations started.
    pub(crate) recovery_ops: f64,
    /// Bytes recovered.
    pub(crate) recovery_bytes: f64,
}

/// Part of client writes that are read-modify-write operations (omap updates, class
/// calls).
const RMW_SHARE: f64 = 0.04;

/// Bytes a read-modify-write operation reads back.
const RMW_READ_BYTES: f64 = 512.0;

/// Running totals of one OSD's counters (fractions of operations carry over ticks).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OsdPerf {
    /// Operations by type: read, write, read-modify-write.
    ops: [f64; 3],
    /// Latency sums (ns) by type: total, excluding queue time, excluding queue time
    /// and the wait for completion.
    lat: [[f64; 3]; 3],
    read_bytes: f64,
    write_bytes: f64,
    rmw_in_bytes: f64,
    rmw_out_bytes: f64,
    recovery_ops: f64,
    recovery_bytes: f64,
    wip: u64,
    removing: u32,
}

impl OsdPerf {
    /// Add one tick of `load` lasting `dt` seconds, served with base latency `lat_ns`
    /// scaled by `jitter`.
    pub(crate) fn advance(&mut self, load: &OsdLoad, dt: f64, lat_ns: f64, jitter: f64) {
        let ops = [
            load.reads,
            load.writes * (1.0 - RMW_SHARE),
            load.writes * RMW_SHARE,
        ];
        // Writes wait for the replicas; read-modify-writes read first.
        let cost = [1.0, 2.0, 2.5];
        // Queueing grows with the work in flight.
        let in_flight = (ops[1] + ops[2]) / dt.max(0.001) * lat_ns * 2.0 / 1e9;
        let queued = 0.05 + 0.3 * in_flight / (in_flight + 16.0);
        // Reads are done when processed; writes also wait for the commit.
        let prepared = [0.9, 0.3, 0.35];
        for t in 0..3 {
            let total = ops[t] * lat_ns * cost[t] * jitter;
            let process = total * (1.0 - queued);
            self.ops[t] += ops[t];
            self.lat[t][0] += total;
            self.lat[t][1] += process;
            self.lat[t][2] += process * prepared[t];
        }
        self.read_bytes += load.read_bytes;
        self.write_bytes += load.write_bytes * (1.0 - RMW_SHARE);
        self.rmw_in_bytes += load.write_bytes * RMW_SHARE;
        self.rmw_out_bytes += ops[2] * RMW_READ_BYTES;
        self.recovery_ops += load.recovery_ops;
        self.recovery_bytes += load.recovery_bytes;
        self.wip = in_flight.round() as u64;
        self.removing /= 2;
    }

    /// PGs moved away from this OSD: queued for deletion.
    pub(crate) fn pgs_removed(&mut self, n: u32) {
        self.removing += n;
    }

    /// Write every counter, in the order of the OSD schema.
    pub(crate) fn render(&self, values: &mut [(u64, u64)], numpg: u32, size: u64, used: u64) {
        let mut total = [0u64; 4];
        let mut sums = [0f64; 3];
        for t in 0..3 {
            let n = self.ops[t] as u64;
            total[0] += n;
            let [op, lat, process, prepare] = osd::BY_TYPE[t];
            values[op] = (n, 0);
            for (k, slot) in [lat, process, prepare].into_iter().enumerate() {
                values[slot] = (self.lat[t][k] as u64, n);
                sums[k] += self.lat[t][k];
            }
        }
        total[1..]
            .iter_mut()
            .zip(sums)
            .for_each(|(t, s)| *t = s as u64);
        values[osd::OP] = (total[0], 0);
        values[osd::OP_LATENCY] = (total[1], total[0]);
        values[osd::OP_PROCESS_LATENCY] = (total[2], total[0]);
        values[osd::OP_PREPARE_LATENCY] = (total[3], total[0]);
        values[osd::OP_WIP] = (self.wip, 0);
        let (r_out, w_in) = (self.read_bytes as u64, self.write_bytes as u64);
        let (rw_in, rw_out) = (self.rmw_in_bytes as u64, self.rmw_out_bytes as u64);
        values[osd::OP_R_OUT_BYTES] = (r_out, 0);
        values[osd::OP_W_IN_BYTES] = (w_in, 0);
        values[osd::OP_RW_IN_BYTES] = (rw_in, 0);
        values[osd::OP_RW_OUT_BYTES] = (rw_out, 0);
        values[osd::OP_IN_BYTES] = (w_in + rw_in, 0);
        values[osd::OP_OUT_BYTES] = (r_out + rw_out, 0);
        values[osd::RECOVERY_OPS] = (self.recovery_ops as u64, 0);
        values[osd::RECOVERY_BYTES] = (self.recovery_bytes as u64, 0);
        values[osd::NUMPG] = (u64::from(numpg), 0);
        values[osd::NUMPG_REMOVING] = (u64::from(self.removing), 0);
        values[osd::STAT_BYTES] = (size, 0);
        values[osd::STAT_BYTES_USED] = (used, 0);
        // The objecter counters stay 0: an OSD's objecter only serves cache tiering
        // and copy-from, which the sim does not model.
    }
}

/// What a monitor did in an election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Won: leads Paxos.
    Leader,
    /// Lost: follows the leader.
    Peon,
}

/// Latency in ns around `mean_ns`.
fn latency(rng: &mut ChaCha8Rng, mean_ns: f64) -> u64 {
    (mean_ns * rng.random_range(0.6..1.6)) as u64
}

/// Add `n` samples of about `each` to an average.
fn add_avg(v: &mut (u64, u64), n: u64, each: u64) {
    v.0 += n * each;
    v.1 += n;
}

/// One monitor's counters, kept as published (in the order of the monitor schema).
#[derive(Clone, Debug)]
pub(crate) struct MonPerf {
    /// `(value, count)` per counter.
    pub(crate) values: Vec<(u64, u64)>,
}

/// `mon_memory_target`.
const MON_MEMORY_TARGET: u64 = 2 << 30;

impl MonPerf {
    /// A monitor of a freshly formed quorum, in `role`, with `sessions` open sessions.
    pub(crate) fn new(role: Role, sessions: u64) -> MonPerf {
        let mut p = MonPerf {
            values: vec![(0, 0); mon::cache(MON_CACHES.len())],
        };
        p.values[mon::NUM_SESSIONS].0 = sessions;
        p.values[mon::SESSION_ADD].0 = sessions;
        p.values[mon::TARGET_BYTES].0 = MON_MEMORY_TARGET;
        p.values[mon::CACHE_BYTES].0 = MON_MEMORY_TARGET * 19 / 40;
        p.election(role, false);
        p
    }

    /// An election finished: this monitor took `role`; `called` when it started it.
    pub(crate) fn election(&mut self, role: Role, called: bool) {
        let v = &mut self.values;
        v[mon::NUM_ELECTIONS].0 += 1;
        v[mon::RESTART].0 += 1;
        v[mon::ELECTION_CALL].0 += u64::from(called);
        match role {
            Role::Leader => {
                v[mon::ELECTION_WIN].0 += 1;
                v[mon::START_LEADER].0 += 1;
                v[mon::NEW_PN].0 += 1;
                add_avg(&mut v[mon::NEW_PN_LATENCY], 1, 2_500_000);
            }
            Role::Peon => {
                v[mon::ELECTION_LOSE].0 += 1;
                v[mon::START_PEON].0 += 1;
                v[mon::COLLECT].0 += 1;
                add_avg(&mut v[mon::COLLECT_KEYS], 1, 2);
                add_avg(&mut v[mon::COLLECT_BYTES], 1, 900);
                add_avg(&mut v[mon::COLLECT_LATENCY], 1, 1_800_000);
            }
        }
    }

    /// As peon, the leader stopped extending the lease.
    pub(crate) fn lease_expired(&mut self) {
        self.values[mon::LEASE_TIMEOUT].0 += 1;
    }

    /// As leader, a peon stopped acknowledging the lease.
    pub(crate) fn lease_unacked(&mut self) {
        self.values[mon::LEASE_ACK_TIMEOUT].0 += 1;
    }

    /// As leader, sent `versions` Paxos versions to a monitor that had fallen behind.
    pub(crate) fn shared_state(&mut self, versions: u64) {
        let v = &mut self.values;
        v[mon::SHARE_STATE].0 += 1;
        add_avg(&mut v[mon::SHARE_STATE_KEYS], 1, versions * 4);
        add_avg(&mut v[mon::SHARE_STATE_BYTES], 1, versions * 12_000);
    }

    /// Stored `versions` Paxos versions the leader shared after this monitor fell
    /// behind.
    pub(crate) fn stored_state(&mut self, versions: u64) {
        let v = &mut self.values;
        v[mon::STORE_STATE].0 += 1;
        add_avg(&mut v[mon::STORE_STATE_KEYS], 1, versions * 4);
        add_avg(&mut v[mon::STORE_STATE_BYTES], 1, versions * 12_000);
        add_avg(&mut v[mon::STORE_STATE_LATENCY], 1, 3_000_000);
    }

    /// One tick of `dt` seconds in `role` with `commits` Paxos commits of about `bytes`
    /// each, `sessions` open sessions and `daemons` daemons in the cluster.
    pub(crate) fn tick(
        &mut self,
        rng: &mut ChaCha8Rng,
        role: Role,
        commits: u64,
        bytes: u64,
        sessions: u64,
        daemons: u64,
    ) {
        let v = &mut self.values;
        // Clients come and go.
        let churn = rng.random_range(0..3);
        v[mon::NUM_SESSIONS].0 = sessions;
        v[mon::SESSION_ADD].0 += churn;
        v[mon::SESSION_RM].0 += churn;
        if commits > 0 {
            let n = commits;
            v[mon::BEGIN].0 += n;
            add_avg(&mut v[mon::BEGIN_KEYS], n, 3);
            add_avg(&mut v[mon::BEGIN_BYTES], n, bytes);
            v[mon::REFRESH].0 += n;
            add_avg(&mut v[mon::REFRESH_LATENCY], n, latency(rng, 660_000.0));
            match role {
                Role::Leader => {
                    add_avg(&mut v[mon::BEGIN_LATENCY], n, latency(rng, 1_200_000.0));
                    v[mon::COMMIT].0 += n;
                    add_avg(&mut v[mon::COMMIT_KEYS], n, 5);
                    add_avg(&mut v[mon::COMMIT_BYTES], n, bytes * 99 / 100);
                    add_avg(&mut v[mon::COMMIT_LATENCY], n, latency(rng, 1_200_000.0));
                }
                Role::Peon => {
                    v[mon::STORE_STATE].0 += n;
                    add_avg(&mut v[mon::STORE_STATE_KEYS], n, 5);
                    add_avg(&mut v[mon::STORE_STATE_BYTES], n, bytes);
                    add_avg(
                        &mut v[mon::STORE_STATE_LATENCY],
                        n,
                        latency(rng, 1_300_000.0),
                    );
                }
            }
            // Each commit writes the transaction and the new last_committed; the
            // leader also writes the accepted value.
            let writes = if role == Role::Leader { 2 * n } else { n };
            add_avg(
                &mut v[mon::SUBMIT_SYNC_LATENCY],
                writes,
                latency(rng, 1_200_000.0),
            );
            // Trimming old Paxos versions compacts their range now and then.
            let before = v[mon::REFRESH].0 - n;
            v[mon::COMPACT_RANGE].0 += v[mon::REFRESH].0 / 500 - before / 500;
        }
        // Refreshes read back the services' state; clients read maps.
        let gets = commits * 40 + rng.random_range(0..4) + daemons / 200;
        v[mon::GET].0 += gets;
        add_avg(&mut v[mon::GET_LATENCY], gets, latency(rng, 2_600.0));
        // Memory: the maps in the caches grow with the cluster.
        let mapped = (180 << 20) + daemons * 24_000 + rng.random_range(0..4 << 20);
        let unmapped = mapped / 12;
        v[mon::MAPPED_BYTES].0 = mapped;
        v[mon::UNMAPPED_BYTES].0 = unmapped;
        v[mon::HEAP_BYTES].0 = mapped + unmapped;
        let cache_bytes = v[mon::CACHE_BYTES].0;
        // The block cache gets most; the two map caches split the rest.
        for (c, share) in [0.6, 0.2, 0.2].into_iter().enumerate() {
            let base = mon::cache(c);
            let mine = cache_bytes as f64 * share;
            let used = (daemons as f64 * 40_000.0 * share).min(mine * 0.8);
            let pri = &mut v[base..base + CACHE_COUNTERS];
            pri[0].0 = (used * 0.1) as u64;
            pri[1].0 = (used * 0.9) as u64;
            pri[CACHE_PRIORITIES - 1].0 = (mine - used) as u64;
            pri[CACHE_PRIORITIES].0 = (mine * 0.05) as u64;
            let chunk = 1u64 << 20;
            pri[CACHE_PRIORITIES + 1].0 = ((mine * 1.05) as u64).div_ceil(chunk) * chunk;
        }
    }
}

/// Published perf counters of every daemon, double-buffered: the buffer published two
/// ticks ago is rewritten in place once no reader holds it any more.
#[derive(Debug, Default)]
pub(crate) struct PerfOut {
    last: Option<Arc<Vec<DaemonCounters>>>,
    spare: Option<Arc<Vec<DaemonCounters>>>,
}

impl PerfOut {
    /// The spare buffer, when no one else holds it any more.
    pub(crate) fn take(&mut self) -> Option<Arc<Vec<DaemonCounters>>> {
        self.spare
            .take()
            .filter(|buf| Arc::strong_count(buf) == 1 && Arc::weak_count(buf) == 0)
    }

    /// `buf` was published: the previous one becomes the spare.
    pub(crate) fn published(&mut self, buf: Arc<Vec<DaemonCounters>>) {
        self.spare = self.last.replace(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_match_paths() {
        let s = osd_schema();
        assert_eq!(s[osd::STAT_BYTES_USED].path, "osd.stat_bytes_used");
        assert_eq!(s[osd::BY_TYPE[2][3]].path, "osd.op_rw_prepare_latency");
        let m = mon_schema();
        assert_eq!(m.len(), mon::cache(MON_CACHES.len()));
        assert_eq!(m[mon::cache(1)].path, "prioritycache:inc.pri0_bytes");
        assert_eq!(
            m[mon::cache(2) + CACHE_PRIORITIES + 1].path,
            "prioritycache:full.committed_bytes"
        );
        let mut paths: Vec<&str> = m.iter().chain(s.iter()).map(|d| d.path.as_str()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), m.len() + s.len(), "duplicate paths");
    }

    #[test]
    fn osd_counters_add_up() {
        let mut p = OsdPerf::default();
        let load = OsdLoad {
            reads: 30.0,
            writes: 20.0,
            read_bytes: 30.0 * 65536.0,
            write_bytes: 20.0 * 16384.0,
            recovery_ops: 0.0,
            recovery_bytes: 0.0,
        };
        for _ in 0..10 {
            p.advance(&load, 1.0, 5_000_000.0, 1.0);
        }
        let mut v = vec![(0, 0); OSD.len()];
        p.render(&mut v, 100, 1 << 40, 1 << 30);
        let [r, w, rw] = osd::BY_TYPE.map(|t| v[t[0]].0);
        assert_eq!(v[osd::OP].0, r + w + rw);
        assert_eq!(v[osd::OP_LATENCY].1, v[osd::OP].0);
        assert_eq!(r, 300);
        assert!(rw > 0 && w > rw);
        // Including queue time > excluding it > excluding the wait for completion.
        for t in osd::BY_TYPE {
            assert!(v[t[1]].0 > v[t[2]].0 && v[t[2]].0 > v[t[3]].0, "{t:?}");
        }
        let avg_r_ms = v[osd::BY_TYPE[0][1]].0 as f64 / r as f64 / 1e6;
        assert!((4.0..6.0).contains(&avg_r_ms), "{avg_r_ms}");
        assert_eq!(
            v[osd::OP_IN_BYTES].0,
            v[osd::OP_W_IN_BYTES].0 + v[osd::OP_RW_IN_BYTES].0
        );
        p.pgs_removed(8);
        p.advance(&load, 1.0, 5_000_000.0, 1.0);
        p.render(&mut v, 92, 1 << 40, 1 << 30);
        assert_eq!(v[osd::NUMPG_REMOVING].0, 4);
    }
}
