//! wasm-mgr's embedded cluster: a deterministic, seeded simulated Ceph cluster of
//! mons, hosts, OSDs, pools, PGs, file systems and managers that move on their own
//! (client IO, growth, scrubs, recovery) and take faults and commands (`osd down`,
//! `osd out`, `osd pool create`, ...), published into a `wasm_mgr_cluster::Cluster`.
//!
//! The same seed gives the same maps. PG state is kept compactly (2 bytes per PG;
//! placement comes from a hash of the pgid), so 10,000 OSDs and 1,000,000 PGs start in
//! about a second and tick in milliseconds.
//!
//! Not for: modelling CRUSH or peering faithfully; its shapes and field names are
//! Ceph 16.2.15's, its numbers are made up.

mod commands;
mod perf;
mod text;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use futures::future::BoxFuture;
use wasm_mgr_cluster::command::CommandTable;
use wasm_mgr_cluster::health::{self, HealthInput, OsdFullness, PgProblem};
use wasm_mgr_cluster::json::CEPH_VERSION;
use wasm_mgr_cluster::model::{
    ClassUsage, ConfigEntry, CounterDef, DaemonCounters, DaemonKey, DaemonMetadata, Df, Filesystem,
    FsMap, MdsInfo, MetadataMap, MgrMap, MgrStandby, MonInfo, MonMap, OSD_FLAGS, OsdInfo, OsdMap,
    OsdStat, PgState, PgStateCount, PgSummary, PgTable, PoolInfo, PoolPgStates, PoolPgs, PoolStat,
    PoolUsage, Server, ServiceMap, pgid,
};
use wasm_mgr_cluster::placement::Placement;
use wasm_mgr_cluster::source::{ClusterSource, CommandDest};
pub use wasm_mgr_cluster::source::{CommandOutput, errno};
use wasm_mgr_cluster::{Cluster, Update, time};

pub use crate::commands::command_table;
use crate::perf::{self as sim_perf, MonPerf, OsdLoad, OsdPerf, PerfOut, Role};

/// Seconds an OSD stays down before the monitors mark it out (`mon_osd_down_out_interval`).
pub const DOWN_OUT_INTERVAL_SECS: f64 = 600.0;

/// Most automatic scrubs started per tick.
const MAX_SCRUBS_PER_TICK: usize = 3;

/// Most PGs listed in health detail.
const MAX_PROBLEMS: usize = 200;

/// Shape and behaviour of the simulated cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Seed: the same seed gives the same cluster.
    pub seed: u64,
    /// Monitors (named a, b, c, ...).
    pub mons: u32,
    /// Hosts the OSDs are spread over.
    pub hosts: u32,
    /// OSDs.
    pub osds: u32,
    /// Pools (two per file system, then `rbd`, `pool-N`).
    pub pools: u32,
    /// Total PGs; default about 100 per OSD (counting replicas), powers of two per pool.
    pub pgs: Option<u64>,
    /// CephFS file systems, each with an active MDS and a standby.
    pub filesystems: u32,
    /// How often the cluster moves.
    pub tick: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            mons: 3,
            hosts: 4,
            osds: 12,
            pools: 3,
            pgs: None,
            filesystems: 1,
            tick: Duration::from_secs(1),
        }
    }
}

impl SimConfig {
    /// Check that the configuration describes a cluster the simulator can build.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.mons == 0 || self.mons > 250 {
            bail!(
                "the simulated cluster needs 1 to 250 monitors (got {})",
                self.mons
            );
        }
        if self.osds == 0 {
            bail!("the simulated cluster needs at least 1 OSD");
        }
        if self.osds > 100_000 {
            bail!(
                "the simulated cluster supports at most 100000 OSDs (got {})",
                self.osds
            );
        }
        if self.hosts == 0 || self.hosts > 60_000 {
            bail!(
                "the simulated cluster needs 1 to 60000 hosts (got {})",
                self.hosts
            );
        }
        if self.osds.div_ceil(self.hosts) > 7000 {
            bail!(
                "{} OSDs on {} hosts is more than 7000 OSDs per host; add hosts",
                self.osds,
                self.hosts
            );
        }
        if self.pools > 1000 {
            bail!(
                "the simulated cluster supports at most 1000 pools (got {})",
                self.pools
            );
        }
        if self.pools < self.filesystems * 2 {
            bail!(
                "each file system needs a metadata and a data pool: {} file system(s) need at least {} pools (got {})",
                self.filesystems,
                self.filesystems * 2,
                self.pools
            );
        }
        match self.pgs {
            Some(0) if self.pools > 0 => bail!("--pgs must be at least 1 when there are pools"),
            Some(n) if n > 16_000_000 => {
                bail!("the simulated cluster supports at most 16000000 PGs (got {n})")
            }
            Some(n) if n < u64::from(self.pools) => {
                bail!(
                    "{n} PGs cannot be spread over {} pools (each needs at least 1)",
                    self.pools
                )
            }
            _ => {}
        }
        if self.tick.is_zero() {
            bail!("the tick interval must be greater than zero");
        }
        Ok(())
    }
}

/// The fsid the simulated cluster of `seed` has.
pub fn fsid_for_seed(seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f51d);
    uuid(&mut rng)
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Monitor name of rank `i`: a..z, then aa, ab, ...
fn mon_name(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// Flag bits of `OSD_FLAGS` by name.
pub(crate) fn flag_bit(name: &str) -> Option<u64> {
    OSD_FLAGS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

pub(crate) struct SimMon {
    pub(crate) name: String,
    pub(crate) addr: String,
    pub(crate) host: usize,
    pub(crate) up: bool,
}

pub(crate) struct SimHost {
    pub(crate) name: String,
    pub(crate) ip: String,
}

pub(crate) struct SimOsd {
    pub(crate) id: i32,
    pub(crate) uuid: String,
    pub(crate) host: usize,
    pub(crate) ssd: bool,
    pub(crate) up: bool,
    pub(crate) in_: bool,
    pub(crate) weight: f64,
    pub(crate) size: u64,
    pub(crate) up_from: u64,
    pub(crate) down_at: u64,
    pub(crate) nonce: u32,
    pub(crate) port: u32,
    /// Seconds it has been down (for the automatic mark-out).
    pub(crate) down_secs: f64,
    /// Base latency in ns.
    lat_ns: f64,
    perf: OsdPerf,
    created: String,
}

/// Client IO of a pool, drifting as a random walk.
#[derive(Clone, Copy, Default)]
pub(crate) struct Io {
    pub(crate) read_ops: f64,
    pub(crate) write_ops: f64,
    pub(crate) read_size: f64,
    pub(crate) write_size: f64,
    pub(crate) base_ops: f64,
}

pub(crate) struct SimPool {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) size: u32,
    pub(crate) min_size: u32,
    pub(crate) applications: Vec<String>,
    pub(crate) quota_max_bytes: u64,
    pub(crate) quota_max_objects: u64,
    pub(crate) create_time: String,
    pub(crate) last_change: u64,
    pub(crate) bytes: f64,
    pub(crate) obj_size: f64,
    pub(crate) rd: f64,
    pub(crate) rd_bytes: f64,
    pub(crate) wr: f64,
    pub(crate) wr_bytes: f64,
    pub(crate) io: Io,
    pub(crate) pgs: Arc<PoolPgs>,
    /// PGs per state.
    pub(crate) counts: BTreeMap<PgState, u64>,
}

impl SimPool {
    pub(crate) fn pg_num(&self) -> u32 {
        self.pgs.states.len() as u32
    }

    pub(crate) fn objects(&self) -> u64 {
        if self.obj_size <= 0.0 {
            0
        } else {
            (self.bytes / self.obj_size) as u64
        }
    }

    fn pg_objects(&self, ps: u32) -> u64 {
        let n = u64::from(self.pg_num().max(1));
        let total = self.objects();
        total / n + u64::from(u64::from(ps) < total % n)
    }
}

pub(crate) struct SimFs {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) metadata_pool: i64,
    pub(crate) data_pools: Vec<i64>,
    pub(crate) created: String,
    pub(crate) mds_epoch: u64,
}

pub(crate) struct SimMds {
    pub(crate) name: String,
    pub(crate) gid: u64,
    pub(crate) host: usize,
    /// File system index and rank, or None for a standby.
    pub(crate) role: Option<(usize, i32)>,
    pub(crate) state: &'static str,
    /// Ticks until a replaying MDS becomes active.
    pub(crate) transition: u8,
}

/// What a PG not `active+clean` is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// Missing replicas; waits for its OSD to come back or be marked out.
    Degraded,
    /// Moving to new OSDs.
    Backfill,
    /// Catching up a returned OSD.
    Recover,
    /// Being scrubbed.
    Scrub {
        /// Deep scrub.
        deep: bool,
    },
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct PgWork {
    pub(crate) kind: Work,
    pub(crate) left: u8,
    pub(crate) total: u8,
}

pub(crate) struct SimMgr {
    pub(crate) active: String,
    pub(crate) gid: u64,
    pub(crate) host: usize,
    pub(crate) standbys: Vec<(String, u64, usize)>,
}

/// Which maps a change touched.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Dirty {
    pub(crate) mon: bool,
    pub(crate) osd: bool,
    pub(crate) fs: bool,
    pub(crate) mgr: bool,
    pub(crate) inventory: bool,
}

impl Dirty {
    pub(crate) const ALL: Dirty = Dirty {
        mon: true,
        osd: true,
        fs: true,
        mgr: true,
        inventory: true,
    };
}

pub(crate) struct Sim {
    pub(crate) cfg: SimConfig,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) fsid: String,
    pub(crate) created: String,
    pub(crate) mons: Vec<SimMon>,
    pub(crate) mon_epoch: u64,
    pub(crate) election_epoch: u64,
    pub(crate) hosts: Vec<SimHost>,
    pub(crate) osds: Vec<SimOsd>,
    pub(crate) pools: Vec<SimPool>,
    pub(crate) pool_max: i64,
    pub(crate) flags: u64,
    pub(crate) osd_epoch: u64,
    pub(crate) osd_modified: String,
    pub(crate) last_up_change: u64,
    pub(crate) last_in_change: u64,
    pub(crate) filesystems: Vec<SimFs>,
    pub(crate) mds: Vec<SimMds>,
    pub(crate) fs_epoch: u64,
    pub(crate) mgr: SimMgr,
    pub(crate) mgr_epoch: u64,
    pub(crate) placement: Placement,
    pub(crate) work: BTreeMap<(i64, u32), PgWork>,
    numpg: Vec<u32>,
    numpg_primary: Vec<u32>,
    osd_schema: Arc<[CounterDef]>,
    mon_schema: Arc<[CounterDef]>,
    /// Counters of each monitor, in `mons` order.
    pub(crate) mon_perf: Vec<MonPerf>,
    /// Published counter buffers.
    perf_out: PerfOut,
    /// Recovery done this tick: (objects, bytes).
    recovered: (u64, u64),
}

/// A running simulated cluster. Dropping it stops the ticks.
pub struct SimHandle {
    sim: Arc<Mutex<Sim>>,
    cluster: Arc<Cluster>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle").finish_non_exhaustive()
    }
}

