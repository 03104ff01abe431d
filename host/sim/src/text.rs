//! Plain-text output of the sim's read commands, short versions of what the ceph CLI
//! prints, plus the small JSON answers that only commands use.

use std::fmt::Write as _;

use serde_json::{Value, json};

use wasm_mgr_cluster::Snapshot;
use wasm_mgr_cluster::json::CEPH_VERSION;
use wasm_mgr_cluster::placement::Placement;

/// Ceph's `byte_u_t`: `0 B`, `57 KiB`, `3.0 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else if v < 10.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}

/// Ceph's `si_u_t`: `22`, `1.20k`, `3.4M`.
fn si(n: u64) -> String {
    const UNITS: [&str; 5] = ["", "k", "M", "G", "T"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        n.to_string()
    } else if v < 10.0 {
        format!("{v:.2}{}", UNITS[u])
    } else if v < 100.0 {
        format!("{v:.1}{}", UNITS[u])
    } else {
        format!("{v:.0}{}", UNITS[u])
    }
}

fn io_line(s: &Snapshot) -> String {
    let p = &s.pg_summary;
    format!(
        "{}/s rd, {}/s wr, {} op/s rd, {} op/s wr",
        bytes(p.read_bytes_sec),
        bytes(p.write_bytes_sec),
        p.read_op_per_sec,
        p.write_op_per_sec
    )
}

/// `ceph status`.
pub(crate) fn status(s: &Snapshot) -> String {
    let mut out = String::new();
    let m = &s.osd_map;
    let quorum = s.mon_map.quorum_names();
    let _ = writeln!(
        out,
        "  cluster:\n    id:     {}\n    health: {}",
        s.fsid,
        s.health.status.as_str()
    );
    for c in &s.health.checks {
        let _ = writeln!(out, "            {}", c.summary);
    }
    let _ = writeln!(out, "\n  services:");
    let out_of: Vec<&str> = s
        .mon_map
        .mons
        .iter()
        .filter(|x| !x.in_quorum)
        .map(|x| x.name.as_str())
        .collect();
    let mut mon = format!(
        "{} daemons, quorum {}",
        s.mon_map.mons.len(),
        quorum.join(",")
    );
    if !out_of.is_empty() {
        let _ = write!(mon, ", out of quorum: {}", out_of.join(", "));
    }
    let _ = writeln!(out, "    mon: {mon}");
    let standbys: Vec<&str> = s.mgr_map.standbys.iter().map(|x| x.name.as_str()).collect();
    let _ = writeln!(
        out,
        "    mgr: {}(active){}",
        s.mgr_map.active_name,
        if standbys.is_empty() {
            String::new()
        } else {
            format!(", standbys: {}", standbys.join(", "))
        }
    );
    if !s.fs_map.filesystems.is_empty() {
        let ranks: usize = s
            .fs_map
            .filesystems
            .iter()
            .map(|f| f.max_mds as usize)
            .sum();
        let up: usize = s.fs_map.filesystems.iter().map(|f| f.mdss.len()).sum();
        let _ = writeln!(
            out,
            "    mds: {up}/{ranks} daemons up, {} standby",
            s.fs_map.standbys.len()
        );
    }
    let up = m.osds.iter().filter(|o| o.up).count();
    let inn = m.osds.iter().filter(|o| o.in_).count();
    let _ = writeln!(out, "    osd: {} osds: {up} up, {inn} in", m.osds.len());
    let p = &s.pg_summary;
    let _ = writeln!(out, "\n  data:");
    if !s.fs_map.filesystems.is_empty() {
        let n = s.fs_map.filesystems.len();
        let healthy = s
            .fs_map
            .filesystems
            .iter()
            .filter(|f| f.mdss.iter().any(|x| x.state == "up:active"))
            .count();
        let _ = writeln!(out, "    volumes: {healthy}/{n} healthy");
    }
    let _ = writeln!(
        out,
        "    pools:   {} pools, {} pgs",
        m.pools.len(),
        p.num_pgs
    );
    let _ = writeln!(
        out,
        "    objects: {} objects, {}",
        si(p.num_objects),
        bytes(p.data_bytes)
    );
    let _ = writeln!(
        out,
        "    usage:   {} used, {} / {} avail",
        bytes(p.bytes_used),
        bytes(p.bytes_avail),
        bytes(p.bytes_total)
    );
    for (i, c) in p.by_state.iter().enumerate() {
        let lead = if i == 0 {
            "    pgs:     "
        } else {
            "             "
        };
        let _ = writeln!(out, "{lead}{} {}", c.count, c.state);
    }
    let _ = writeln!(out, "\n  io:\n    client:   {}", io_line(s));
    if p.recovering_bytes_per_sec > 0 {
        let _ = writeln!(
            out,
            "    recovery: {}/s, {} objects/s",
            bytes(p.recovering_bytes_per_sec),
            p.recovering_objects_per_sec
        );
    }
    out
}

