//! `status`: `osd status`, `fs status` and `health [detail]` as ceph's own status
//! module prints them, in text or JSON, and `GET /osd` over HTTP.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use wasm_mgr_sdk::{
    Command, CommandResult, HealthStatus, HttpRequest, HttpResponse, Module, ModuleInfo,
    ModuleOption, Table, cluster, commands, errno, export_module, format_bytes, format_dimless,
    options, sleep,
};

/// Counters whose rate the tables show: OSD client IO, MDS requests and replay.
const RATE_COUNTERS: [&str; 7] = [
    "osd.op_w",
    "osd.op_rw",
    "osd.op_in_bytes",
    "osd.op_r",
    "osd.op_out_bytes",
    "mds_server.handle_client_request",
    "mds_log.replayed",
];

/// Counter values by (daemon, path): `("osd.3", "osd.op_w")`.
type Counters = HashMap<(String, String), u64>;

/// Counters read at one moment.
struct Sample {
    at: Instant,
    counters: Counters,
}

/// Every counter of `daemon_prefix` daemons under `path_prefix`, kept if `keep` says so.
fn read_counters(daemon_prefix: &str, path_prefix: &str, keep: impl Fn(&str) -> bool) -> Counters {
    cluster::perf_counters(daemon_prefix, path_prefix)
        .into_iter()
        .filter(|c| keep(&c.path))
        .map(|c| ((c.daemon, c.path), c.value))
        .collect()
}

/// The module: the two newest counter samples, for rates.
#[derive(Default)]
struct Status {
    samples: RefCell<VecDeque<Sample>>,
}

impl Status {
    /// Read the rate counters and keep the newest two samples.
    fn sample(&self) {
        let keep = |path: &str| RATE_COUNTERS.contains(&path);
        let mut counters = read_counters("osd.", "osd.op_", keep);
        counters.extend(read_counters("mds.", "mds_", keep));
        let mut samples = self.samples.borrow_mut();
        samples.push_back(Sample {
            at: Instant::now(),
            counters,
        });
        while samples.len() > 2 {
            samples.pop_front();
        }
    }

    /// Per-second rate of a counter between the two newest samples; 0 until there are two.
    fn rate(&self, daemon: &str, path: &str) -> f64 {
        let samples = self.samples.borrow();
        let (Some(old), Some(new)) = (samples.front(), samples.back()) else {
            return 0.0;
        };
        let seconds = new.at.duration_since(old.at).as_secs_f64();
        let key = (daemon.to_owned(), path.to_owned());
        match (old.counters.get(&key), new.counters.get(&key)) {
            (Some(&a), Some(&b)) if seconds > 0.0 => b.saturating_sub(a) as f64 / seconds,
            _ => 0.0,
        }
    }
}

/// One line of `osd status`.
struct OsdRow {
    id: i32,
    host: String,
    kb_used: u64,
    kb_avail: u64,
    wr_ops: f64,
    wr_bytes: f64,
    rd_ops: f64,
    rd_bytes: f64,
    state: Vec<&'static str>,
}

/// Whether `name` matches the shell pattern `pattern` (`*`, `?`), as ceph's `fnmatch`.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            (pi, ni) = (pi + 1, ni + 1);
        } else if pi < p.len() && p[pi] == '*' {
            (star, mark, pi) = (Some(pi), ni, pi + 1);
        } else if let Some(s) = star {
            (pi, mark) = (s + 1, mark + 1);
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The OSD ids under every CRUSH bucket matching `pattern`; none if no bucket matches.
fn osds_in_buckets(pattern: &str) -> Result<Option<Vec<i64>>, CommandResult> {
    let tree = cluster::get_json::<Value>("osd_map_tree")?;
    let nodes: HashMap<i64, &Value> = tree["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|node| Some((node["id"].as_i64()?, node)))
        .collect();
    let mut pending: Vec<i64> = nodes
        .iter()
        .filter(|(_, node)| node["type"] != "osd")
        .filter(|(_, node)| glob(pattern, node["name"].as_str().unwrap_or_default()))
        .map(|(id, _)| *id)
        .collect();
    if pending.is_empty() {
        return Ok(None);
    }
    let mut osds = Vec::new();
    while let Some(id) = pending.pop() {
        if id >= 0 {
            osds.push(id);
        } else if let Some(children) = nodes.get(&id).and_then(|n| n["children"].as_array()) {
            pending.extend(children.iter().filter_map(Value::as_i64));
        }
    }
    Ok(Some(osds))
}

/// `(kb_used, kb_avail)` by OSD id from `get("osd_stats")`, a list or `{"osd_stats": [...]}`.
fn osd_usage() -> Result<HashMap<i64, (u64, u64)>, CommandResult> {
    let stats = cluster::get_json::<Value>("osd_stats")?;
    let list = stats.as_array().or(stats["osd_stats"].as_array());
    Ok(list
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let used = s["kb_used"].as_u64().unwrap_or(0);
            Some((
                s["osd"].as_i64()?,
                (used, s["kb_avail"].as_u64().unwrap_or(0)),
            ))
        })
        .collect())
}