fn lock(sim: &Mutex<Sim>) -> MutexGuard<'_, Sim> {
    sim.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimHandle {
    /// Run a command given as ceph's JSON dict (`{"prefix": "osd down", "ids": ["3"]}`)
    /// and answer as Ceph would.
    pub async fn command(&self, cmd: &serde_json::Value, inbuf: &str) -> CommandOutput {
        let sim = Arc::clone(&self.sim);
        let cluster = Arc::clone(&self.cluster);
        let cmd = cmd.clone();
        let inbuf = inbuf.to_string();
        let run = tokio::task::spawn_blocking(move || {
            let mut s = lock(&sim);
            s.command(&cluster, &cmd, &inbuf)
        });
        match run.await {
            Ok(out) => out,
            Err(e) => CommandOutput::err(errno::EIO, format!("command failed: {e}")),
        }
    }

    /// Advance the cluster by one tick now (besides the timer).
    pub async fn tick(&self) {
        let sim = Arc::clone(&self.sim);
        let cluster = Arc::clone(&self.cluster);
        // A failed tick task only loses that tick.
        let _ = tokio::task::spawn_blocking(move || lock(&sim).tick(&cluster)).await;
    }

    /// Stop moving the cluster (the maps stay published).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl ClusterSource for SimHandle {
    fn command<'a>(
        &'a self,
        dest: CommandDest,
        cmd: &'a serde_json::Value,
        inbuf: &'a str,
    ) -> BoxFuture<'a, CommandOutput> {
        Box::pin(async move {
            match dest {
                CommandDest::Mon => SimHandle::command(self, cmd, inbuf).await,
                CommandDest::Mgr => CommandOutput::err(
                    errno::ENOENT,
                    "the simulated cluster has no manager of its own",
                ),
                CommandDest::Osd(id) => {
                    let mut cmd = cmd.clone();
                    cmd["target"] = serde_json::Value::String(format!("osd.{id}"));
                    SimHandle::command(self, &cmd, inbuf).await
                }
            }
        })
    }

    fn commands(&self, dest: CommandDest) -> Arc<CommandTable> {
        static TABLE: OnceLock<Arc<CommandTable>> = OnceLock::new();
        match dest {
            CommandDest::Mgr => Arc::default(),
            _ => Arc::clone(TABLE.get_or_init(|| Arc::new(command_table()))),
        }
    }

    fn has_manager(&self) -> bool {
        false
    }

    fn stop(&self) {
        SimHandle::stop(self)
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Build the simulated cluster from `cfg`, publish every map into `cluster`, and move
/// it every `cfg.tick` on the current tokio runtime.
pub fn start(cfg: SimConfig, cluster: Arc<Cluster>) -> anyhow::Result<SimHandle> {
    cfg.validate()?;
    let rt = tokio::runtime::Handle::try_current()
        .context("the simulated cluster needs a tokio runtime")?;
    let tick = cfg.tick;
    let mut sim = Sim::new(cfg);
    sim.publish(&cluster, Dirty::ALL);
    cluster.set_mon_connection(true);
    cluster.log_to_cluster(
        "mon.a",
        "cluster",
        "info",
        &format!(
            "simulated cluster {} up: {} mons, {} osds, {} pools, {} pgs",
            sim.fsid,
            sim.mons.len(),
            sim.osds.len(),
            sim.pools.len(),
            sim.pools.iter().map(|p| u64::from(p.pg_num())).sum::<u64>()
        ),
    );
    let sim = Arc::new(Mutex::new(sim));
    let task = {
        let sim = Arc::clone(&sim);
        let cluster = Arc::clone(&cluster);
        rt.spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                let sim = Arc::clone(&sim);
                let cluster = Arc::clone(&cluster);
                if tokio::task::spawn_blocking(move || lock(&sim).tick(&cluster))
                    .await
                    .is_err()
                {
                    tracing::warn!("simulated cluster tick failed");
                }
            }
        })
    };
    Ok(SimHandle { sim, cluster, task })
}

/// PGs per pool: powers of two whose total comes closest to `target`, by weight.
fn pg_split(target: u64, weights: &[f64]) -> Vec<u32> {
    let wsum: f64 = weights.iter().sum();
    let mut pgs: Vec<u64> = weights
        .iter()
        .map(|w| {
            let share = (target as f64 * w / wsum).max(1.0);
            1u64 << (share.log2().floor() as u32).min(24)
        })
        .collect();
    loop {
        let total: u64 = pgs.iter().sum();
        let cur = total.abs_diff(target);
        let best = (0..pgs.len())
            .map(|i| (i, (total + pgs[i]).abs_diff(target)))
            .min_by_key(|(_, d)| *d);
        match best {
            Some((i, d)) if d < cur && pgs[i] < (1 << 24) => pgs[i] *= 2,
            _ => break,
        }
    }
    pgs.into_iter().map(|p| p as u32).collect()
}

fn host_ip(h: usize) -> String {
    let n = h + 1;
    format!("10.{}.{}.10", n / 256, n % 256)
}

fn now_stamp() -> String {
    time::ceph_stamp(SystemTime::now())
}

fn now_secs() -> u64 {
    time::unix_secs(SystemTime::now())
}