/// `ceph health [detail]`.
pub(crate) fn health(s: &Snapshot, detail: bool) -> String {
    let h = &s.health;
    let mut out = h.status.as_str().to_string();
    if !h.checks.is_empty() {
        let sums: Vec<&str> = h.checks.iter().map(|c| c.summary.as_str()).collect();
        let _ = write!(out, " {}", sums.join("; "));
    }
    out.push('\n');
    if detail {
        for c in &h.checks {
            let _ = writeln!(
                out,
                "[{}] {}: {}",
                &c.severity.tag()[1..4],
                c.code,
                c.summary
            );
            for d in &c.detail {
                let _ = writeln!(out, "    {d}");
            }
        }
    }
    out
}

/// `ceph osd dump`.
pub(crate) fn osd_dump(s: &Snapshot) -> String {
    let m = &s.osd_map;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "epoch {}\nfsid {}\ncreated {}\nmodified {}",
        m.epoch, m.fsid, m.created, m.modified
    );
    let _ = writeln!(out, "flags {}", m.flags.join(","));
    let _ = writeln!(
        out,
        "full_ratio {}\nbackfillfull_ratio {}\nnearfull_ratio {}",
        m.full_ratio, m.backfillfull_ratio, m.nearfull_ratio
    );
    let _ = writeln!(
        out,
        "require_min_compat_client luminous\nmin_compat_client jewel\nrequire_osd_release pacific\n"
    );
    out.push_str(&pool_ls_detail(s));
    let _ = writeln!(out, "\nmax_osd {}", m.osds.len());
    for o in &m.osds {
        let _ = writeln!(
            out,
            "osd.{} {} {} weight {} up_from {} down_at {} {} {} exists{} {}",
            o.id,
            if o.up { "up  " } else { "down" },
            if o.in_ { "in " } else { "out" },
            if o.in_ { o.weight } else { 0.0 },
            o.up_from,
            o.down_at,
            wasm_mgr_cluster::json::addrvec_str(&o.public_addr, o.nonce),
            wasm_mgr_cluster::json::addrvec_str(&o.cluster_addr, o.nonce),
            if o.up { ",up" } else { "" },
            o.uuid
        );
    }
    out
}

/// `ceph osd pool ls detail`.
pub(crate) fn pool_ls_detail(s: &Snapshot) -> String {
    let mut out = String::new();
    for p in &s.osd_map.pools {
        let _ = write!(
            out,
            "pool {} '{}' {} size {} min_size {} crush_rule {} object_hash rjenkins pg_num {} pgp_num {} autoscale_mode on last_change {} flags hashpspool",
            p.id,
            p.name,
            p.pool_type,
            p.size,
            p.min_size,
            p.crush_rule,
            p.pg_num,
            p.pgp_num,
            p.last_change
        );
        if p.quota_max_bytes > 0 {
            let _ = write!(out, " max_bytes {}", p.quota_max_bytes);
        }
        if p.quota_max_objects > 0 {
            let _ = write!(out, " max_objects {}", p.quota_max_objects);
        }
        let _ = write!(out, " stripe_width 0");
        if !p.applications.is_empty() {
            let _ = write!(out, " application {}", p.applications.join(","));
        }
        out.push('\n');
    }
    out
}

/// `ceph osd tree`.
pub(crate) fn osd_tree(s: &Snapshot) -> String {
    let m = &s.osd_map;
    let mut out =
        String::from("ID   CLASS  WEIGHT    TYPE NAME          STATUS  REWEIGHT  PRI-AFF\n");
    let total: f64 = m.osds.iter().map(|o| o.crush_weight).sum();
    let _ = writeln!(out, "{:<4}        {:<9.5} root default", -1, total);
    for (i, h) in m.hosts().iter().enumerate() {
        let w: f64 = m
            .osds
            .iter()
            .filter(|o| o.host == *h)
            .map(|o| o.crush_weight)
            .sum();
        let _ = writeln!(out, "{:<4}        {:<9.5}     host {h}", -(i as i64) - 2, w);
        for o in m.osds.iter().filter(|o| o.host == *h) {
            let _ = writeln!(
                out,
                "{:<4} {:<5}  {:<9.5}         osd.{:<8} {:<6}  {:>8.5}  {:>7.5}",
                o.id,
                o.device_class,
                o.crush_weight,
                o.id,
                if o.up { "up" } else { "down" },
                if o.in_ { o.weight } else { 0.0 },
                o.primary_affinity
            );
        }
    }
    out
}

