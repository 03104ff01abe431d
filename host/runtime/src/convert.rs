//! Conversions between the host's cluster model and the contract's records.

use crate::bindings::ceph::mgr::types as wit;
use wasm_mgr_cluster::model;

impl From<model::NotifyKind> for wit::NotifyKind {
    fn from(k: model::NotifyKind) -> Self {
        use model::NotifyKind as M;
        match k {
            M::MonMap => wit::NotifyKind::MonMap,
            M::OsdMap => wit::NotifyKind::OsdMap,
            M::FsMap => wit::NotifyKind::FsMap,
            M::MgrMap => wit::NotifyKind::MgrMap,
            M::PgSummary => wit::NotifyKind::PgSummary,
            M::Health => wit::NotifyKind::Health,
            M::ServiceMap => wit::NotifyKind::ServiceMap,
            M::Clog => wit::NotifyKind::Clog,
            M::Command => wit::NotifyKind::Command,
            M::Config => wit::NotifyKind::Config,
        }
    }
}

impl From<wit::NotifyKind> for model::NotifyKind {
    fn from(k: wit::NotifyKind) -> Self {
        use wit::NotifyKind as W;
        match k {
            W::MonMap => model::NotifyKind::MonMap,
            W::OsdMap => model::NotifyKind::OsdMap,
            W::FsMap => model::NotifyKind::FsMap,
            W::MgrMap => model::NotifyKind::MgrMap,
            W::PgSummary => model::NotifyKind::PgSummary,
            W::Health => model::NotifyKind::Health,
            W::ServiceMap => model::NotifyKind::ServiceMap,
            W::Clog => model::NotifyKind::Clog,
            W::Command => model::NotifyKind::Command,
            W::Config => model::NotifyKind::Config,
        }
    }
}

impl From<model::Epochs> for wit::Epochs {
    fn from(e: model::Epochs) -> Self {
        wit::Epochs {
            mon_map: e.mon_map,
            osd_map: e.osd_map,
            fs_map: e.fs_map,
            mgr_map: e.mgr_map,
            pg_summary: e.pg_summary,
            health: e.health,
            service_map: e.service_map,
        }
    }
}

impl From<&model::MonMap> for wit::MonMap {
    fn from(m: &model::MonMap) -> Self {
        wit::MonMap {
            epoch: m.epoch,
            fsid: m.fsid.clone(),
            mons: m
                .mons
                .iter()
                .map(|x| wit::MonInfo {
                    name: x.name.clone(),
                    rank: x.rank,
                    public_addr: x.public_addr.clone(),
                    in_quorum: x.in_quorum,
                })
                .collect(),
            quorum: m.quorum.clone(),
            leader: m.leader.clone(),
        }
    }
}

impl From<&model::OsdMap> for wit::OsdMap {
    fn from(m: &model::OsdMap) -> Self {
        wit::OsdMap {
            epoch: m.epoch,
            fsid: m.fsid.clone(),
            flags: m.flags.clone(),
            osds: m
                .osds
                .iter()
                .map(|o| wit::OsdInfo {
                    id: o.id,
                    uuid: o.uuid.clone(),
                    up: o.up,
                    in_: o.in_,
                    weight: o.weight,
                    crush_weight: o.crush_weight,
                    primary_affinity: o.primary_affinity,
                    host: o.host.clone(),
                    device_class: o.device_class.clone(),
                    public_addr: o.public_addr.clone(),
                    cluster_addr: o.cluster_addr.clone(),
                    up_from: o.up_from,
                    down_at: o.down_at,
                })
                .collect(),
            pools: m
                .pools
                .iter()
                .map(|p| wit::PoolInfo {
                    id: p.id,
                    name: p.name.clone(),
                    pool_type: p.pool_type.clone(),
                    size: p.size,
                    min_size: p.min_size,
                    pg_num: p.pg_num,
                    pgp_num: p.pgp_num,
                    crush_rule: p.crush_rule,
                    applications: p.applications.clone(),
                    quota_max_bytes: p.quota_max_bytes,
                    quota_max_objects: p.quota_max_objects,
                })
                .collect(),
            full_ratio: m.full_ratio,
            backfillfull_ratio: m.backfillfull_ratio,
            nearfull_ratio: m.nearfull_ratio,
        }
    }
}

fn mds(m: &model::MdsInfo) -> wit::MdsInfo {
    wit::MdsInfo {
        name: m.name.clone(),
        gid: m.gid,
        rank: m.rank,
        state: m.state.clone(),
        addr: m.addr.clone(),
    }
}

impl From<&model::FsMap> for wit::FsMap {
    fn from(m: &model::FsMap) -> Self {
        wit::FsMap {
            epoch: m.epoch,
            filesystems: m
                .filesystems
                .iter()
                .map(|f| wit::Filesystem {
                    id: f.id,
                    name: f.name.clone(),
                    metadata_pool: f.metadata_pool,
                    data_pools: f.data_pools.clone(),
                    max_mds: f.max_mds,
                    mdss: f.mdss.iter().map(mds).collect(),
                })
                .collect(),
            standbys: m.standbys.iter().map(mds).collect(),
        }
    }
}

impl From<&model::MgrMap> for wit::MgrMap {
    fn from(m: &model::MgrMap) -> Self {
        wit::MgrMap {
            epoch: m.epoch,
            active_name: m.active_name.clone(),
            active_gid: m.active_gid,
            active_addr: m.active_addr.clone(),
            available: m.available,
            standbys: m
                .standbys
                .iter()
                .map(|s| wit::MgrStandby {
                    name: s.name.clone(),
                    gid: s.gid,
                })
                .collect(),
            modules: m.modules.clone(),
            services: m.services.clone(),
        }
    }
}