impl Sim {
    fn new(cfg: SimConfig) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let fsid = fsid_for_seed(cfg.seed);
        let created = now_stamp();
        let nhosts = cfg.hosts as usize;
        let hosts: Vec<SimHost> = (0..nhosts)
            .map(|h| SimHost {
                name: format!("host-{h}"),
                ip: host_ip(h),
            })
            .collect();
        let mons: Vec<SimMon> = (0..cfg.mons as usize)
            .map(|i| SimMon {
                name: mon_name(i),
                addr: format!("10.0.0.{}:3300", i + 1),
                host: i % nhosts,
                up: true,
            })
            .collect();
        let nosds = cfg.osds as usize;
        let mut per_host = vec![0u32; nhosts];
        let hdd_sizes = [4u64, 8, 12, 16];
        let ssd_sizes = [2u64, 4];
        let host_hdd: Vec<u64> = (0..nhosts)
            .map(|_| hdd_sizes[rng.random_range(0..hdd_sizes.len())] << 40)
            .collect();
        let host_ssd: Vec<u64> = (0..nhosts)
            .map(|_| ssd_sizes[rng.random_range(0..ssd_sizes.len())] << 40)
            .collect();
        let first_epoch = 5u64;
        let osds: Vec<SimOsd> = (0..nosds)
            .map(|i| {
                let host = i * nhosts / nosds;
                let k = per_host[host];
                per_host[host] += 1;
                let ssd = i % 4 == 3;
                SimOsd {
                    id: i as i32,
                    uuid: uuid(&mut rng),
                    host,
                    ssd,
                    up: true,
                    in_: true,
                    weight: 1.0,
                    size: if ssd { host_ssd[host] } else { host_hdd[host] },
                    up_from: first_epoch + i as u64 / 64,
                    down_at: 0,
                    nonce: rng.random_range(1000..1_000_000),
                    port: 6800 + 8 * (k % 7000),
                    down_secs: 0.0,
                    lat_ns: if ssd {
                        rng.random_range(400_000.0..1_500_000.0)
                    } else {
                        rng.random_range(3_000_000.0..12_000_000.0)
                    },
                    perf: OsdPerf::default(),
                    created: created.clone(),
                }
            })
            .collect();
        let mut sim = Sim {
            cfg: cfg.clone(),
            rng,
            fsid,
            created: created.clone(),
            mons,
            mon_epoch: 1,
            election_epoch: 2 * cfg.mons as u64,
            hosts,
            osds,
            pools: Vec::new(),
            pool_max: 0,
            flags: [
                "sortbitwise",
                "recovery_deletes",
                "purged_snapdirs",
                "pglog_hardlimit",
            ]
            .iter()
            .filter_map(|f| flag_bit(f))
            .sum(),
            osd_epoch: first_epoch + nosds as u64 / 64 + 1,
            osd_modified: created.clone(),
            last_up_change: now_secs(),
            last_in_change: now_secs(),
            filesystems: Vec::new(),
            mds: Vec::new(),
            fs_epoch: 1,
            mgr: SimMgr {
                active: "x".into(),
                gid: 0,
                host: 0,
                standbys: Vec::new(),
            },
            mgr_epoch: 1,
            placement: Placement::new(&OsdMap::default()),
            work: BTreeMap::new(),
            numpg: vec![0; nosds],
            numpg_primary: vec![0; nosds],
            osd_schema: sim_perf::osd_schema(),
            mon_schema: sim_perf::mon_schema(),
            mon_perf: Vec::new(),
            perf_out: PerfOut::default(),
            recovered: (0, 0),
        };
        sim.mgr.gid = sim.rng.random_range(4100..5000);
        let standby_gid = sim.rng.random_range(5000..6000);
        sim.mgr.standbys.push(("y".into(), standby_gid, 1 % nhosts));
        sim.build_pools();
        sim.build_filesystems();
        sim.mon_perf = (0..sim.mons.len())
            .map(|i| {
                let role = if i == 0 { Role::Leader } else { Role::Peon };
                MonPerf::new(role, sim.mon_sessions(i))
            })
            .collect();
        sim.placement = Placement::new(&sim.osd_map());
        sim.remap(None);
        sim
    }

    fn default_size(&self) -> u32 {
        (self.cfg.osds).clamp(1, 3)
    }

    fn build_pools(&mut self) {
        let nfs = self.cfg.filesystems as usize;
        let npools = self.cfg.pools as usize;
        let mut specs: Vec<(String, Vec<String>, f64, f64)> = Vec::new();
        let extra = npools - 2 * nfs;
        for e in 0..extra {
            let name = if e == 0 {
                "rbd".to_string()
            } else {
                format!("pool-{e}")
            };
            specs.push((name, vec!["rbd".into()], 5.0, 4.0 * 1024.0 * 1024.0));
        }
        for f in 0..nfs {
            let fs = if f == 0 {
                "cephfs".to_string()
            } else {
                format!("cephfs{}", f + 1)
            };
            specs.push((
                format!("cephfs.{fs}.meta"),
                vec!["cephfs".into()],
                1.0,
                8192.0,
            ));
            specs.push((
                format!("cephfs.{fs}.data"),
                vec!["cephfs".into()],
                4.0,
                2.0 * 1024.0 * 1024.0,
            ));
        }
        let size = self.default_size();
        let target = self
            .cfg
            .pgs
            .unwrap_or_else(|| (u64::from(self.cfg.osds) * 100 / u64::from(size)).max(1));
        let weights: Vec<f64> = specs.iter().map(|s| s.2).collect();
        let split = pg_split(target, &weights);
        let raw: u64 = self.osds.iter().map(|o| o.size).sum();
        let fill = self.rng.random_range(0.15..0.35);
        let wsum: f64 = weights.iter().sum();
        for ((name, apps, w, obj), pg_num) in specs.into_iter().zip(split) {
            let bytes = raw as f64 * fill * w / wsum / f64::from(size);
            self.add_pool(&name, pg_num, size, apps, bytes, obj);
        }
    }

    /// Add a pool with all PGs `active+clean`; returns its id.
    pub(crate) fn add_pool(
        &mut self,
        name: &str,
        pg_num: u32,
        size: u32,
        apps: Vec<String>,
        bytes: f64,
        obj: f64,
    ) -> i64 {
        self.pool_max += 1;
        let id = self.pool_max;
        let busy = !apps.is_empty() && bytes > 0.0;
        let base_ops = if busy {
            self.rng.random_range(50.0..400.0) * (f64::from(self.cfg.osds) / 12.0).max(1.0).sqrt()
        } else {
            0.0
        };
        let io = Io {
            read_ops: base_ops * 1.5,
            write_ops: base_ops,
            read_size: self.rng.random_range(8192.0..131_072.0),
            write_size: self.rng.random_range(4096.0..65_536.0),
            base_ops,
        };
        let mut counts = BTreeMap::new();
        counts.insert(PgState::ACTIVE_CLEAN, u64::from(pg_num));
        self.pools.push(SimPool {
            id,
            name: name.to_string(),
            size,
            min_size: size - size / 2,
            applications: apps,
            quota_max_bytes: 0,
            quota_max_objects: 0,
            create_time: now_stamp(),
            last_change: self.osd_epoch,
            bytes,
            obj_size: obj,
            rd: 0.0,
            rd_bytes: 0.0,
            wr: 0.0,
            wr_bytes: 0.0,
            io,
            pgs: Arc::new(PoolPgs {
                pool: id,
                states: vec![PgState::ACTIVE_CLEAN; pg_num as usize],
            }),
            counts,
        });
        id
    }

    fn build_filesystems(&mut self) {
        let nhosts = self.hosts.len();
        for f in 0..self.cfg.filesystems as usize {
            let name = if f == 0 {
                "cephfs".to_string()
            } else {
                format!("cephfs{}", f + 1)
            };
            let meta = self
                .pools
                .iter()
                .find(|p| p.name == format!("cephfs.{name}.meta"))
                .map_or(0, |p| p.id);
            let data = self
                .pools
                .iter()
                .find(|p| p.name == format!("cephfs.{name}.data"))
                .map_or(0, |p| p.id);
            self.filesystems.push(SimFs {
                id: f as i64 + 1,
                name: name.clone(),
                metadata_pool: meta,
                data_pools: vec![data],
                created: self.created.clone(),
                mds_epoch: 3,
            });
            for (k, role) in [Some((f, 0)), None].into_iter().enumerate() {
                let host = (2 * f + k + 2) % nhosts;
                let suffix: String = (0..6)
                    .map(|_| (b'a' + self.rng.random_range(0..26u8)) as char)
                    .collect();
                let gid = self.rng.random_range(14_000..90_000);
                self.mds.push(SimMds {
                    name: format!("{name}.{}.{suffix}", self.hosts[host].name),
                    gid,
                    host,
                    role,
                    state: if role.is_some() {
                        "up:active"
                    } else {
                        "up:standby"
                    },
                    transition: 0,
                });
            }
        }
    }

    pub(crate) fn has_flag(&self, name: &str) -> bool {
        flag_bit(name).is_some_and(|b| self.flags & b != 0)
    }

    pub(crate) fn pool_index(&self, id: i64) -> Option<usize> {
        self.pools.iter().position(|p| p.id == id)
    }

    pub(crate) fn mon_leader(&self) -> Option<&SimMon> {
        let up = self.mons.iter().filter(|m| m.up).count();
        if up * 2 > self.mons.len() {
            self.mons.iter().find(|m| m.up)
        } else {
            None
        }
    }

    /// Name to log as: the leader mon.
    pub(crate) fn mon_who(&self) -> String {
        self.mon_leader()
            .map_or_else(|| "mon".to_string(), |m| format!("mon.{}", m.name))
    }

    // ---- maps ----

    pub(crate) fn osd_map(&self) -> OsdMap {
        let flags = OSD_FLAGS
            .iter()
            .filter(|(_, b)| self.flags & b != 0)
            .map(|(n, _)| n.to_string())
            .collect();
        OsdMap {
            epoch: self.osd_epoch,
            fsid: self.fsid.clone(),
            flags,
            osds: self
                .osds
                .iter()
                .map(|o| {
                    let ip = &self.hosts[o.host].ip;
                    OsdInfo {
                        id: o.id,
                        uuid: o.uuid.clone(),
                        up: o.up,
                        in_: o.in_,
                        weight: o.weight,
                        crush_weight: o.size as f64 / (1u64 << 40) as f64,
                        primary_affinity: 1.0,
                        host: self.hosts[o.host].name.clone(),
                        device_class: if o.ssd { "ssd" } else { "hdd" }.into(),
                        public_addr: format!("{ip}:{}", o.port),
                        cluster_addr: format!("{ip}:{}", o.port + 2),
                        up_from: o.up_from,
                        down_at: o.down_at,
                        nonce: o.nonce,
                    }
                })
                .collect(),
            pools: self
                .pools
                .iter()
                .map(|p| PoolInfo {
                    id: p.id,
                    name: p.name.clone(),
                    pool_type: "replicated".into(),
                    size: p.size,
                    min_size: p.min_size,
                    pg_num: p.pg_num(),
                    pgp_num: p.pg_num(),
                    crush_rule: 0,
                    applications: p.applications.clone(),
                    quota_max_bytes: p.quota_max_bytes,
                    quota_max_objects: p.quota_max_objects,
                    create_time: p.create_time.clone(),
                    last_change: p.last_change,
                })
                .collect(),
            full_ratio: 0.95,
            backfillfull_ratio: 0.9,
            nearfull_ratio: 0.85,
            created: self.created.clone(),
            modified: self.osd_modified.clone(),
            pool_max: self.pool_max,
            last_up_change: self.last_up_change,
            last_in_change: self.last_in_change,
        }
    }

    fn mon_map(&self) -> MonMap {
        let leader = self.mon_leader().map(|m| m.name.clone());
        let quorate = leader.is_some();
        MonMap {
            epoch: self.mon_epoch,
            fsid: self.fsid.clone(),
            mons: self
                .mons
                .iter()
                .enumerate()
                .map(|(i, m)| MonInfo {
                    name: m.name.clone(),
                    rank: i as u32,
                    public_addr: m.addr.clone(),
                    in_quorum: quorate && m.up,
                })
                .collect(),
            quorum: self
                .mons
                .iter()
                .enumerate()
                .filter(|(_, m)| quorate && m.up)
                .map(|(i, _)| i as u32)
                .collect(),
            leader,
            election_epoch: self.election_epoch,
            created: self.created.clone(),
            modified: self.created.clone(),
        }
    }

    fn mds_info(&self, m: &SimMds) -> MdsInfo {
        MdsInfo {
            name: m.name.clone(),
            gid: m.gid,
            rank: m.role.map_or(-1, |(_, r)| r),
            state: m.state.to_string(),
            addr: format!("{}:6800", self.hosts[m.host].ip.replace(".10", ".20")),
        }
    }

    fn fs_map(&self) -> FsMap {
        FsMap {
            epoch: self.fs_epoch,
            filesystems: self
                .filesystems
                .iter()
                .enumerate()
                .map(|(i, f)| Filesystem {
                    id: f.id,
                    name: f.name.clone(),
                    metadata_pool: f.metadata_pool,
                    data_pools: f.data_pools.clone(),
                    max_mds: 1,
                    mdss: self
                        .mds
                        .iter()
                        .filter(|m| m.role.is_some_and(|(fi, _)| fi == i))
                        .map(|m| self.mds_info(m))
                        .collect(),
                    created: f.created.clone(),
                    mds_epoch: f.mds_epoch,
                })
                .collect(),
            standbys: self
                .mds
                .iter()
                .filter(|m| m.role.is_none())
                .map(|m| self.mds_info(m))
                .collect(),
        }
    }

    fn mgr_map(&self) -> MgrMap {
        MgrMap {
            epoch: self.mgr_epoch,
            active_name: self.mgr.active.clone(),
            active_gid: self.mgr.gid,
            active_addr: format!("{}:6820", self.hosts[self.mgr.host].ip),
            available: true,
            standbys: self
                .mgr
                .standbys
                .iter()
                .map(|(n, g, _)| MgrStandby {
                    name: n.clone(),
                    gid: *g,
                })
                .collect(),
            modules: Vec::new(),
            services: Vec::new(),
        }
    }

    fn inventory(&self) -> (Vec<Server>, MetadataMap, Vec<ConfigEntry>) {
        let mut daemons: Vec<Vec<DaemonKey>> = vec![Vec::new(); self.hosts.len()];
        let key = |kind: &str, id: String| DaemonKey {
            kind: kind.to_string(),
            id,
        };
        for m in &self.mons {
            daemons[m.host].push(key("mon", m.name.clone()));
        }
        daemons[self.mgr.host].push(key("mgr", self.mgr.active.clone()));
        for (n, _, h) in &self.mgr.standbys {
            daemons[*h].push(key("mgr", n.clone()));
        }
        for m in &self.mds {
            daemons[m.host].push(key("mds", m.name.clone()));
        }
        for o in &self.osds {
            daemons[o.host].push(key("osd", o.id.to_string()));
        }
        let servers = self
            .hosts
            .iter()
            .zip(daemons)
            .map(|(h, d)| Server {
                hostname: h.name.clone(),
                ceph_version: CEPH_VERSION.to_string(),
                daemons: d,
            })
            .collect();
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let common = Arc::new(vec![
            pair("arch", "x86_64"),
            pair("ceph_release", "pacific"),
            pair("ceph_version", CEPH_VERSION),
            pair("ceph_version_short", "16.2.15"),
            pair("cpu", "AMD EPYC"),
            pair("distro", "debian"),
            pair("distro_description", "Debian GNU/Linux 12 (bookworm)"),
            pair("distro_version", "12"),
            pair("kernel_description", "#1 SMP PREEMPT_DYNAMIC"),
            pair("kernel_version", "6.1.0-18-amd64"),
            pair("mem_swap_kb", "0"),
            pair("mem_total_kb", "131891972"),
            pair("os", "Linux"),
        ]);
        let osd_common = Arc::new(
            common
                .iter()
                .cloned()
                .chain([
                    pair("back_iface", ""),
                    pair("front_iface", ""),
                    pair("ceph_version_when_created", CEPH_VERSION),
                    pair("osd_objectstore", "bluestore"),
                    pair("osdspec_affinity", ""),
                ])
                .collect::<Vec<_>>(),
        );
        let mut md = MetadataMap::new();
        for o in &self.osds {
            let ip = &self.hosts[o.host].ip;
            let front = wasm_mgr_cluster::json::addrvec_str(&format!("{ip}:{}", o.port), o.nonce);
            let back =
                wasm_mgr_cluster::json::addrvec_str(&format!("{ip}:{}", o.port + 2), o.nonce);
            let dev = format!("sd{}", (b'a' + (o.id % 26) as u8) as char);
            md.insert(
                key("osd", o.id.to_string()),
                DaemonMetadata {
                    common: Arc::clone(&osd_common),
                    own: vec![
                        pair("back_addr", &back),
                        pair("front_addr", &front),
                        pair("hb_back_addr", &back.replace(":6", ":7")),
                        pair("hb_front_addr", &front.replace(":6", ":7")),
                        pair("created_at", &o.created),
                        pair("default_device_class", if o.ssd { "ssd" } else { "hdd" }),
                        pair("devices", &dev),
                        pair("device_ids", ""),
                        pair("device_paths", ""),
                        pair("hostname", &self.hosts[o.host].name),
                        pair("osd_data", &format!("/var/lib/ceph/osd/ceph-{}", o.id)),
                        pair("rotational", if o.ssd { "0" } else { "1" }),
                        pair("journal_rotational", if o.ssd { "0" } else { "1" }),
                        pair("bluestore_bdev_size", &o.size.to_string()),
                    ],
                },
            );
        }
        for m in &self.mons {
            md.insert(
                key("mon", m.name.clone()),
                DaemonMetadata {
                    common: Arc::clone(&common),
                    own: vec![
                        pair(
                            "addrs",
                            &format!(
                                "[v2:{}/0,v1:{}:6789/0]",
                                m.addr,
                                m.addr.trim_end_matches(":3300")
                            ),
                        ),
                        pair("hostname", &self.hosts[m.host].name),
                        pair("compression_algorithms", "none, snappy, zlib, zstd, lz4"),
                    ],
                },
            );
        }
        let mgrs = std::iter::once((self.mgr.active.clone(), self.mgr.host))
            .chain(self.mgr.standbys.iter().map(|(n, _, h)| (n.clone(), *h)));
        for (name, host) in mgrs {
            md.insert(
                key("mgr", name),
                DaemonMetadata {
                    common: Arc::clone(&common),
                    own: vec![pair("hostname", &self.hosts[host].name)],
                },
            );
        }
        for m in &self.mds {
            md.insert(
                key("mds", m.name.clone()),
                DaemonMetadata {
                    common: Arc::clone(&common),
                    own: vec![
                        pair("hostname", &self.hosts[m.host].name),
                        pair("addr", &self.mds_info(m).addr),
                    ],
                },
            );
        }
        let config = vec![
            ConfigEntry {
                section: "global".into(),
                name: "osd_pool_default_size".into(),
                value: self.default_size().to_string(),
                level: "advanced".into(),
                can_update_at_runtime: true,
                mask: String::new(),
            },
            ConfigEntry {
                section: "mon".into(),
                name: "mon_osd_down_out_interval".into(),
                value: format!("{DOWN_OUT_INTERVAL_SECS}"),
                level: "advanced".into(),
                can_update_at_runtime: true,
                mask: String::new(),
            },
            ConfigEntry {
                section: "mgr".into(),
                name: "mgr/prometheus/server_port".into(),
                value: "9283".into(),
                level: "advanced".into(),
                can_update_at_runtime: true,
                mask: String::new(),
            },
        ];
        (servers, md, config)
    }

    // ---- PGs ----

    /// The state a PG has given its work and how many replicas are up.
    pub(crate) fn state_for(&self, pool: &SimPool, up: usize, work: Option<Work>) -> PgState {
        let size = pool.size as usize;
        if up == 0 {
            return PgState::STALE
                .with(PgState::UNDERSIZED)
                .with(PgState::DEGRADED)
                .with(PgState::PEERED);
        }
        let mut s = if up < pool.min_size as usize {
            PgState::PEERED
        } else {
            PgState::ACTIVE
        };
        if up < size {
            s = s.with(PgState::UNDERSIZED).with(PgState::DEGRADED);
        }
        match work {
            Some(Work::Backfill) => {
                s = s.with(PgState::REMAPPED);
                if self.has_flag("nobackfill") || self.has_flag("norebalance") {
                    s = s.with(PgState::BACKFILL_WAIT);
                } else {
                    s = s.with(PgState::BACKFILLING);
                }
            }
            Some(Work::Recover) => {
                s = s.with(PgState::DEGRADED);
                if self.has_flag("norecover") {
                    s = s.with(PgState::RECOVERY_WAIT);
                } else {
                    s = s.with(PgState::RECOVERING);
                }
            }
            Some(Work::Scrub { deep }) => {
                s = s.with(PgState::CLEAN).with(PgState::SCRUBBING);
                if deep {
                    s = s.with(PgState::DEEP);
                }
            }
            Some(Work::Degraded) | None => {
                if up >= size {
                    s = s.with(PgState::CLEAN);
                }
            }
        }
        s
    }

    pub(crate) fn set_state(&mut self, pi: usize, ps: u32, st: PgState) {
        let pool = &mut self.pools[pi];
        let Some(old) = pool.pgs.states.get(ps as usize).copied() else {
            return;
        };
        if old == st {
            return;
        }
        if let Some(n) = pool.counts.get_mut(&old) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pool.counts.remove(&old);
            }
        }
        *pool.counts.entry(st).or_default() += 1;
        Arc::make_mut(&mut pool.pgs).states[ps as usize] = st;
    }

    /// Recount PGs per OSD and, when `old` (the placement and pool sizes before a
    /// change) is given, move the PGs whose OSDs changed into recovery.
    pub(crate) fn remap(&mut self, old: Option<(&Placement, &BTreeMap<i64, u32>)>) {
        let new = Placement::new(&self.osd_map());
        let mut numpg = vec![0u32; self.osds.len()];
        let mut primary = vec![0u32; self.osds.len()];
        let mut changes: Vec<(usize, u32, usize, Option<Work>)> = Vec::new();
        for (pi, pool) in self.pools.iter().enumerate() {
            let old_size = old.and_then(|(_, s)| s.get(&pool.id).copied());
            for ps in 0..pool.pg_num() {
                let m = new.map(pool.id, ps, pool.size);
                for o in m.raw() {
                    if let Some(n) = numpg.get_mut(*o as usize) {
                        *n += 1;
                    }
                }
                if let Ok(p) = usize::try_from(m.primary())
                    && let Some(n) = primary.get_mut(p)
                {
                    *n += 1;
                }
                let (Some((old_p, _)), Some(old_size)) = (old, old_size) else {
                    continue;
                };
                let before = old_p.map(pool.id, ps, old_size);
                if before == m {
                    continue;
                }
                let up = m.up().len();
                let work = if before.raw() != m.raw() {
                    Some(Work::Backfill)
                } else if up < pool.size as usize {
                    Some(Work::Degraded)
                } else if up > before.up().len() {
                    Some(Work::Recover)
                } else {
                    None
                };
                changes.push((pi, ps, up, work));
            }
        }
        for ((o, before), after) in self.osds.iter_mut().zip(&self.numpg).zip(&numpg) {
            o.perf.pgs_removed(before.saturating_sub(*after));
        }
        self.numpg = numpg;
        self.numpg_primary = primary;
        self.placement = new;
        for (pi, ps, up, work) in changes {
            let key = (self.pools[pi].id, ps);
            match work {
                Some(kind) => {
                    let total = match kind {
                        Work::Backfill => self.rng.random_range(3..=6),
                        Work::Recover => self.rng.random_range(1..=3),
                        _ => 0,
                    };
                    self.work.insert(
                        key,
                        PgWork {
                            kind,
                            left: total,
                            total,
                        },
                    );
                }
                None => {
                    self.work.remove(&key);
                }
            }
            let st = self.state_for(&self.pools[pi], up, work);
            self.set_state(pi, ps, st);
        }
    }

    /// Change a pool's PG count: new PGs start `active+clean`, removed ones vanish.
    pub(crate) fn resize_pool(&mut self, pi: usize, pg_num: u32) {
        let pool = &mut self.pools[pi];
        let id = pool.id;
        let states = &mut Arc::make_mut(&mut pool.pgs).states;
        states.resize(pg_num as usize, PgState::ACTIVE_CLEAN);
        let mut counts = BTreeMap::new();
        for st in states.iter() {
            *counts.entry(*st).or_default() += 1;
        }
        pool.counts = counts;
        self.work.retain(|(p, ps), _| *p != id || *ps < pg_num);
    }

    /// Snapshot of pool sizes, for [`Sim::remap`].
    pub(crate) fn pool_sizes(&self) -> BTreeMap<i64, u32> {
        self.pools.iter().map(|p| (p.id, p.size)).collect()
    }

    /// Advance PG work by one tick; returns clog lines (who, message).
    fn advance_work(&mut self) -> Vec<(String, String)> {
        let mut log = Vec::new();
        let keys: Vec<(i64, u32)> = self.work.keys().copied().collect();
        let mut recovered = (0u64, 0u64);
        for key in keys {
            let Some(pi) = self.pool_index(key.0) else {
                self.work.remove(&key);
                continue;
            };
            let Some(mut w) = self.work.get(&key).copied() else {
                continue;
            };
            let m = self.placement.map(key.0, key.1, self.pools[pi].size);
            let up = m.up().len();
            let blocked = match w.kind {
                Work::Backfill => self.has_flag("nobackfill") || self.has_flag("norebalance"),
                Work::Recover => self.has_flag("norecover"),
                Work::Degraded => true,
                Work::Scrub { .. } => false,
            };
            if !blocked && w.left > 0 {
                w.left -= 1;
                if matches!(w.kind, Work::Backfill | Work::Recover) {
                    let objs = self.pools[pi].pg_objects(key.1) / u64::from(w.total.max(1));
                    recovered.0 += objs;
                    recovered.1 += (objs as f64 * self.pools[pi].obj_size) as u64;
                }
            }
            if !blocked && w.left == 0 {
                self.work.remove(&key);
                if let Work::Scrub { deep } = w.kind {
                    let what = if deep { "deep-scrub" } else { "scrub" };
                    log.push((
                        format!("osd.{}", m.primary()),
                        format!("{} {what} ok", pgid(key.0, key.1)),
                    ));
                }
                let next = if up < self.pools[pi].size as usize {
                    let d = PgWork {
                        kind: Work::Degraded,
                        left: 0,
                        total: 0,
                    };
                    self.work.insert(key, d);
                    Some(Work::Degraded)
                } else {
                    None
                };
                let st = self.state_for(&self.pools[pi], up, next);
                self.set_state(pi, key.1, st);
            } else {
                self.work.insert(key, w);
                let st = self.state_for(&self.pools[pi], up, Some(w.kind));
                self.set_state(pi, key.1, st);
            }
        }
        self.recovered = recovered;
        log
    }

    /// Start a scrub of a clean PG; returns the primary or None if it cannot scrub now.
    pub(crate) fn start_scrub(&mut self, pool: i64, ps: u32, deep: bool) -> Option<i32> {
        let pi = self.pool_index(pool)?;
        if self.work.contains_key(&(pool, ps)) {
            return None;
        }
        let st = *self.pools[pi].pgs.states.get(ps as usize)?;
        if st != PgState::ACTIVE_CLEAN {
            return None;
        }
        let m = self.placement.map(pool, ps, self.pools[pi].size);
        let total = self.rng.random_range(2..=4);
        self.work.insert(
            (pool, ps),
            PgWork {
                kind: Work::Scrub { deep },
                left: total,
                total,
            },
        );
        let st = self.state_for(&self.pools[pi], m.up().len(), Some(Work::Scrub { deep }));
        self.set_state(pi, ps, st);
        Some(m.primary())
    }

    // ---- tick ----

    /// Move the cluster by one tick and publish.
    pub(crate) fn tick(&mut self, cluster: &Cluster) {
        let dt = self.cfg.tick.as_secs_f64();
        let mut log: Vec<(String, &'static str, String)> = Vec::new();
        // Client IO drifts; data grows.
        let pause_r = self.has_flag("pauserd");
        let pause_w = self.has_flag("pausewr");
        for p in &mut self.pools {
            let io = &mut p.io;
            if io.base_ops <= 0.0 {
                continue;
            }
            let step = |rng: &mut ChaCha8Rng, v: f64, base: f64| {
                (v * (1.0 + rng.random_range(-0.08..0.08))).clamp(base * 0.2, base * 5.0)
            };
            io.read_ops = step(&mut self.rng, io.read_ops, io.base_ops * 1.5);
            io.write_ops = step(&mut self.rng, io.write_ops, io.base_ops);
            let r = if pause_r { 0.0 } else { io.read_ops * dt };
            let w = if pause_w { 0.0 } else { io.write_ops * dt };
            p.rd += r;
            p.rd_bytes += r * io.read_size;
            p.wr += w;
            p.wr_bytes += w * io.write_size;
            // Most writes overwrite; a small part appends new data.
            p.bytes += w * io.write_size * 0.02;
        }
        // Down OSDs get marked out after the interval unless noout.
        let mut marked_out = Vec::new();
        for o in &mut self.osds {
            if !o.up {
                o.down_secs += dt;
                if o.in_ && o.down_secs >= DOWN_OUT_INTERVAL_SECS && !flag_set(self.flags, "noout")
                {
                    marked_out.push(o.id);
                }
            }
        }
        if !marked_out.is_empty() {
            let old = self.placement.clone();
            let sizes = self.pool_sizes();
            let who = self.mon_who();
            for id in &marked_out {
                if let Some(o) = self.osds.get_mut(*id as usize) {
                    o.in_ = false;
                    log.push((
                        who.clone(),
                        "INF",
                        format!(
                            "Marking osd.{id} out (has been down for {} seconds)",
                            DOWN_OUT_INTERVAL_SECS as u64
                        ),
                    ));
                }
            }
            self.osd_epoch += 1;
            self.osd_modified = now_stamp();
            self.last_in_change = now_secs();
            self.remap(Some((&old, &sizes)));
        }
        // MDS failover progresses.
        let mut fs_changed = false;
        for m in &mut self.mds {
            if m.transition > 0 {
                m.transition -= 1;
                if m.transition == 0 {
                    m.state = "up:active";
                    fs_changed = true;
                }
            }
        }
        if fs_changed {
            self.fs_epoch += 1;
            for f in &mut self.filesystems {
                f.mds_epoch += 1;
            }
        }
        for (who, msg) in self.advance_work() {
            log.push((who, "DBG", msg));
        }
        // Scrubs start now and then.
        let total_pgs: u64 = self.pools.iter().map(|p| u64::from(p.pg_num())).sum();
        if total_pgs > 0 && !self.has_flag("noscrub") {
            let chance = (total_pgs as f64 / 2000.0).clamp(0.15, 1.0);
            let mut n = 0;
            while n < MAX_SCRUBS_PER_TICK && self.rng.random_bool(chance) {
                n += 1;
                let pick = self.rng.random_range(0..total_pgs);
                let mut acc = 0u64;
                let mut found = None;
                for p in &self.pools {
                    let k = u64::from(p.pg_num());
                    if pick < acc + k {
                        found = Some((p.id, (pick - acc) as u32));
                        break;
                    }
                    acc += k;
                }
                let deep = !self.has_flag("nodeep-scrub") && self.rng.random_range(0..7) == 0;
                if let Some((pool, ps)) = found
                    && let Some(primary) = self.start_scrub(pool, ps, deep)
                {
                    let what = if deep { "deep-scrub" } else { "scrub" };
                    log.push((
                        format!("osd.{primary}"),
                        "DBG",
                        format!("{} {what} starts", pgid(pool, ps)),
                    ));
                }
            }
        }
        self.advance_perf(dt);
        self.advance_mon_perf(dt);
        let dirty = Dirty {
            osd: !marked_out.is_empty(),
            fs: fs_changed,
            ..Dirty::default()
        };
        self.publish(cluster, dirty);
        for (who, prio, msg) in log {
            cluster.log_to_cluster(&who, "cluster", prio, &msg);
        }
    }

    fn advance_perf(&mut self, dt: f64) {
        let (mut r, mut w, mut rb, mut wb) = (0.0, 0.0, 0.0, 0.0);
        if !self.has_flag("pauserd") {
            for p in &self.pools {
                r += p.io.read_ops * dt;
                rb += p.io.read_ops * p.io.read_size * dt;
            }
        }
        if !self.has_flag("pausewr") {
            for p in &self.pools {
                w += p.io.write_ops * dt;
                wb += p.io.write_ops * p.io.write_size * dt;
            }
        }
        let prim_total: f64 = self
            .numpg_primary
            .iter()
            .map(|n| f64::from(*n))
            .sum::<f64>()
            .max(1.0);
        let (rec_o, rec_b) = self.recovered;
        let numpg_total: f64 = self
            .numpg
            .iter()
            .map(|n| f64::from(*n))
            .sum::<f64>()
            .max(1.0);
        for (i, o) in self.osds.iter_mut().enumerate() {
            if !o.up {
                continue;
            }
            let share = f64::from(self.numpg_primary.get(i).copied().unwrap_or(0)) / prim_total;
            let rshare = f64::from(self.numpg.get(i).copied().unwrap_or(0)) / numpg_total;
            let jitter = 1.0 + self.rng.random_range(-0.2..0.2);
            let load = OsdLoad {
                reads: r * share,
                writes: w * share,
                read_bytes: rb * share,
                write_bytes: wb * share,
                recovery_ops: rec_o as f64 * rshare,
                recovery_bytes: rec_b as f64 * rshare,
            };
            o.perf.advance(&load, dt, o.lat_ns, jitter);
        }
    }

    /// Sessions open on monitor `i`: every daemon and a few clients keep one on some
    /// monitor of the quorum.
    pub(crate) fn mon_sessions(&self, i: usize) -> u64 {
        let up = self.mons.iter().filter(|m| m.up).count().max(1) as u64;
        let daemons = (self.osds.len() + self.mds.len() + 2) as u64;
        (daemons + 6) / up + (i as u64 % 3)
    }

    /// Monitor `changed` went up or down and the others noticed: the monitors that are
    /// up hold an election, which the first of them wins when they form a quorum. A
    /// monitor that comes back calls it and then stores the state it missed; when one
    /// goes away, the first to notice (the leader when a peon stops acknowledging its
    /// lease, a peon when the leader stops extending it) calls it.
    pub(crate) fn mon_election(&mut self, changed: usize) {
        if self.mon_leader().is_none() {
            return;
        }
        let Some(leader) = self.mons.iter().position(|m| m.up) else {
            return;
        };
        let came_up = self.mons[changed].up;
        let caller = if came_up {
            changed
        } else if changed < leader {
            // The old leader went away: its peons' leases time out.
            for (m, p) in self.mons.iter().zip(self.mon_perf.iter_mut()) {
                if m.up {
                    p.lease_expired();
                }
            }
            leader
        } else {
            self.mon_perf[leader].lease_unacked();
            leader
        };
        for k in 0..self.mons.len() {
            if self.mons[k].up {
                let role = if k == leader {
                    Role::Leader
                } else {
                    Role::Peon
                };
                self.mon_perf[k].election(role, k == caller);
            }
        }
        if came_up && changed != leader {
            let versions = self.rng.random_range(5..50);
            self.mon_perf[leader].shared_state(versions);
            self.mon_perf[changed].stored_state(versions);
        }
    }

    /// Move the monitors' counters by one tick: Paxos commits about once a second
    /// while there is a quorum; their size grows with the cluster.
    fn advance_mon_perf(&mut self, dt: f64) {
        let quorum = self.mon_leader().is_some();
        let commits = if quorum {
            (0.7 * dt + self.rng.random_range(0.0..1.0)) as u64
        } else {
            0
        };
        let bytes = 12_000 + 80 * self.osds.len() as u64;
        let daemons = (self.osds.len() + self.mds.len() + self.mons.len() + 2) as u64;
        let leader = self.mons.iter().position(|m| m.up);
        for i in 0..self.mons.len() {
            if !self.mons[i].up {
                continue;
            }
            let role = if Some(i) == leader {
                Role::Leader
            } else {
                Role::Peon
            };
            let sessions = self.mon_sessions(i);
            self.mon_perf[i].tick(&mut self.rng, role, commits, bytes, sessions, daemons);
        }
    }

    // ---- publishing ----

    fn osd_used(&self) -> Vec<u64> {
        let raw: f64 = self.pools.iter().map(|p| p.bytes * f64::from(p.size)).sum();
        let total: f64 = self
            .numpg
            .iter()
            .map(|n| f64::from(*n))
            .sum::<f64>()
            .max(1.0);
        self.osds
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let share = f64::from(self.numpg.get(i).copied().unwrap_or(0)) / total;
                ((raw * share) as u64 + o.size / 500).min(o.size)
            })
            .collect()
    }

    /// Every daemon's counters, values zero: monitors, then OSDs.
    fn perf_layout(&self) -> Vec<DaemonCounters> {
        let daemon = |name: String, schema: &Arc<[CounterDef]>| DaemonCounters {
            daemon: Arc::from(name),
            schema: Arc::clone(schema),
            values: vec![(0, 0); schema.len()],
        };
        let mons = self
            .mons
            .iter()
            .map(|m| daemon(format!("mon.{}", m.name), &self.mon_schema));
        let osds = self
            .osds
            .iter()
            .map(|o| daemon(format!("osd.{}", o.id), &self.osd_schema));
        mons.chain(osds).collect()
    }

    /// Write every daemon's counters into `out` (laid out by [`Sim::perf_layout`]).
    /// Monitors that are down keep their last values, as ceph-mgr keeps a daemon's
    /// last report.
    fn render_perf(&self, out: &mut [DaemonCounters], used: &[u64]) {
        let (mons, osds) = out.split_at_mut(self.mons.len());
        for (d, p) in mons.iter_mut().zip(&self.mon_perf) {
            d.values.copy_from_slice(&p.values);
        }
        for (i, (d, o)) in osds.iter_mut().zip(&self.osds).enumerate() {
            let numpg = self.numpg.get(i).copied().unwrap_or(0);
            let u = used.get(i).copied().unwrap_or(0);
            o.perf.render(&mut d.values, numpg, o.size, u);
        }
    }

    /// The PG map: summary, usage, PG table, problems for health.
    fn pg_state(&self, used: &[u64]) -> (PgSummary, Df, Vec<PgProblem>) {
        let dt = self.cfg.tick.as_secs_f64();
        let mut all: BTreeMap<PgState, u64> = BTreeMap::new();
        let mut by_pool = Vec::new();
        let mut pools = Vec::new();
        let mut problems = Vec::new();
        let mut degraded_by_pool: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        let (rec_o, rec_b) = self.recovered;
        let mut moving = 0u64;
        for (&(pool, ps), w) in &self.work {
            let Some(pi) = self.pool_index(pool) else {
                continue;
            };
            let p = &self.pools[pi];
            let st = p.pgs.states.get(ps as usize).copied().unwrap_or_default();
            let objs = p.pg_objects(ps);
            let m = self.placement.map(pool, ps, p.size);
            let missing = (p.size as usize).saturating_sub(m.up().len()) as u64;
            let e = degraded_by_pool.entry(pool).or_default();
            if st.has(PgState::DEGRADED) {
                e.0 += objs * missing.max(1);
            }
            if st.has(PgState::REMAPPED) {
                e.1 += objs;
            }
            if matches!(w.kind, Work::Backfill | Work::Recover) {
                moving += 1;
            }
            if st != PgState::ACTIVE_CLEAN
                && !matches!(w.kind, Work::Scrub { .. })
                && problems.len() < MAX_PROBLEMS
            {
                problems.push(PgProblem {
                    pgid: pgid(pool, ps),
                    state: st,
                    acting: m.up().to_vec(),
                });
            }
        }
        let mut num_objects = 0;
        let mut copies = 0;
        let mut data_bytes = 0u64;
        let (mut rbs, mut wbs, mut rops, mut wops) = (0u64, 0u64, 0u64, 0u64);
        let (mut deg, mut mis) = (0u64, 0u64);
        let moving = moving.max(1);
        let pause_r = self.has_flag("pauserd");
        let pause_w = self.has_flag("pausewr");
        for p in &self.pools {
            for (st, n) in &p.counts {
                *all.entry(*st).or_default() += n;
            }
            by_pool.push(PoolPgStates {
                pool_id: p.id,
                states: sorted_counts(&p.counts),
            });
            let objects = p.objects();
            let (d, m) = degraded_by_pool.get(&p.id).copied().unwrap_or_default();
            let pool_moving = self
                .work
                .range((p.id, 0)..=(p.id, u32::MAX))
                .filter(|(_, w)| matches!(w.kind, Work::Backfill | Work::Recover))
                .count() as u64;
            let stat = PoolStat {
                id: p.id,
                num_pg: u64::from(p.pg_num()),
                objects,
                bytes: p.bytes as u64,
                rd: p.rd as u64,
                rd_bytes: p.rd_bytes as u64,
                wr: p.wr as u64,
                wr_bytes: p.wr_bytes as u64,
                read_bytes_sec: if pause_r {
                    0
                } else {
                    (p.io.read_ops * p.io.read_size) as u64
                },
                write_bytes_sec: if pause_w {
                    0
                } else {
                    (p.io.write_ops * p.io.write_size) as u64
                },
                read_op_per_sec: if pause_r { 0 } else { p.io.read_ops as u64 },
                write_op_per_sec: if pause_w { 0 } else { p.io.write_ops as u64 },
                degraded_objects: d,
                misplaced_objects: m,
                recovering_bytes_per_sec: (rec_b as f64 * pool_moving as f64 / moving as f64 / dt)
                    as u64,
                recovering_objects_per_sec: (rec_o as f64 * pool_moving as f64 / moving as f64 / dt)
                    as u64,
            };
            num_objects += objects;
            copies += objects * u64::from(p.size);
            data_bytes += stat.bytes;
            rbs += stat.read_bytes_sec;
            wbs += stat.write_bytes_sec;
            rops += stat.read_op_per_sec;
            wops += stat.write_op_per_sec;
            deg += d;
            mis += m;
            pools.push(stat);
        }
        let osds: Vec<OsdStat> = self
            .osds
            .iter()
            .enumerate()
            .map(|(i, o)| OsdStat {
                id: o.id,
                up_from: o.up_from,
                total_bytes: o.size,
                used_bytes: used.get(i).copied().unwrap_or(0),
                num_pgs: self.numpg.get(i).copied().unwrap_or(0),
                num_pgs_primary: self.numpg_primary.get(i).copied().unwrap_or(0),
                commit_latency_ms: (o.lat_ns / 1e6).round() as u32,
                apply_latency_ms: (o.lat_ns / 1e6).round() as u32,
            })
            .collect();
        let (mut total, mut total_used) = (0u64, 0u64);
        let mut classes: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (i, o) in self.osds.iter().enumerate() {
            if !o.up {
                continue;
            }
            let u = used.get(i).copied().unwrap_or(0);
            total += o.size;
            total_used += u;
            let c = classes
                .entry(if o.ssd { "ssd" } else { "hdd" })
                .or_default();
            c.0 += o.size;
            c.1 += u;
        }
        let avail = total.saturating_sub(total_used);
        let summary = PgSummary {
            epoch: 0,
            num_pgs: self.pools.iter().map(|p| u64::from(p.pg_num())).sum(),
            num_objects,
            by_state: sorted_counts(&all),
            by_pool,
            degraded_objects: deg,
            misplaced_objects: mis,
            read_bytes_sec: rbs,
            write_bytes_sec: wbs,
            read_op_per_sec: rops,
            write_op_per_sec: wops,
            recovering_bytes_per_sec: (rec_b as f64 / dt) as u64,
            recovering_objects_per_sec: (rec_o as f64 / dt) as u64,
            num_object_copies: copies,
            data_bytes,
            bytes_used: total_used,
            bytes_avail: avail,
            bytes_total: total,
            stamp: now_stamp(),
            stamp_delta: dt,
            pools: pools.clone(),
            osds,
        };
        let df = Df {
            epoch: 0,
            total_bytes: total,
            total_used_bytes: total_used,
            total_avail_bytes: avail,
            pools: self
                .pools
                .iter()
                .zip(&pools)
                .map(|(p, s)| {
                    let max_avail = (avail as f64 * 0.95 / f64::from(p.size.max(1))) as u64;
                    let used = s.bytes * u64::from(p.size);
                    let pct = if s.bytes + max_avail == 0 {
                        0.0
                    } else {
                        s.bytes as f64 / (s.bytes + max_avail) as f64
                    };
                    PoolUsage {
                        id: p.id,
                        name: p.name.clone(),
                        stored: s.bytes,
                        objects: s.objects,
                        bytes_used: used,
                        max_avail,
                        percent_used: pct,
                        rd: s.rd,
                        rd_bytes: s.rd_bytes,
                        wr: s.wr,
                        wr_bytes: s.wr_bytes,
                        quota_objects: p.quota_max_objects,
                        quota_bytes: p.quota_max_bytes,
                    }
                })
                .collect(),
            by_class: classes
                .into_iter()
                .map(|(c, (t, u))| ClassUsage {
                    class: c.to_string(),
                    total_bytes: t,
                    total_used_bytes: u,
                    total_avail_bytes: t.saturating_sub(u),
                })
                .collect(),
            num_osds: self.osds.iter().filter(|o| o.up).count() as u32,
        };
        (summary, df, problems)
    }

    /// Publish the maps `dirty` names plus the PG map, perf counters and health.
    pub(crate) fn publish(&mut self, cluster: &Cluster, dirty: Dirty) {
        let used = self.osd_used();
        let mut perf = match self.perf_out.take() {
            Some(buf) => buf,
            None => Arc::new(self.perf_layout()),
        };
        if let Some(out) = Arc::get_mut(&mut perf) {
            self.render_perf(out, &used);
        }
        let (summary, df, problems) = self.pg_state(&used);
        let snap = cluster.snapshot();
        let osd_map = dirty.osd.then(|| self.osd_map());
        let mon_map = dirty.mon.then(|| self.mon_map());
        let fs_map = dirty.fs.then(|| self.fs_map());
        let usage: Vec<OsdFullness> = self
            .osds
            .iter()
            .zip(&used)
            .filter(|(o, _)| o.up && o.size > 0)
            .map(|(o, u)| OsdFullness {
                id: o.id,
                ratio: *u as f64 / o.size as f64,
            })
            .collect();
        let checks = health::compute(&HealthInput {
            mon_map: mon_map.as_ref().unwrap_or(&snap.mon_map),
            osd_map: osd_map.as_ref().unwrap_or(&snap.osd_map),
            fs_map: fs_map.as_ref().unwrap_or(&snap.fs_map),
            pg_summary: &summary,
            pg_problems: &problems,
            osd_usage: &usage,
        });
        let mut update = Update {
            mon_map,
            osd_map,
            fs_map,
            mgr_map: dirty.mgr.then(|| self.mgr_map()),
            pg_summary: Some(summary),
            pgs: Some(Arc::new(PgTable {
                pools: self.pools.iter().map(|p| Arc::clone(&p.pgs)).collect(),
            })),
            df: Some(df),
            perf: Some(Arc::clone(&perf)),
            cluster_checks: Some(checks),
            ..Update::default()
        };
        if dirty.inventory {
            let (servers, metadata, config) = self.inventory();
            update.servers = Some(servers);
            update.metadata = Some(metadata);
            update.config = Some(config);
            update.service_map = Some(ServiceMap {
                epoch: 1,
                modified: self.created.clone(),
                services: Vec::new(),
            });
        }
        cluster.publish(update);
        self.perf_out.published(perf);
    }
}