/// `ceph osd df`.
pub(crate) fn osd_df(s: &Snapshot) -> String {
    let v = s.osd_df_value();
    let mut out = String::from(
        "ID  CLASS  WEIGHT   REWEIGHT  SIZE     USE      AVAIL    %USE   VAR   PGS  STATUS\n",
    );
    for n in v["nodes"].as_array().into_iter().flatten() {
        let kb = n["kb"].as_u64().unwrap_or(0);
        let used = n["kb_used"].as_u64().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:<3} {:<5}  {:<7.5}  {:>8.5}  {:<7}  {:<7}  {:<7}  {:>5.2}  {:>4.2}  {:>3}  {}",
            n["id"],
            n["device_class"].as_str().unwrap_or(""),
            n["crush_weight"].as_f64().unwrap_or(0.0),
            n["reweight"].as_f64().unwrap_or(0.0),
            bytes(kb * 1024),
            bytes(used * 1024),
            bytes(kb.saturating_sub(used) * 1024),
            n["utilization"].as_f64().unwrap_or(0.0),
            n["var"].as_f64().unwrap_or(0.0),
            n["pgs"],
            n["status"].as_str().unwrap_or("")
        );
    }
    let sum = &v["summary"];
    let _ = writeln!(
        out,
        "                       TOTAL  {}  {}  {}  {:.2}",
        bytes(sum["total_kb"].as_u64().unwrap_or(0) * 1024),
        bytes(sum["total_kb_used"].as_u64().unwrap_or(0) * 1024),
        bytes(sum["total_kb_avail"].as_u64().unwrap_or(0) * 1024),
        sum["average_utilization"].as_f64().unwrap_or(0.0)
    );
    out
}

/// `ceph osd stat --format json`.
pub(crate) fn osd_stat_value(s: &Snapshot) -> Value {
    s.status_value()["osdmap"].clone()
}

/// `ceph osd stat`.
pub(crate) fn osd_stat(s: &Snapshot) -> String {
    let m = &s.osd_map;
    format!(
        "{} osds: {} up, {} in; epoch: e{}\n",
        m.osds.len(),
        m.osds.iter().filter(|o| o.up).count(),
        m.osds.iter().filter(|o| o.in_).count(),
        m.epoch
    )
}

/// `ceph osd pool stats`.
pub(crate) fn pool_stats(list: &[Value]) -> String {
    let mut out = String::new();
    for p in list {
        let _ = writeln!(
            out,
            "pool {} id {}",
            p["pool_name"].as_str().unwrap_or(""),
            p["pool_id"]
        );
        let r = &p["recovery"];
        if let Some(d) = r["degraded_objects"].as_u64() {
            let _ = writeln!(
                out,
                "  {}/{} objects degraded ({:.3}%)",
                d,
                r["degraded_total"].as_u64().unwrap_or(0),
                r["degraded_ratio"].as_f64().unwrap_or(0.0) * 100.0
            );
        }
        if let Some(b) = p["recovery_rate"]["recovering_bytes_per_sec"].as_u64() {
            let _ = writeln!(out, "  recovery io {}/s", bytes(b));
        }
        let c = &p["client_io_rate"];
        let (rb, wb) = (
            c["read_bytes_sec"].as_u64().unwrap_or(0),
            c["write_bytes_sec"].as_u64().unwrap_or(0),
        );
        if rb + wb == 0 {
            out.push_str("  nothing is going on\n");
        } else {
            let _ = writeln!(
                out,
                "  client io {}/s rd, {}/s wr, {} op/s rd, {} op/s wr",
                bytes(rb),
                bytes(wb),
                c["read_op_per_sec"].as_u64().unwrap_or(0),
                c["write_op_per_sec"].as_u64().unwrap_or(0)
            );
        }
        out.push('\n');
    }
    out
}