impl Status {
    /// One row per OSD, of the buckets matching `bucket` if given.
    fn osd_rows(&self, bucket: Option<&str>) -> Result<Vec<OsdRow>, CommandResult> {
        let wanted = match bucket {
            Some(pattern) => Some(osds_in_buckets(pattern)?.ok_or_else(|| {
                CommandResult::error(errno::ENOENT, format!("Bucket '{pattern}' not found"))
            })?),
            None => None,
        };
        let usage = osd_usage()?;
        let mut rows = Vec::new();
        for osd in cluster::osd_map().osds {
            let id = i64::from(osd.id);
            if wanted.as_ref().is_some_and(|ids| !ids.contains(&id)) {
                continue;
            }
            let daemon = format!("osd.{id}");
            let host = cluster::get_metadata("osd", &id.to_string())
                .and_then(|mut meta| meta.remove("hostname"))
                .unwrap_or(osd.host);
            let (kb_used, kb_avail) = usage.get(&id).copied().unwrap_or_default();
            let mut state = vec!["exists"];
            if osd.up {
                state.push("up");
            }
            rows.push(OsdRow {
                id: osd.id,
                host,
                kb_used,
                kb_avail,
                wr_ops: self.rate(&daemon, "osd.op_w") + self.rate(&daemon, "osd.op_rw"),
                wr_bytes: self.rate(&daemon, "osd.op_in_bytes"),
                rd_ops: self.rate(&daemon, "osd.op_r"),
                rd_bytes: self.rate(&daemon, "osd.op_out_bytes"),
                state,
            });
        }
        Ok(rows)
    }

    /// `osd status` as JSON, with the keys ceph's status module uses.
    fn osd_json(&self, bucket: Option<&str>) -> Result<Value, CommandResult> {
        let osds: Vec<Value> = self
            .osd_rows(bucket)?
            .into_iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "host name": r.host,
                    "kb used": r.kb_used,
                    "kb available": r.kb_avail,
                    "write ops rate": r.wr_ops,
                    "write byte rate": r.wr_bytes,
                    "read ops rate": r.rd_ops,
                    "read byte rate": r.rd_bytes,
                    "state": r.state,
                })
            })
            .collect();
        Ok(json!({ "OSDs": osds }))
    }

    /// `osd status [bucket]` as ceph's table or JSON.
    fn osd_status(
        &self,
        command: &Command,
        bucket: Option<&str>,
    ) -> Result<CommandResult, CommandResult> {
        if command.wants_json() {
            return Ok(CommandResult::json_for(command, &self.osd_json(bucket)?));
        }
        let mut table = Table::new(&[
            "ID", "HOST", "USED", "AVAIL", "WR OPS", "WR DATA", "RD OPS", "RD DATA", "STATE",
        ])
        .right(&[0, 2, 3, 4, 5, 6, 7]);
        for r in self.osd_rows(bucket)? {
            table.row([
                r.id.to_string(),
                r.host,
                format_bytes(r.kb_used as f64 * 1024.0, 5),
                format_bytes(r.kb_avail as f64 * 1024.0, 5),
                format_dimless(r.wr_ops, 5),
                format_bytes(r.wr_bytes, 5),
                format_dimless(r.rd_ops, 5),
                format_bytes(r.rd_bytes, 5),
                r.state.join(","),
            ]);
        }
        Ok(CommandResult::ok(table.to_string()))
    }
}

/// What `fs status` gathers, for text and JSON alike.
#[derive(Default)]
struct FsReport {
    text: String,
    mdsmap: Vec<Value>,
    pools: Vec<Value>,
    clients: Vec<Value>,
    versions: BTreeMap<String, Vec<String>>,
}