impl From<model::HealthStatus> for wit::HealthStatus {
    fn from(s: model::HealthStatus) -> Self {
        match s {
            model::HealthStatus::Ok => wit::HealthStatus::Ok,
            model::HealthStatus::Warn => wit::HealthStatus::Warn,
            model::HealthStatus::Err => wit::HealthStatus::Err,
        }
    }
}

impl From<wit::HealthStatus> for model::HealthStatus {
    fn from(s: wit::HealthStatus) -> Self {
        match s {
            wit::HealthStatus::Ok => model::HealthStatus::Ok,
            wit::HealthStatus::Warn => model::HealthStatus::Warn,
            wit::HealthStatus::Err => model::HealthStatus::Err,
        }
    }
}

impl From<&model::HealthCheck> for wit::HealthCheck {
    fn from(c: &model::HealthCheck) -> Self {
        wit::HealthCheck {
            code: c.code.clone(),
            severity: c.severity.into(),
            summary: c.summary.clone(),
            detail: c.detail.clone(),
            count: c.count,
        }
    }
}

impl From<wit::HealthCheck> for model::HealthCheck {
    fn from(c: wit::HealthCheck) -> Self {
        model::HealthCheck {
            code: c.code,
            severity: c.severity.into(),
            summary: c.summary,
            detail: c.detail,
            count: c.count,
        }
    }
}

impl From<&model::Health> for wit::Health {
    fn from(h: &model::Health) -> Self {
        wit::Health {
            status: h.status.into(),
            checks: h.checks.iter().map(Into::into).collect(),
        }
    }
}

fn state_counts(list: &[model::PgStateCount]) -> Vec<wit::PgStateCount> {
    list.iter()
        .map(|s| wit::PgStateCount {
            state: s.state.clone(),
            count: s.count,
        })
        .collect()
}

impl From<&model::PgSummary> for wit::PgSummary {
    fn from(p: &model::PgSummary) -> Self {
        wit::PgSummary {
            epoch: p.epoch,
            num_pgs: p.num_pgs,
            num_objects: p.num_objects,
            by_state: state_counts(&p.by_state),
            by_pool: p
                .by_pool
                .iter()
                .map(|x| wit::PoolPgStates {
                    pool_id: x.pool_id,
                    states: state_counts(&x.states),
                })
                .collect(),
            degraded_objects: p.degraded_objects,
            misplaced_objects: p.misplaced_objects,
            read_bytes_sec: p.read_bytes_sec,
            write_bytes_sec: p.write_bytes_sec,
            read_op_per_sec: p.read_op_per_sec,
            write_op_per_sec: p.write_op_per_sec,
            recovering_bytes_per_sec: p.recovering_bytes_per_sec,
        }
    }
}

impl From<&model::Df> for wit::Df {
    fn from(d: &model::Df) -> Self {
        wit::Df {
            total_bytes: d.total_bytes,
            total_used_bytes: d.total_used_bytes,
            total_avail_bytes: d.total_avail_bytes,
            pools: d
                .pools
                .iter()
                .map(|p| wit::PoolUsage {
                    id: p.id,
                    name: p.name.clone(),
                    stored: p.stored,
                    objects: p.objects,
                    bytes_used: p.bytes_used,
                    max_avail: p.max_avail,
                    percent_used: p.percent_used,
                    rd: p.rd,
                    rd_bytes: p.rd_bytes,
                    wr: p.wr,
                    wr_bytes: p.wr_bytes,
                })
                .collect(),
        }
    }
}

impl From<&model::Server> for wit::Server {
    fn from(s: &model::Server) -> Self {
        wit::Server {
            hostname: s.hostname.clone(),
            ceph_version: s.ceph_version.clone(),
            daemons: s
                .daemons
                .iter()
                .map(|d| wit::DaemonKey {
                    kind: d.kind.clone(),
                    id: d.id.clone(),
                })
                .collect(),
        }
    }
}

impl From<model::CounterKind> for wit::CounterKind {
    fn from(k: model::CounterKind) -> Self {
        match k {
            model::CounterKind::Gauge => wit::CounterKind::Gauge,
            model::CounterKind::Counter => wit::CounterKind::Counter,
            model::CounterKind::Average => wit::CounterKind::Average,
        }
    }
}

impl From<model::PerfCounter> for wit::PerfCounter {
    fn from(c: model::PerfCounter) -> Self {
        wit::PerfCounter {
            daemon: c.daemon,
            path: c.path,
            kind: c.kind.into(),
            value: c.value,
            count: c.count,
            description: c.description,
        }
    }
}

impl From<&model::ClogEntry> for wit::ClogEntry {
    fn from(c: &model::ClogEntry) -> Self {
        wit::ClogEntry {
            stamp: c.stamp.clone(),
            name: c.name.clone(),
            channel: c.channel.clone(),
            priority: c.priority.clone(),
            message: c.message.clone(),
            seq: c.seq,
        }
    }
}

impl From<wasm_mgr_cluster::source::CommandOutput> for wit::CommandResult {
    fn from(o: wasm_mgr_cluster::source::CommandOutput) -> Self {
        wit::CommandResult {
            retval: o.retval,
            stdout: o.stdout,
            stderr: o.stderr,
        }
    }
}