fn flag_set(flags: u64, name: &str) -> bool {
    flag_bit(name).is_some_and(|b| flags & b != 0)
}

/// State counts, most common first.
fn sorted_counts(m: &BTreeMap<PgState, u64>) -> Vec<PgStateCount> {
    let mut v: Vec<PgStateCount> = m
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| PgStateCount {
            state: s.name(),
            count: *n,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.state.cmp(&b.state)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::time::Instant;
    use wasm_mgr_cluster::model::{CounterKind, HealthStatus, NotifyKind, PerfCounter};

    /// A sim whose timer is stopped: tests tick it by hand.
    async fn boot(cfg: SimConfig) -> (Arc<Cluster>, SimHandle) {
        let cluster = Cluster::new(&fsid_for_seed(cfg.seed));
        let h = start(cfg, Arc::clone(&cluster)).unwrap();
        h.stop();
        (cluster, h)
    }

    async fn run(h: &SimHandle, cmd: Value) -> CommandOutput {
        h.command(&cmd, "").await
    }

    fn codes(c: &Cluster) -> Vec<String> {
        c.snapshot()
            .health
            .checks
            .iter()
            .map(|x| x.code.clone())
            .collect()
    }

    /// Remove time stamps, which come from the wall clock.
    fn strip_times(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in [
                    "created",
                    "modified",
                    "create_time",
                    "last_up_change",
                    "last_in_change",
                    "last_purged_snaps_scrub",
                    "stamp",
                    "created_at",
                ] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip_times);
            }
            Value::Array(a) => a.iter_mut().for_each(strip_times),
            _ => {}
        }
    }

    fn json_of(c: &Cluster, name: &str) -> Value {
        serde_json::from_str(&c.snapshot().get_json(name).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn same_seed_same_maps() {
        let (a, _ha) = boot(SimConfig::default()).await;
        let (b, _hb) = boot(SimConfig::default()).await;
        let (c, _hc) = boot(SimConfig {
            seed: 2,
            ..SimConfig::default()
        })
        .await;
        for name in [
            "osd_map",
            "mon_map",
            "fs_map",
            "osd_metadata",
            "osd_map_tree",
        ] {
            let (mut x, mut y) = (json_of(&a, name), json_of(&b, name));
            strip_times(&mut x);
            strip_times(&mut y);
            assert!(x == y, "{name} differs");
        }
        let (mut x, mut z) = (json_of(&a, "osd_map"), json_of(&c, "osd_map"));
        strip_times(&mut x);
        strip_times(&mut z);
        assert_ne!(x, z);
        let s = a.snapshot();
        assert_eq!(s.osd_map.osds.len(), 12);
        assert_eq!(s.osd_map.pools.len(), 3);
        assert_eq!(s.fs_map.filesystems.len(), 1);
        assert_eq!(s.fs_map.standbys.len(), 1);
        assert_eq!(s.mon_map.quorum, vec![0, 1, 2]);
        assert_eq!(s.health.status, HealthStatus::Ok, "{:?}", s.health.checks);
        assert!(s.have_mon_connection);
        assert_eq!(s.osd_map.osds[3].host, "host-1");
        assert!(s.osd_map.osds[0].public_addr.ends_with(":6800"));
        assert_eq!(s.servers.len(), 4);
        assert!(s.get_metadata("osd", "3").is_some());
        assert!(!s.perf_counters("osd.3", "osd.op_").is_empty());
        let mon_counters = s.perf_counters("mon.", "").len();
        assert_eq!(mon_counters, 3 * sim_perf::mon_schema().len());
        let names: Vec<&str> = s.osd_map.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["rbd", "cephfs.cephfs.meta", "cephfs.cephfs.data"]);
        let pgs: u64 = s.osd_map.pools.iter().map(|p| u64::from(p.pg_num)).sum();
        assert!((200..=800).contains(&pgs), "{pgs}");
        assert!(s.osd_map.pools.iter().all(|p| p.pg_num.is_power_of_two()));
    }

    #[tokio::test]
    async fn osd_down_out_recovery_cycle() {
        let (c, h) = boot(SimConfig::default()).await;
        let mut rx = c.subscribe();
        let e0 = c.snapshot().epochs();
        let out = run(&h, json!({"prefix": "osd down", "ids": ["osd.3"]})).await;
        assert_eq!(out.retval, 0);
        assert_eq!(out.stderr, "marked down osd.3. ");
        let s = c.snapshot();
        assert_eq!(s.osd_map.epoch, e0.osd_map + 1);
        assert_eq!(s.osd_map.osds[3].down_at, s.osd_map.epoch);
        assert!(!s.osd_map.osds[3].up);
        let down = s
            .health
            .checks
            .iter()
            .find(|x| x.code == "OSD_DOWN")
            .unwrap();
        assert_eq!(down.summary, "1 osds down");
        assert_eq!(
            down.detail,
            vec!["osd.3 (root=default,host=host-1) is down"]
        );
        assert!(codes(&c).contains(&"PG_DEGRADED".to_string()));
        let deg = s
            .pg_summary
            .by_state
            .iter()
            .find(|x| x.state == "active+undersized+degraded")
            .map_or(0, |x| x.count);
        assert!(deg > 0);
        assert!(s.pg_summary.degraded_objects > 0);
        let pgd = s
            .health
            .checks
            .iter()
            .find(|x| x.code == "PG_DEGRADED")
            .unwrap();
        assert!(
            pgd.summary.starts_with("Degraded data redundancy: "),
            "{}",
            pgd.summary
        );
        assert!(
            pgd.summary.contains("objects degraded ("),
            "{}",
            pgd.summary
        );
        // Exactly one osd_map change for the epoch bump.
        let mut kinds = Vec::new();
        while let Ok(ch) = rx.try_recv() {
            kinds.push(ch.kind);
        }
        assert_eq!(
            kinds.iter().filter(|k| **k == NotifyKind::OsdMap).count(),
            1
        );
        assert!(kinds.contains(&NotifyKind::Health));
        assert!(kinds.contains(&NotifyKind::Clog));
        let log: Vec<String> = c.clog_tail(50).into_iter().map(|e| e.message).collect();
        assert!(log.contains(&"osd.3 marked down".to_string()), "{log:?}");
        assert!(
            log.contains(&"Health check failed: 1 osds down (OSD_DOWN)".to_string()),
            "{log:?}"
        );
        // Already down: no new epoch.
        let again = run(&h, json!({"prefix": "osd down", "ids": ["3"]})).await;
        assert_eq!(again.stderr, "osd.3 is already down. ");
        assert_eq!(c.snapshot().osd_map.epoch, s.osd_map.epoch);
        // A tick moves pg_summary but not the OSD map.
        h.tick().await;
        assert_eq!(c.snapshot().osd_map.epoch, s.osd_map.epoch);
        assert!(c.snapshot().pg_summary.epoch > s.pg_summary.epoch);
        // Out: OSD_DOWN clears, PGs backfill, then everything is clean.
        let out = run(&h, json!({"prefix": "osd out", "ids": ["3"]})).await;
        assert_eq!(out.stderr, "marked out osd.3. ");
        assert!(!codes(&c).contains(&"OSD_DOWN".to_string()));
        let states: Vec<String> = c
            .snapshot()
            .pg_summary
            .by_state
            .iter()
            .map(|x| x.state.clone())
            .collect();
        assert!(
            states.iter().any(|s| s.contains("remapped+backfilling")),
            "{states:?}"
        );
        for _ in 0..10 {
            h.tick().await;
        }
        let s = c.snapshot();
        assert!(
            s.pg_summary
                .by_state
                .iter()
                .all(|x| x.state.starts_with("active+clean")),
            "{:?}",
            s.pg_summary.by_state
        );
        assert!(!codes(&c).contains(&"PG_DEGRADED".to_string()));
        let log: Vec<String> = c.clog_tail(200).into_iter().map(|e| e.message).collect();
        assert!(
            log.iter()
                .any(|m| m == "Health check cleared: OSD_DOWN (was: 1 osds down)"),
            "{log:?}"
        );
        // Back up and in: recovers to clean.
        run(&h, json!({"prefix": "osd up", "ids": ["3"]})).await;
        run(&h, json!({"prefix": "osd in", "ids": ["3"]})).await;
        for _ in 0..10 {
            h.tick().await;
        }
        let s = c.snapshot();
        assert!(s.osd_map.osds[3].up && s.osd_map.osds[3].in_);
        assert!(
            s.pg_summary
                .by_state
                .iter()
                .all(|x| x.state.starts_with("active+clean"))
        );
        assert_eq!(s.health.status, HealthStatus::Ok, "{:?}", s.health.checks);
    }

    #[tokio::test]
    async fn down_then_up_recovers() {
        let (c, h) = boot(SimConfig::default()).await;
        run(&h, json!({"prefix": "osd down", "ids": ["0", "1", "2"]})).await;
        assert!(
            codes(&c).contains(&"OSD_HOST_DOWN".to_string()),
            "{:?}",
            codes(&c)
        );
        let out = run(&h, json!({"prefix": "osd up", "ids": ["0", "1", "2"]})).await;
        assert_eq!(out.retval, 0);
        let states: Vec<String> = c
            .snapshot()
            .pg_summary
            .by_state
            .iter()
            .map(|x| x.state.clone())
            .collect();
        assert!(
            states.iter().any(|s| s.contains("recovering")),
            "{states:?}"
        );
        for _ in 0..5 {
            h.tick().await;
        }
        assert_eq!(
            c.snapshot().health.status,
            HealthStatus::Ok,
            "{:?}",
            c.snapshot().health.checks
        );
    }

    #[tokio::test]
    async fn flags_and_errors() {
        let (c, h) = boot(SimConfig::default()).await;
        let e = c.snapshot().osd_map.epoch;
        let out = run(&h, json!({"prefix": "osd set", "key": "noout"})).await;
        assert_eq!((out.retval, out.stderr.as_str()), (0, "noout is set"));
        let s = c.snapshot();
        assert_eq!(s.osd_map.epoch, e + 1);
        let f = s
            .health
            .checks
            .iter()
            .find(|x| x.code == "OSDMAP_FLAGS")
            .unwrap();
        assert_eq!(f.summary, "noout flag(s) set");
        assert_eq!(f.severity, HealthStatus::Warn);
        assert!(
            json_of(&c, "osd_map")["flags"]
                .as_str()
                .unwrap()
                .contains("noout")
        );
        run(&h, json!({"prefix": "osd set", "key": "noout"})).await;
        assert_eq!(c.snapshot().osd_map.epoch, e + 1);
        let out = run(&h, json!({"prefix": "osd set", "key": "pause"})).await;
        assert_eq!(out.stderr, "pauserd,pausewr is set");
        run(&h, json!({"prefix": "osd unset", "key": "noout"})).await;
        run(&h, json!({"prefix": "osd unset", "key": "pause"})).await;
        assert!(!codes(&c).contains(&"OSDMAP_FLAGS".to_string()));
        let bad = run(&h, json!({"prefix": "osd set", "key": "bogus"})).await;
        assert_eq!(bad.retval, errno::EINVAL);
        let bad = run(&h, json!({"prefix": "osd down", "ids": ["x"]})).await;
        assert_eq!(bad.retval, errno::EINVAL);
        let none = run(&h, json!({"prefix": "osd down", "ids": ["99"]})).await;
        assert_eq!(none.stderr, "osd.99 does not exist. ");
        let bad = run(
            &h,
            json!({"prefix": "osd reweight", "id": "osd.99", "weight": 0.5}),
        )
        .await;
        assert_eq!(bad.retval, errno::ENOENT);
        let ok = run(
            &h,
            json!({"prefix": "osd reweight", "id": "osd.2", "weight": 0.5}),
        )
        .await;
        assert_eq!(ok.stderr, "reweighted osd.2 to 0.5 (8000)");
        let bad = run(&h, json!({"prefix": "pg scrub", "pgid": "zz"})).await;
        assert_eq!(bad.retval, errno::EINVAL);
        let bad = run(&h, json!({"prefix": "pg scrub", "pgid": "42.0"})).await;
        assert_eq!(bad.retval, errno::ENOENT);
        let ok = run(&h, json!({"prefix": "pg deep-scrub", "pgid": "1.0"})).await;
        assert!(
            ok.stderr.starts_with("instructing pg 1.0 on osd."),
            "{}",
            ok.stderr
        );
        assert!(ok.stderr.ends_with(" to deep-scrub"));
        let unknown = run(&h, json!({"prefix": "osd frobnicate"})).await;
        assert_eq!(unknown.retval, errno::EINVAL);
        let noprefix = run(&h, json!({"ids": ["1"]})).await;
        assert_eq!(noprefix.retval, errno::EINVAL);
        let bad = run(
            &h,
            json!({"prefix": "osd pool set", "pool": "nope", "var": "size", "val": "2"}),
        )
        .await;
        assert_eq!(bad.retval, errno::ENOENT);
        let bad = run(
            &h,
            json!({"prefix": "osd pool set", "pool": "rbd", "var": "min_size", "val": "9"}),
        )
        .await;
        assert_eq!(
            bad.stderr,
            "pool min_size must be between 1 and size, which is 3"
        );
    }

    #[tokio::test]
    async fn scrub_finishes_with_clog() {
        let (c, h) = boot(SimConfig::default()).await;
        run(&h, json!({"prefix": "osd set", "key": "noscrub"})).await;
        let ok = run(&h, json!({"prefix": "pg scrub", "pgid": "1.2"})).await;
        assert_eq!(ok.retval, 0);
        let st = c.snapshot().pgs.pool(1).unwrap().states[2];
        assert_eq!(st.name(), "active+clean+scrubbing");
        for _ in 0..5 {
            h.tick().await;
        }
        let log: Vec<String> = c.clog_tail(100).into_iter().map(|e| e.message).collect();
        assert!(log.contains(&"1.2 scrub starts".to_string()));
        assert!(log.contains(&"1.2 scrub ok".to_string()), "{log:?}");
        assert_eq!(
            c.snapshot().pgs.pool(1).unwrap().states[2].name(),
            "active+clean"
        );
    }

    #[tokio::test]
    async fn pools_create_set_delete() {
        let (c, h) = boot(SimConfig::default()).await;
        let out = run(
            &h,
            json!({"prefix": "osd pool create", "pool": "foo", "pg_num": 16}),
        )
        .await;
        assert_eq!((out.retval, out.stderr.as_str()), (0, "pool 'foo' created"));
        let s = c.snapshot();
        let p = s.osd_map.pool_by_name("foo").unwrap().clone();
        assert_eq!(p.pg_num, 16);
        assert!(
            json_of(&c, "osd_map")["pools"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["pool_name"] == "foo")
        );
        assert!(
            json_of(&c, "df")["pools"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == "foo")
        );
        assert_eq!(s.pgs.pool(p.id).unwrap().states.len(), 16);
        let again = run(&h, json!({"prefix": "osd pool create", "pool": "foo"})).await;
        assert_eq!(again.stderr, "pool 'foo' already exists");
        let out = run(
            &h,
            json!({"prefix": "osd pool set", "pool": "foo", "var": "pg_num", "val": "32"}),
        )
        .await;
        assert_eq!(out.stderr, format!("set pool {} pg_num to 32", p.id));
        assert_eq!(c.snapshot().pgs.pool(p.id).unwrap().states.len(), 32);
        assert_eq!(c.snapshot().pg_summary.num_pgs, s.pg_summary.num_pgs + 16);
        let out = run(
            &h,
            json!({"prefix": "osd pool set", "pool": "foo", "var": "size", "val": "2"}),
        )
        .await;
        assert_eq!(out.retval, 0);
        assert_eq!(c.snapshot().osd_map.pool_by_name("foo").unwrap().size, 2);
        let refuse = run(&h, json!({"prefix": "osd pool delete", "pool": "foo"})).await;
        assert_eq!(refuse.retval, errno::EPERM);
        let busy = run(
            &h,
            json!({"prefix": "osd pool rm", "pool": "cephfs.cephfs.data", "pool2": "cephfs.cephfs.data", "yes_i_really_really_mean_it": true}),
        )
        .await;
        assert_eq!(busy.retval, errno::EBUSY);
        let gone = run(
            &h,
            json!({"prefix": "osd pool delete", "pool": "foo", "pool2": "foo", "yes_i_really_really_mean_it": true}),
        )
        .await;
        assert_eq!(gone.stderr, "pool 'foo' removed");
        assert!(c.snapshot().osd_map.pool_by_name("foo").is_none());
        assert!(c.snapshot().pgs.pool(p.id).is_none());
        let missing = run(&h, json!({"prefix": "osd pool delete", "pool": "foo"})).await;
        assert_eq!(missing.stderr, "pool 'foo' does not exist");
    }

    #[tokio::test]
    async fn mon_and_mds_faults() {
        let (c, h) = boot(SimConfig::default()).await;
        let e = c.snapshot().mon_map.epoch;
        let out = run(&h, json!({"prefix": "mon down", "name": "c"})).await;
        assert_eq!(out.retval, 0);
        let s = c.snapshot();
        assert_eq!(s.mon_map.epoch, e + 1);
        assert_eq!(s.mon_map.quorum, vec![0, 1]);
        let m = s
            .health
            .checks
            .iter()
            .find(|x| x.code == "MON_DOWN")
            .unwrap();
        assert_eq!(m.summary, "1/3 mons down, quorum a,b");
        run(&h, json!({"prefix": "mon down", "name": "b"})).await;
        assert!(!c.snapshot().have_mon_connection);
        run(&h, json!({"prefix": "mon up", "name": "b"})).await;
        run(&h, json!({"prefix": "mon up", "name": "c"})).await;
        assert!(c.snapshot().have_mon_connection);
        assert!(!codes(&c).contains(&"MON_DOWN".to_string()));
        let fe = c.snapshot().fs_map.epoch;
        let out = run(&h, json!({"prefix": "mds fail", "role_or_gid": "cephfs:0"})).await;
        assert_eq!(out.retval, 0, "{}", out.stderr);
        assert!(c.snapshot().fs_map.epoch > fe);
        assert!(codes(&c).contains(&"FS_DEGRADED".to_string()));
        for _ in 0..3 {
            h.tick().await;
        }
        assert!(!codes(&c).contains(&"FS_DEGRADED".to_string()));
    }

    #[tokio::test]
    async fn read_commands() {
        let (c, h) = boot(SimConfig::default()).await;
        run(&h, json!({"prefix": "osd down", "ids": ["5"]})).await;
        for (cmd, needle) in [
            (json!({"prefix": "status"}), "health: HEALTH_WARN"),
            (
                json!({"prefix": "health", "detail": "detail"}),
                "[WRN] OSD_DOWN: 1 osds down",
            ),
            (json!({"prefix": "osd tree"}), "osd.5"),
            (json!({"prefix": "osd stat"}), "12 osds: 11 up, 12 in"),
            (json!({"prefix": "osd df"}), "TOTAL"),
            (json!({"prefix": "osd dump"}), "max_osd 12"),
            (
                json!({"prefix": "osd pool ls", "detail": "detail"}),
                "pool 1 'rbd' replicated size 3",
            ),
            (json!({"prefix": "osd pool stats"}), "pool rbd id 1"),
            (json!({"prefix": "mon dump"}), "mon.a"),
            (json!({"prefix": "fs dump"}), "Filesystem 'cephfs'"),
            (
                json!({"prefix": "fs ls"}),
                "name: cephfs, metadata pool: cephfs.cephfs.meta",
            ),
            (json!({"prefix": "df"}), "--- POOLS ---"),
            (json!({"prefix": "pg stat"}), "pgs:"),
            (json!({"prefix": "pg dump"}), "active+undersized+degraded"),
            (json!({"prefix": "log last", "num": 5}), "cluster"),
            (json!({"prefix": "mgr dump"}), "active_name"),
            (json!({"prefix": "quorum_status"}), "quorum_leader_name"),
        ] {
            let out = run(&h, cmd.clone()).await;
            assert_eq!(out.retval, 0, "{cmd}: {}", out.stderr);
            assert!(out.stdout.contains(needle), "{cmd}: {}", out.stdout);
        }
        for prefix in [
            "status",
            "health",
            "osd tree",
            "osd df",
            "osd stat",
            "osd dump",
            "osd pool ls",
            "mon dump",
            "fs dump",
            "fs ls",
            "df",
            "pg stat",
            "pg dump",
            "log last",
            "versions",
            "osd metadata",
            "osd pool stats",
            "osd ls",
        ] {
            let out = run(&h, json!({"prefix": prefix, "format": "json"})).await;
            assert_eq!(out.retval, 0, "{prefix}");
            serde_json::from_str::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{prefix}: {e}"));
        }
        let pretty = run(&h, json!({"prefix": "osd dump", "format": "json-pretty"})).await;
        assert!(
            pretty.stdout.contains("\n    \"epoch\""),
            "{}",
            &pretty.stdout[..100]
        );
        let dump: Value = serde_json::from_str(
            &run(&h, json!({"prefix": "pg dump", "format": "json"}))
                .await
                .stdout,
        )
        .unwrap();
        let n = c.snapshot().pg_summary.num_pgs as usize;
        assert_eq!(dump["pg_map"]["pg_stats"].as_array().unwrap().len(), n);
        assert_eq!(dump["pg_map"]["pg_stats"][0]["pgid"], "1.0");
        for name in wasm_mgr_cluster::json::GET_NAMES {
            serde_json::from_str::<Value>(&c.snapshot().get_json(name).unwrap()).unwrap();
        }
        let summary = json_of(&c, "pg_summary");
        assert!(summary["by_osd"]["0"].is_object());
        assert!(summary["by_pool"]["1"]["active+clean"].is_u64());
        assert!(summary["all"].is_object());
    }

    fn reference(name: &str) -> Option<Value> {
        let path = format!(
            "{}/../../../shared/reference/ceph-16.2.15/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Keys present in `reference` but missing in `ours`, recursively.
    fn missing(ours: &Value, reference: &Value, path: &str, out: &mut Vec<String>) {
        const KEYED: [&str; 8] = [
            "checks",
            "blocklist",
            "application_metadata",
            "options",
            "info",
            "up",
            "services",
            "stats_by_class",
        ];
        match (ours, reference) {
            (Value::Object(o), Value::Object(r)) => {
                let last = path.rsplit('.').next().unwrap_or("");
                if KEYED.contains(&last) {
                    if let (Some(a), Some(b)) = (o.values().next(), r.values().next()) {
                        missing(a, b, &format!("{path}.*"), out);
                    }
                    return;
                }
                for (k, rv) in r {
                    match o.get(k) {
                        None => out.push(format!("{path}.{k}")),
                        Some(ov) => missing(ov, rv, &format!("{path}.{k}"), out),
                    }
                }
            }
            (Value::Array(o), Value::Array(r)) => {
                if let (Some(a), Some(b)) = (o.first(), r.first()) {
                    missing(a, b, &format!("{path}[]"), out);
                }
            }
            _ => {}
        }
    }

    #[tokio::test]
    async fn json_has_ceph_field_names() {
        let (c, h) = boot(SimConfig::default()).await;
        run(&h, json!({"prefix": "osd down", "ids": ["1"]})).await;
        let status: Value = serde_json::from_str(
            &run(&h, json!({"prefix": "status", "format": "json"}))
                .await
                .stdout,
        )
        .unwrap();
        let osd_df: Value = serde_json::from_str(
            &run(&h, json!({"prefix": "osd df", "format": "json"}))
                .await
                .stdout,
        )
        .unwrap();
        let quorum: Value = serde_json::from_str(
            &run(&h, json!({"prefix": "quorum_status", "format": "json"}))
                .await
                .stdout,
        )
        .unwrap();
        let pg_dump: Value = serde_json::from_str(
            &run(&h, json!({"prefix": "pg dump", "format": "json"}))
                .await
                .stdout,
        )
        .unwrap();
        let cases = [
            ("osd_dump.json", json_of(&c, "osd_map")),
            ("osd_tree.json", json_of(&c, "osd_map_tree")),
            ("mon_dump.json", json_of(&c, "mon_map")),
            ("fs_dump.json", json_of(&c, "fs_map")),
            ("health_detail.json", json_of(&c, "health")),
            ("df_detail.json", json_of(&c, "df")),
            ("mgr_dump.json", json_of(&c, "mgr_map")),
            ("config_dump.json", json_of(&c, "config")),
            ("service_dump.json", json_of(&c, "service_map")),
            ("status.json", status),
            ("osd_df.json", osd_df),
            ("quorum_status.json", quorum),
        ];
        let mut checked = 0;
        for (file, ours) in cases {
            let Some(r) = reference(file) else { continue };
            let mut out = Vec::new();
            missing(&ours, &r, "", &mut out);
            // Keys that only exist for data the reference cluster had and we model
            // differently: none expected.
            assert!(out.is_empty(), "{file}: missing {out:?}");
            checked += 1;
        }
        if let Some(r) = reference("pg_dump.json") {
            let mut out = Vec::new();
            // Per-PG entries are trimmed on purpose (1,000,000 PGs); check the rest.
            let mut ours = pg_dump.clone();
            let mut refv = r.clone();
            ours["pg_map"]["pg_stats"] = json!([]);
            refv["pg_map"]["pg_stats"] = json!([]);
            missing(&ours, &refv, "", &mut out);
            assert!(out.is_empty(), "pg_dump: missing {out:?}");
            let ours_pg = &pg_dump["pg_map"]["pg_stats"][0];
            for k in [
                "pgid",
                "state",
                "up",
                "acting",
                "up_primary",
                "acting_primary",
                "stat_sum",
                "last_scrub_stamp",
            ] {
                assert!(ours_pg.get(k).is_some(), "pg_stats[].{k}");
            }
            checked += 1;
        }
        println!("compared {checked} reference files");
    }

    /// Families of the reference prometheus output with a `ceph_daemon` label that do
    /// not come from perf counters: ceph-mgr computes them from the maps, the daemon
    /// metadata, the OSDs' `osd_stats` (`apply_latency_ms`, `commit_latency_ms`) and
    /// the health metrics daemons report beside their counters (`SLOW_OPS`,
    /// `PENDING_CREATING_PGS`).
    const NOT_PERF_COUNTERS: [&str; 11] = [
        "ceph_daemon_health_metrics",
        "ceph_mgr_metadata",
        "ceph_mgr_status",
        "ceph_mon_metadata",
        "ceph_mon_quorum_status",
        "ceph_osd_apply_latency_ms",
        "ceph_osd_commit_latency_ms",
        "ceph_osd_in",
        "ceph_osd_metadata",
        "ceph_osd_up",
        "ceph_osd_weight",
    ];

    /// A prometheus family: type, help, and the daemon types (`mon`, `osd`) with a
    /// sample.
    type Families = BTreeMap<String, (String, String, std::collections::BTreeSet<String>)>;

    /// The per-daemon families of a prometheus page.
    fn daemon_families(page: &str) -> Families {
        let mut meta: BTreeMap<&str, (String, String)> = BTreeMap::new();
        let mut out = Families::new();
        for line in page.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                meta.entry(name).or_default().1 = help.to_string();
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
                meta.entry(name).or_default().0 = kind.to_string();
            } else if let Some((name, rest)) = line.split_once("{ceph_daemon=\"")
                && let Some((kind, _)) = rest.split_once('.')
                && ["mon", "osd", "mgr"].contains(&kind)
            {
                let (t, h) = meta.get(name).cloned().unwrap_or_default();
                out.entry(name.to_string())
                    .or_insert((t, h, Default::default()))
                    .2
                    .insert(kind.to_string());
            }
        }
        out
    }

    /// The families ceph's prometheus module makes of perf counters: `ceph_` and the
    /// path with `.` and `-` as `_` (`:` stays); an average gives `_sum` and `_count`.
    fn counter_families(counters: &[PerfCounter]) -> Families {
        let mut out = Families::new();
        for c in counters {
            let name = format!("ceph_{}", c.path.replace(['.', '-'], "_"));
            let names = match c.kind {
                CounterKind::Gauge => vec![(name, "gauge", c.description.clone())],
                CounterKind::Counter => vec![(name, "counter", c.description.clone())],
                CounterKind::Average => vec![
                    (
                        format!("{name}_sum"),
                        "counter",
                        format!("{} Total", c.description),
                    ),
                    (
                        format!("{name}_count"),
                        "counter",
                        format!("{} Count", c.description),
                    ),
                ],
            };
            let kind = c.daemon.split('.').next().unwrap_or_default().to_string();
            for (n, t, h) in names {
                out.entry(n)
                    .or_insert((t.to_string(), h, Default::default()))
                    .2
                    .insert(kind.clone());
            }
        }
        out
    }

    #[tokio::test]
    async fn perf_counters_cover_reference_prometheus_families() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/reference/ceph-16.2.15/ceph-mgr-prometheus-metrics.txt"
        );
        let Ok(page) = std::fs::read_to_string(path) else {
            println!("skipped: no {path}");
            return;
        };
        let reference = daemon_families(&page);
        let (c, h) = boot(SimConfig {
            mons: 1,
            hosts: 1,
            osds: 3,
            ..SimConfig::default()
        })
        .await;
        for _ in 0..5 {
            h.tick().await;
        }
        let counters = c.snapshot().perf_counters("", "");
        let ours = counter_families(&counters);
        let mut problems = Vec::new();
        let mut derived = 0;
        for (name, (kind, help, daemons)) in &reference {
            if NOT_PERF_COUNTERS.contains(&name.as_str()) {
                continue;
            }
            derived += 1;
            match ours.get(name) {
                None => problems.push(format!("missing {name}")),
                Some((k, hh, d)) => {
                    if k != kind || hh != help || !daemons.is_subset(d) {
                        problems.push(format!(
                            "{name}: ours {k} {hh:?} on {d:?}, ceph {kind} {help:?} on {daemons:?}"
                        ));
                    }
                }
            }
        }
        // Daemons report only counters of priority "useful" and up: no others.
        for name in ours.keys() {
            if !reference.contains_key(name) {
                problems.push(format!("{name} is not reported by ceph"));
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
        assert!(derived > 150, "{derived}");
        println!("{derived} reference families derived from perf counters");
        // The counters move with the IO.
        let value = |daemon: &str, path: &str| {
            counters
                .iter()
                .find(|c| c.daemon == daemon && c.path == path)
                .map(|c| (c.value, c.count))
                .unwrap_or_default()
        };
        let ops: u64 = (0..3).map(|i| value(&format!("osd.{i}"), "osd.op").0).sum();
        assert!(ops > 0);
        let (sum, count) = value("osd.0", "osd.op_r_latency");
        assert_eq!(count, value("osd.0", "osd.op_r").0);
        if count > 0 {
            let ms = sum as f64 / count as f64 / 1e6;
            assert!((0.2..30.0).contains(&ms), "{ms} ms");
        }
        assert!(value("osd.0", "osd.numpg").0 > 0);
        assert!(value("osd.0", "osd.stat_bytes_used").0 > 0);
        assert!(value("mon.a", "paxos.commit").0 > 0);
        assert!(value("mon.a", "rocksdb.get_latency").1 > 0);
        assert_eq!(value("mon.a", "mon.election_win").0, 1);
        assert_eq!(
            value("mon.a", "prioritycache.target_bytes").0,
            2 << 30,
            "mon_memory_target"
        );
    }

    #[tokio::test]
    async fn elections_count_on_every_monitor() {
        let (c, h) = boot(SimConfig::default()).await;
        assert_eq!(
            run(&h, json!({"prefix": "mon down", "name": "b"}))
                .await
                .retval,
            0
        );
        assert_eq!(
            run(&h, json!({"prefix": "mon up", "name": "b"}))
                .await
                .retval,
            0
        );
        h.tick().await;
        let s = c.snapshot();
        let value = |daemon: &str, path: &str| {
            s.perf_counters(daemon, path)
                .first()
                .map(|c| c.value)
                .unwrap_or_default()
        };
        assert_eq!(value("mon.a", "mon.election_win"), 3);
        assert_eq!(value("mon.a", "paxos.lease_ack_timeout"), 1);
        assert_eq!(value("mon.b", "mon.election_lose"), 2);
        assert_eq!(value("mon.b", "mon.election_call"), 1);
        assert_eq!(value("mon.c", "mon.num_elections"), 3);
        assert_eq!(value("mon.a", "paxos.share_state"), 1);
        assert_eq!(value("mon.b", "paxos.start_peon"), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ten_thousand_osds_one_million_pgs() {
        let cfg = SimConfig {
            osds: 10_000,
            hosts: 500,
            pgs: Some(1_000_000),
            ..SimConfig::default()
        };
        let t = Instant::now();
        let (c, h) = boot(cfg).await;
        let started = t.elapsed();
        let s = c.snapshot();
        let pgs = s.pgs.len();
        assert!(pgs >= 900_000, "{pgs}");
        let t = Instant::now();
        h.tick().await;
        let tick = t.elapsed();
        let t = Instant::now();
        let osd_map = c.snapshot().get_json("osd_map").unwrap();
        let osd_map_t = t.elapsed();
        let t = Instant::now();
        let summary = c.snapshot().get_json("pg_summary").unwrap();
        let summary_t = t.elapsed();
        let t = Instant::now();
        let out = run(&h, json!({"prefix": "osd out", "ids": ["17"]})).await;
        let out_t = t.elapsed();
        assert_eq!(out.retval, 0);
        assert!(c.snapshot().pg_summary.by_state.len() > 1);
        let t = Instant::now();
        h.tick().await;
        let tick2 = t.elapsed();
        let mut ticks = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            h.tick().await;
            ticks.push(t.elapsed());
        }
        ticks.sort();
        // A tick rewrites the buffer published two ticks before.
        let ptr = || Arc::as_ptr(&c.snapshot().perf);
        let before = ptr();
        h.tick().await;
        h.tick().await;
        assert_eq!(ptr(), before, "perf buffer not reused");
        let perf_t = {
            let mut sim = lock(&h.sim);
            let used = sim.osd_used();
            let mut buf = sim.perf_layout();
            let t = Instant::now();
            for _ in 0..20 {
                sim.advance_perf(1.0);
                sim.render_perf(&mut buf, &used);
            }
            t.elapsed() / 20
        };
        let counters = c.snapshot().perf_counters("osd.", "").len();
        println!("perf counters: {counters} OSD values, advanced and rendered in {perf_t:?}");
        println!(
            "20 more ticks: min {:?}, median {:?}, max {:?}",
            ticks[0], ticks[10], ticks[19]
        );
        println!(
            "10k OSDs / {pgs} PGs: start {started:?}, tick {tick:?}, tick while backfilling {tick2:?}, \
             osd_map json {} MB in {osd_map_t:?}, pg_summary json {} KB in {summary_t:?}, osd out {out_t:?}, \
             PG table {} KiB",
            osd_map.len() / 1_000_000,
            summary.len() / 1000,
            pgs * 2 / 1024
        );
    }
}