impl FsReport {
    /// Record an MDS line for JSON (`extra` sets the rank and adds rate or events) and
    /// its version.
    fn push_mds(&mut self, row: &MdsRow, extra: Value) {
        let [dns, inos, dirs, caps] = row.memory;
        let mut entry = json!({
            "name": row.name, "state": row.state,
            "dns": dns, "inos": inos, "dirs": dirs, "caps": caps,
        });
        if let (Some(entry), Value::Object(extra)) = (entry.as_object_mut(), extra) {
            entry.extend(extra);
        }
        self.mdsmap.push(entry);
        self.note_version(row.name);
    }

    /// Count `mds` under its Ceph version.
    fn note_version(&mut self, mds: &str) {
        let version = cluster::get_metadata("mds", mds)
            .and_then(|mut meta| meta.remove("ceph_version"))
            .unwrap_or_else(|| "unknown".to_owned());
        self.versions
            .entry(version)
            .or_default()
            .push(mds.to_owned());
    }
}

/// Latest MDS memory and session counters.
fn mds_counters() -> Counters {
    read_counters("mds.", "mds_", |path| {
        path.starts_with("mds_mem.") || path == "mds_sessions.session_count"
    })
}

/// One MDS line of the rank table.
struct MdsRow<'a> {
    rank: String,
    state: String,
    name: &'a str,
    activity: String,
    /// Client requests per second of an active rank, replayed events of a standby-replay.
    rate: f64,
    /// `mds_mem.dn`, `.ino`, `.dir`, `.cap`.
    memory: [u64; 4],
}

impl MdsRow<'_> {
    /// The table cells, numbers shortened to fit.
    fn cells(&self) -> Vec<String> {
        let mut cells = vec![
            self.rank.clone(),
            self.state.clone(),
            self.name.to_owned(),
            self.activity.clone(),
        ];
        cells.extend(self.memory.map(|n| format_dimless(n as f64, 5)));
        cells
    }
}

/// An MDS's latest `mds_mem` counters: dentries, inodes, dirs, caps.
fn mds_memory(counters: &Counters, mds: &str) -> [u64; 4] {
    let daemon = format!("mds.{mds}");
    ["mds_mem.dn", "mds_mem.ino", "mds_mem.dir", "mds_mem.cap"].map(|path| {
        counters
            .get(&(daemon.clone(), path.to_owned()))
            .copied()
            .unwrap_or(0)
    })
}

/// The rank table's header.
fn rank_table() -> Table {
    Table::new(&[
        "RANK", "STATE", "MDS", "ACTIVITY", "DNS", "INOS", "DIRS", "CAPS",
    ])
    .right(&[0, 4, 5, 6, 7])
}

impl Status {
    /// The row of an active (or otherwise up) rank.
    fn rank_row<'a>(&self, rank: i64, info: &'a Value, counters: &Counters) -> MdsRow<'a> {
        let name = info["name"].as_str().unwrap_or_default();
        let mut state = info["state"].as_str().unwrap_or_default();
        state = state.strip_prefix("up:").unwrap_or(state);
        let (rate, activity) = if state == "active" {
            let rate = self.rate(&format!("mds.{name}"), "mds_server.handle_client_request");
            (rate, format!("Reqs: {}/s", format_dimless(rate, 5)))
        } else {
            (0.0, String::new())
        };
        let laggy = if info.get("laggy_since").is_some() {
            "(laggy)"
        } else {
            ""
        };
        MdsRow {
            rank: rank.to_string(),
            state: format!("{state}{laggy}"),
            name,
            activity,
            rate,
            memory: mds_memory(counters, name),
        }
    }

    /// Rows for every rank in the file system, then its standby-replay daemons; returns
    /// the client count (sessions of the first rank that has any).
    fn fs_ranks(&self, mdsmap: &Value, counters: &Counters, report: &mut FsReport) -> (Table, u64) {
        let mut table = rank_table();
        let mut clients = 0;
        for rank in mdsmap["in"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
        {
            let gid = mdsmap["up"][format!("mds_{rank}")].as_u64();
            let Some(info) = gid.map(|gid| &mdsmap["info"][format!("gid_{gid}")]) else {
                table.row([rank.to_string(), "failed".to_owned()]);
                report.mdsmap.push(json!({"rank": rank, "state": "failed"}));
                continue;
            };
            let row = self.rank_row(rank, info, counters);
            if clients == 0 {
                let key = (
                    format!("mds.{}", row.name),
                    "mds_sessions.session_count".to_owned(),
                );
                clients = counters.get(&key).copied().unwrap_or(0);
            }
            report.push_mds(&row, json!({"rank": rank, "rate": row.rate}));
            table.row(row.cells());
        }
        let infos = mdsmap["info"].as_object().into_iter().flat_map(Map::values);
        for info in infos.filter(|i| i["state"] == "up:standby-replay") {
            let name = info["name"].as_str().unwrap_or_default();
            let events = self.rate(&format!("mds.{name}"), "mds_log.replayed");
            let row = MdsRow {
                rank: format!("{}-s", info["rank"]),
                state: "standby-replay".to_owned(),
                name,
                activity: format!("Evts: {}/s", format_dimless(events, 5)),
                rate: events,
                memory: mds_memory(counters, name),
            };
            report.push_mds(&row, json!({"rank": info["rank"], "events": events}));
            table.row(row.cells());
        }
        (table, clients)
    }

    /// The header, rank table and pool table of one file system.
    fn fs_section(&self, mdsmap: &Value, counters: &Counters, report: &mut FsReport) {
        let name = mdsmap["fs_name"].as_str().unwrap_or_default();
        let (ranks, clients) = self.fs_ranks(mdsmap, counters, report);
        let pools = fs_pools(mdsmap, report);
        report.clients.push(json!({"fs": name, "clients": clients}));
        let underline = "=".repeat(name.len());
        report.text.push_str(&format!(
            "{name} - {clients} clients\n{underline}\n{ranks}{pools}"
        ));
    }
}