/// `ceph mon dump`.
pub(crate) fn mon_dump(s: &Snapshot) -> String {
    let m = &s.mon_map;
    let mut out = format!(
        "epoch {}\nfsid {}\nlast_changed {}\ncreated {}\nmin_mon_release 16 (pacific)\nelection_strategy: 1\n",
        m.epoch, m.fsid, m.modified, m.created
    );
    for x in &m.mons {
        let ip = x
            .public_addr
            .rsplit_once(':')
            .map_or(x.public_addr.as_str(), |(ip, _)| ip);
        let _ = writeln!(
            out,
            "{}: [v2:{}/0,v1:{ip}:6789/0] mon.{}",
            x.rank, x.public_addr, x.name
        );
    }
    out
}

/// `ceph fs dump`.
pub(crate) fn fs_dump(s: &Snapshot) -> String {
    let m = &s.fs_map;
    let mut out = format!(
        "e{}\nenable_multiple, ever_enabled_multiple: 1,1\nlegacy client fscid: {}\n",
        m.epoch,
        m.filesystems.first().map_or(-1, |f| f.id)
    );
    for f in &m.filesystems {
        let _ = writeln!(
            out,
            "\nFilesystem '{}' ({})\nfs_name\t{}\nepoch\t{}\nmax_mds\t{}\nmetadata_pool\t{}\ndata_pools\t{:?}",
            f.name, f.id, f.name, f.mds_epoch, f.max_mds, f.metadata_pool, f.data_pools
        );
        for d in &f.mdss {
            let _ = writeln!(
                out,
                "[mds.{}{{{}:{}}} state {} addr {}]",
                d.name,
                f.id - 1,
                d.gid,
                d.state,
                d.addr
            );
        }
    }
    out.push_str("\n\nStandby daemons:\n");
    for d in &m.standbys {
        let _ = writeln!(
            out,
            "\n[mds.{}{{-1:{}}} state {} addr {}]",
            d.name, d.gid, d.state, d.addr
        );
    }
    out
}

fn pool_name(s: &Snapshot, id: i64) -> String {
    s.osd_map
        .pool(id)
        .map_or_else(|| id.to_string(), |p| p.name.clone())
}

/// `ceph fs ls --format json`.
pub(crate) fn fs_ls_value(s: &Snapshot) -> Value {
    let list: Vec<Value> = s
        .fs_map
        .filesystems
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "metadata_pool": pool_name(s, f.metadata_pool),
                "metadata_pool_id": f.metadata_pool,
                "data_pool_ids": f.data_pools,
                "data_pools": f.data_pools.iter().map(|p| pool_name(s, *p)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Value::Array(list)
}

/// `ceph fs ls`.
pub(crate) fn fs_ls(s: &Snapshot) -> String {
    if s.fs_map.filesystems.is_empty() {
        return "No filesystems enabled\n".into();
    }
    let mut out = String::new();
    for f in &s.fs_map.filesystems {
        let data: Vec<String> = f.data_pools.iter().map(|p| pool_name(s, *p)).collect();
        let _ = writeln!(
            out,
            "name: {}, metadata pool: {}, data pools: [{} ]",
            f.name,
            pool_name(s, f.metadata_pool),
            data.join(" ")
        );
    }
    out
}

/// `ceph df`.
pub(crate) fn df(s: &Snapshot) -> String {
    let d = &s.df;
    let mut out = String::from(
        "--- RAW STORAGE ---\nCLASS     SIZE    AVAIL     USED  RAW USED  %RAW USED\n",
    );
    let pct = |u: u64, t: u64| {
        if t == 0 {
            0.0
        } else {
            u as f64 * 100.0 / t as f64
        }
    };
    for c in &d.by_class {
        let _ = writeln!(
            out,
            "{:<5}  {:>7}  {:>7}  {:>7}   {:>7}  {:>9.2}",
            c.class,
            bytes(c.total_bytes),
            bytes(c.total_avail_bytes),
            bytes(c.total_used_bytes),
            bytes(c.total_used_bytes),
            pct(c.total_used_bytes, c.total_bytes)
        );
    }
    let _ = writeln!(
        out,
        "TOTAL  {:>7}  {:>7}  {:>7}   {:>7}  {:>9.2}\n\n--- POOLS ---\nPOOL                  ID   PGS   STORED  OBJECTS     USED  %USED  MAX AVAIL",
        bytes(d.total_bytes),
        bytes(d.total_avail_bytes),
        bytes(d.total_used_bytes),
        bytes(d.total_used_bytes),
        pct(d.total_used_bytes, d.total_bytes)
    );
    for p in &d.pools {
        let pgs = s.osd_map.pool(p.id).map_or(0, |x| x.pg_num);
        let _ = writeln!(
            out,
            "{:<20}  {:>2}  {:>4}  {:>7}  {:>7}  {:>7}  {:>5.2}  {:>9}",
            p.name,
            p.id,
            pgs,
            bytes(p.stored),
            si(p.objects),
            bytes(p.bytes_used),
            p.percent_used * 100.0,
            bytes(p.max_avail)
        );
    }
    out
}

/// `ceph pg stat --format json`.
pub(crate) fn pg_stat_value(s: &Snapshot) -> Value {
    let p = &s.pg_summary;
    let by: Vec<Value> = p
        .by_state
        .iter()
        .map(|c| json!({"name": c.state, "num": c.count}))
        .collect();
    json!({
        "pg_ready": true,
        "pg_summary": {
            "num_pg_by_state": by,
            "num_pgs": p.num_pgs,
            "num_bytes": p.data_bytes,
            "total_bytes": p.bytes_total,
            "total_avail_bytes": p.bytes_avail,
            "total_used_bytes": p.bytes_used,
            "total_used_raw_bytes": p.bytes_used,
            "raw_bytes_used": p.bytes_used,
            "raw_bytes_avail": p.bytes_avail,
            "raw_bytes": p.bytes_total,
            "read_bytes_sec": p.read_bytes_sec,
            "write_bytes_sec": p.write_bytes_sec,
            "io_sec": p.read_op_per_sec + p.write_op_per_sec,
        }
    })
}

/// `ceph pg stat`.
pub(crate) fn pg_stat(s: &Snapshot) -> String {
    let p = &s.pg_summary;
    let states: Vec<String> = p
        .by_state
        .iter()
        .map(|c| format!("{} {}", c.count, c.state))
        .collect();
    format!(
        "{} pgs: {}; {} data, {} used, {} / {} avail; {}/s rd, {}/s wr, {} op/s\n",
        p.num_pgs,
        states.join(", "),
        bytes(p.data_bytes),
        bytes(p.bytes_used),
        bytes(p.bytes_avail),
        bytes(p.bytes_total),
        bytes(p.read_bytes_sec),
        bytes(p.write_bytes_sec),
        p.read_op_per_sec + p.write_op_per_sec
    )
}

/// `ceph pg dump` (plain): one line per PG.
pub(crate) fn pg_dump(s: &Snapshot) -> String {
    let placement = Placement::new(&s.osd_map);
    let mut out = String::with_capacity(s.pgs.len() * 64 + 256);
    let _ = writeln!(
        out,
        "version {}\nstamp {}\nPG_STAT  STATE  UP  UP_PRIMARY  ACTING  ACTING_PRIMARY",
        s.pg_summary.epoch, s.pg_summary.stamp
    );
    for pool in &s.pgs.pools {
        let size = s.osd_map.pool(pool.pool).map_or(1, |p| p.size);
        for (ps, st) in pool.states.iter().enumerate() {
            let m = placement.map(pool.pool, ps as u32, size);
            let set: Vec<String> = m.up().iter().map(|i| i.to_string()).collect();
            let _ = writeln!(
                out,
                "{}  {}  [{}]  {}  [{}]  {}",
                wasm_mgr_cluster::model::pgid(pool.pool, ps as u32),
                st.name(),
                set.join(","),
                m.primary(),
                set.join(","),
                m.primary()
            );
        }
    }
    out
}

/// `ceph versions`.
pub(crate) fn versions_value(s: &Snapshot) -> Value {
    let count = |kind: &str| s.metadata.keys().filter(|k| k.kind == kind).count();
    let entry = |n: usize| {
        if n == 0 {
            json!({})
        } else {
            json!({ CEPH_VERSION: n })
        }
    };
    let (mon, mgr, osd, mds) = (count("mon"), count("mgr"), count("osd"), count("mds"));
    json!({
        "mon": entry(mon),
        "mgr": entry(mgr),
        "osd": entry(osd),
        "mds": entry(mds),
        "overall": entry(mon + mgr + osd + mds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(57 * 1024), "57 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(si(22), "22");
        assert_eq!(si(1200), "1.20k");
    }
}