/// The pool table of one file system: metadata pool first, then data pools.
fn fs_pools(mdsmap: &Value, report: &mut FsReport) -> Table {
    let (osd_map, df) = (cluster::osd_map(), cluster::df());
    let metadata = mdsmap["metadata_pool"].as_i64();
    let data = mdsmap["data_pools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64);
    let mut table = Table::new(&["POOL", "TYPE", "USED", "AVAIL"]).right(&[2, 3]);
    for id in metadata.into_iter().chain(data) {
        let kind = if Some(id) == metadata {
            "metadata"
        } else {
            "data"
        };
        let name = osd_map
            .pools
            .iter()
            .find(|p| p.id == id)
            .map_or(String::new(), |p| p.name.clone());
        let (used, avail) = df
            .pools
            .iter()
            .find(|p| p.id == id)
            .map_or((0, 0), |p| (p.bytes_used, p.max_avail));
        table.row([
            name.clone(),
            kind.to_owned(),
            format_bytes(used as f64, 5),
            format_bytes(avail as f64, 5),
        ]);
        report
            .pools
            .push(json!({"id": id, "name": name, "type": kind, "used": used, "avail": avail}));
    }
    table
}

impl Status {
    /// `fs status [fs]`: ranks, pools, standbys and MDS versions.
    fn fs_status(
        &self,
        command: &Command,
        filter: Option<&str>,
    ) -> Result<CommandResult, CommandResult> {
        let fs_map = cluster::get_json::<Value>("fs_map")?;
        let counters = mds_counters();
        let mut report = FsReport::default();
        let mut matched = false;
        for fs in fs_map["filesystems"].as_array().into_iter().flatten() {
            let mdsmap = &fs["mdsmap"];
            if filter.is_some_and(|f| mdsmap["fs_name"] != f) {
                continue;
            }
            matched = true;
            self.fs_section(mdsmap, &counters, &mut report);
        }
        if let (Some(name), false) = (filter, matched) {
            return Err(CommandResult::error(
                errno::EINVAL,
                format!("Invalid filesystem: {name}"),
            ));
        }
        let mut standbys = Table::new(&["STANDBY MDS"]);
        for standby in fs_map["standbys"].as_array().into_iter().flatten() {
            let mds = standby["name"].as_str().unwrap_or_default();
            standbys.row([mds]);
            report.mdsmap.push(json!({"name": mds, "state": "standby"}));
            report.note_version(mds);
        }
        if command.wants_json() {
            let versions: Value = match report.versions.len() {
                1 => json!(report.versions.keys().next()),
                _ => report
                    .versions
                    .iter()
                    .map(|(version, daemons)| json!({"version": version, "daemons": daemons}))
                    .collect(),
            };
            let answer = json!({
                "mdsmap": report.mdsmap,
                "pools": report.pools,
                "clients": report.clients,
                "mds_version": versions,
            });
            return Ok(CommandResult::json_for(command, &answer));
        }
        let mut text = report.text;
        text.push_str(&standbys.to_string());
        if report.versions.len() == 1 {
            let version = report.versions.keys().next().map_or("", String::as_str);
            text.push_str(&format!("MDS version: {version}\n"));
        } else if !report.versions.is_empty() {
            let mut table = Table::new(&["VERSION", "DAEMONS"]);
            for (version, daemons) in &report.versions {
                table.row([version.clone(), daemons.join(", ")]);
            }
            text.push_str(&table.to_string());
        }
        Ok(CommandResult::ok(text))
    }
}

/// `health [detail]` as `ceph health [detail]` prints it.
fn health_status(command: &Command, detail: bool) -> CommandResult {
    let health = cluster::health();
    if command.wants_json() {
        let checks: Map<String, Value> = health
            .checks
            .iter()
            .map(|c| {
                let mut check = json!({
                    "severity": c.severity.as_str(),
                    "summary": {"message": c.summary, "count": c.count},
                    "muted": false,
                });
                if detail {
                    let lines: Vec<Value> =
                        c.detail.iter().map(|l| json!({"message": l})).collect();
                    check["detail"] = Value::Array(lines);
                }
                (c.code.clone(), check)
            })
            .collect();
        let answer = json!({"status": health.status.as_str(), "checks": checks, "mutes": []});
        return CommandResult::json_for(command, &answer);
    }
    let summaries: Vec<&str> = health.checks.iter().map(|c| c.summary.as_str()).collect();
    let mut text = health.status.as_str().to_owned();
    if !summaries.is_empty() {
        text.push_str(&format!(" {}", summaries.join("; ")));
    }
    text.push('\n');
    if detail {
        for check in &health.checks {
            let tag = match check.severity {
                HealthStatus::Ok => "INF",
                HealthStatus::Warn => "WRN",
                HealthStatus::Err => "ERR",
            };
            text.push_str(&format!("[{tag}] {}: {}\n", check.code, check.summary));
            for line in &check.detail {
                text.push_str(&format!("    {line}\n"));
            }
        }
    }
    CommandResult::ok(text)
}

#[commands]
impl Module for Status {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("status", env!("CARGO_PKG_VERSION"))
            .description("High-level status of OSDs, file systems and health")
            .option(
                ModuleOption::secs("sample-interval")
                    .default(5)
                    .min(1)
                    .desc("Seconds between the perf counter samples that give IO rates"),
            )
            .http()
    }

    /// Show the status of OSDs within a bucket, or all
    #[read_command("osd status")]
    fn osd(&self, command: &Command, bucket: Option<&str>) -> Result<CommandResult, CommandResult> {
        self.osd_status(command, bucket)
    }

    /// Show the status of a CephFS filesystem
    #[read_command("fs status")]
    fn fs(&self, command: &Command, fs: Option<&str>) -> Result<CommandResult, CommandResult> {
        self.fs_status(command, fs)
    }

    /// Show cluster health, with detail if asked
    #[read_command("health")]
    fn health(
        &self,
        command: &Command,
        #[choices("detail")] detail: Option<&str>,
    ) -> CommandResult {
        health_status(command, detail == Some("detail"))
    }

    async fn serve(&self) {
        loop {
            self.sample();
            let seconds = options::get_int("sample-interval").unwrap_or(5).max(1);
            if !sleep(Duration::from_secs(seconds.unsigned_abs())).await {
                break;
            }
        }
    }

    async fn handle_http(&self, request: HttpRequest) -> HttpResponse {
        if !request.is_get("/osd") {
            return HttpResponse::not_found();
        }
        match self.osd_json(request.query_param("bucket")) {
            Ok(osds) => HttpResponse::json(&osds),
            Err(failure) => {
                let status = if failure.retval == -errno::ENOENT {
                    404
                } else {
                    500
                };
                HttpResponse::text(failure.stderr).status(status)
            }
        }
    }
}

export_module!(Status);

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_matches_like_fnmatch() {
        assert!(glob("host-*", "host-1"));
        assert!(glob("h?st", "host"));
        assert!(glob("*", "default"));
        assert!(!glob("host-?", "host-12"));
        assert!(glob("*-1*", "rack-12"));
        assert!(!glob("rack", "rack-1"));
    }
}
