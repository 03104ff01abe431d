//! Commands of the simulated cluster: ceph's JSON command dict in, Ceph's
//! `(retval, outb, outs)` out.

use rand::Rng;
use serde_json::{Value, json};

use crate::text;
use crate::{CommandOutput, Dirty, Sim, errno, flag_bit};
use wasm_mgr_cluster::command::CommandTable;
use wasm_mgr_cluster::model::parse_pgid;
use wasm_mgr_cluster::{Cluster, Snapshot, clog_json};

const OSD_FLAG_CHOICES: &str = "pause|noup|nodown|noout|noin|nobackfill|norebalance|norecover|noscrub|nodeep-scrub|notieragent|nosnaptrim";

/// Commands of the sim that change the cluster; every other one only reads.
const WRITES: &[&str] = &[
    "osd down",
    "osd up",
    "osd out",
    "osd in",
    "osd set",
    "osd unset",
    "osd reweight",
    "osd pool create",
    "osd pool delete",
    "osd pool rm",
    "osd pool set",
    "osd pool set-quota",
    "osd pool application enable",
    "pg scrub",
    "pg deep-scrub",
    "mon down",
    "mon up",
    "mds fail",
];

/// The sim's commands with Ceph's permission of each (`r` or `rw`), for turning CLI
/// words into a dict and for checking what a module may send.
pub fn command_table() -> CommandTable {
    CommandTable::from_pairs(SIGNATURES.iter().map(|sig| {
        let words: Vec<&str> = sig
            .split_whitespace()
            .take_while(|w| !w.contains('='))
            .collect();
        let prefix = words.join(" ");
        let perm = if WRITES.contains(&prefix.as_str()) {
            "rw"
        } else {
            "r"
        };
        (*sig, perm)
    }))
}

/// The sim's commands in ceph's signature syntax.
const SIGNATURES: &[&str] = &[
    "status",
    "health name=detail,type=CephChoices,strings=detail,req=false",
    "osd down name=ids,type=CephString,n=N",
    "osd up name=ids,type=CephString,n=N",
    "osd out name=ids,type=CephString,n=N",
    "osd in name=ids,type=CephString,n=N",
    "osd set name=key,type=CephChoices,strings=pause|noup|nodown|noout|noin|nobackfill|norebalance|norecover|noscrub|nodeep-scrub|notieragent|nosnaptrim",
    "osd unset name=key,type=CephChoices,strings=pause|noup|nodown|noout|noin|nobackfill|norebalance|norecover|noscrub|nodeep-scrub|notieragent|nosnaptrim",
    "osd reweight name=id,type=CephOsdName name=weight,type=CephFloat,range=0.0|1.0",
    "osd pool create name=pool,type=CephPoolname name=pg_num,type=CephInt,range=0,req=false",
    "osd pool delete name=pool,type=CephPoolname name=pool2,type=CephPoolname,req=false name=yes_i_really_really_mean_it,type=CephBool,req=false",
    "osd pool rm name=pool,type=CephPoolname name=pool2,type=CephPoolname,req=false name=yes_i_really_really_mean_it,type=CephBool,req=false",
    "osd pool set name=pool,type=CephPoolname name=var,type=CephChoices,strings=size|min_size|pg_num|pgp_num name=val,type=CephString name=yes_i_really_mean_it,type=CephBool,req=false",
    "osd pool set-quota name=pool,type=CephPoolname name=field,type=CephChoices,strings=max_objects|max_bytes name=val,type=CephString",
    "osd pool application enable name=pool,type=CephPoolname name=app,type=CephString name=yes_i_really_mean_it,type=CephBool,req=false",
    "osd pool ls name=detail,type=CephChoices,strings=detail,req=false",
    "osd pool stats name=pool_name,type=CephPoolname,req=false",
    "osd dump",
    "osd tree",
    "osd df",
    "osd stat",
    "osd ls",
    "osd metadata name=id,type=CephOsdName,req=false",
    "pg scrub name=pgid,type=CephPgid",
    "pg deep-scrub name=pgid,type=CephPgid",
    "pg dump name=dumpcontents,type=CephChoices,strings=all|summary|sum|pools|osds|pgs|pgs_brief,n=N,req=false",
    "pg stat",
    "mon dump",
    "mon down name=name,type=CephString",
    "mon up name=name,type=CephString",
    "quorum_status",
    "fs dump",
    "fs ls",
    "mds fail name=role_or_gid,type=CephString",
    "mgr dump",
    "df name=detail,type=CephChoices,strings=detail,req=false",
    "log last name=num,type=CephInt,range=1,req=false name=level,type=CephChoices,strings=debug|info|sec|warn|error,req=false name=channel,type=CephChoices,strings=*|cluster|audit|cephadm,req=false",
    "versions",
];

fn str_arg(cmd: &Value, key: &str) -> Option<String> {
    match cmd.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_string),
        _ => None,
    }
}

fn strs_arg(cmd: &Value, key: &str) -> Vec<String> {
    match cmd.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(_) => str_arg(cmd, key).into_iter().collect(),
        None => Vec::new(),
    }
}

fn bool_arg(cmd: &Value, key: &str) -> bool {
    match cmd.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s.starts_with("--yes-i-really"),
        _ => false,
    }
}

/// Integer argument given as a number or a numeric string, with K/M/G/T suffixes.
fn int_value(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: i64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return None,
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    num.parse::<i64>().ok()?.checked_mul(mult)
}

/// An OSD id from `3`, `osd.3`.
fn osd_id(s: &str) -> Option<i32> {
    let s = s.trim();
    s.strip_prefix("osd.")
        .unwrap_or(s)
        .parse::<i32>()
        .ok()
        .filter(|i| *i >= 0)
}

/// Render JSON as the format asks (pretty for `json-pretty`).
fn render(v: &Value, pretty: bool) -> String {
    if pretty {
        // Ceph indents by four spaces.
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        match serde::Serialize::serialize(v, &mut ser) {
            Ok(()) => String::from_utf8(buf).unwrap_or_default(),
            Err(_) => v.to_string(),
        }
    } else {
        v.to_string()
    }
}

impl Sim {
    /// Run one command.
    pub(crate) fn command(
        &mut self,
        cluster: &Cluster,
        cmd: &Value,
        _inbuf: &str,
    ) -> CommandOutput {
        let Some(prefix) = cmd.get("prefix").and_then(Value::as_str) else {
            return CommandOutput::err(errno::EINVAL, "command has no prefix");
        };
        let write = matches!(
            prefix,
            "osd down"
                | "osd up"
                | "osd out"
                | "osd in"
                | "osd set"
                | "osd unset"
                | "osd reweight"
                | "osd pool create"
                | "osd pool delete"
                | "osd pool rm"
                | "osd pool set"
                | "osd pool set-quota"
                | "osd pool application enable"
                | "pg scrub"
                | "pg deep-scrub"
                | "mon down"
                | "mon up"
                | "mds fail"
        );
        if !write {
            let format = cmd.get("format").and_then(Value::as_str).unwrap_or("");
            let json = matches!(format, "json" | "json-pretty");
            return read_command(
                &cluster.snapshot(),
                cluster,
                prefix,
                cmd,
                json,
                format == "json-pretty",
            );
        }
        let who = self.mon_who();
        let audit = format!("from='client.admin' entity='client.admin' cmd=[{cmd}]");
        cluster.log_to_cluster(&who, "audit", "info", &format!("{audit}: dispatch"));
        let mut log: Vec<(String, &'static str, String)> = Vec::new();
        let out = match prefix {
            "osd down" | "osd up" | "osd out" | "osd in" => self.osd_state(prefix, cmd, &mut log),
            "osd set" | "osd unset" => self.osd_flag(prefix == "osd set", cmd),
            "osd reweight" => self.osd_reweight(cmd),
            "osd pool create" => self.pool_create(cmd),
            "osd pool delete" | "osd pool rm" => self.pool_delete(cmd),
            "osd pool set" => self.pool_set(cmd),
            "osd pool set-quota" => self.pool_quota(cmd),
            "osd pool application enable" => self.pool_application(cmd),
            "pg scrub" | "pg deep-scrub" => self.pg_scrub(prefix == "pg deep-scrub", cmd, &mut log),
            "mon down" | "mon up" => self.mon_state(prefix == "mon up", cmd, &mut log),
            _ => self.mds_fail(cmd, &mut log),
        };
        let (out, dirty) = out;
        if let Some(dirty) = dirty {
            self.publish(cluster, dirty);
            if dirty.mon {
                cluster.set_mon_connection(self.mon_leader().is_some());
            }
        }
        for (who, prio, msg) in log {
            cluster.log_to_cluster(&who, "cluster", prio, &msg);
        }
        if out.retval == 0 {
            let who = self.mon_who();
            cluster.log_to_cluster(&who, "audit", "info", &format!("{audit}: finished"));
        }
        out
    }

    /// Bump the OSD map epoch for a change; returns the new epoch.
    fn next_osd_epoch(&mut self) -> u64 {
        self.osd_epoch += 1;
        self.osd_modified = wasm_mgr_cluster::time::ceph_stamp(std::time::SystemTime::now());
        self.osd_epoch
    }

    fn osd_state(
        &mut self,
        prefix: &str,
        cmd: &Value,
        log: &mut Vec<(String, &'static str, String)>,
    ) -> (CommandOutput, Option<Dirty>) {
        let ids = strs_arg(cmd, "ids");
        if ids.is_empty() {
            return (CommandOutput::err(errno::EINVAL, "no osd ids given"), None);
        }
        let mut targets: Vec<i32> = Vec::new();
        let mut ss = String::new();
        let mut err = 0;
        let mut verbose = true;
        for id in &ids {
            if matches!(id.as_str(), "any" | "all" | "*") {
                targets = self.osds.iter().map(|o| o.id).collect();
                verbose = false;
                break;
            }
            match osd_id(id) {
                None => {
                    ss.push_str(&format!("invalid osd id {id}"));
                    err = errno::EINVAL;
                }
                Some(i) if i as usize >= self.osds.len() => {
                    ss.push_str(&format!("osd.{i} does not exist. "));
                }
                Some(i) => targets.push(i),
            }
        }
        let old = self.placement.clone();
        let sizes = self.pool_sizes();
        let epoch = self.osd_epoch + 1;
        let who = self.mon_who();
        let mut any = false;
        let noup = self.has_flag("noup");
        for id in targets {
            let Some(o) = self.osds.get_mut(id as usize) else {
                continue;
            };
            match prefix {
                "osd down" if !o.up => {
                    if verbose {
                        ss.push_str(&format!("osd.{id} is already down. "));
                    }
                }
                "osd down" => {
                    o.up = false;
                    o.down_at = epoch;
                    o.down_secs = 0.0;
                    ss.push_str(&format!("marked down osd.{id}. "));
                    log.push((who.clone(), "INF", format!("osd.{id} marked down")));
                    any = true;
                }
                "osd up" if o.up => {
                    if verbose {
                        ss.push_str(&format!("osd.{id} is already up. "));
                    }
                }
                "osd up" if noup => {
                    ss.push_str(&format!("osd.{id} cannot boot: noup flag is set. "));
                }
                "osd up" => {
                    o.up = true;
                    o.up_from = epoch;
                    o.down_secs = 0.0;
                    o.nonce = o.nonce.wrapping_add(1);
                    ss.push_str(&format!("marked up osd.{id}. "));
                    any = true;
                }
                "osd out" if !o.in_ => {
                    if verbose {
                        ss.push_str(&format!("osd.{id} is already out. "));
                    }
                }
                "osd out" => {
                    o.in_ = false;
                    ss.push_str(&format!("marked out osd.{id}. "));
                    let msg = if o.up {
                        format!(
                            "Client client.admin marked osd.{id} out, while it was still marked up"
                        )
                    } else {
                        format!(
                            "Client client.admin marked osd.{id} out, after it was down for {} seconds",
                            o.down_secs as u64
                        )
                    };
                    log.push((who.clone(), "INF", msg));
                    any = true;
                }
                _ if o.in_ => {
                    if verbose {
                        ss.push_str(&format!("osd.{id} is already in. "));
                    }
                }
                _ => {
                    o.in_ = true;
                    if o.weight <= 0.0 {
                        o.weight = 1.0;
                    }
                    ss.push_str(&format!("marked in osd.{id}. "));
                    any = true;
                }
            }
        }
        // Boot messages carry the new address.
        if prefix == "osd up" {
            for o in self.osds.iter().filter(|o| o.up && o.up_from == epoch) {
                let ip = &self.hosts[o.host].ip;
                let addr =
                    wasm_mgr_cluster::json::addrvec_str(&format!("{ip}:{}", o.port), o.nonce);
                log.push((who.clone(), "INF", format!("osd.{} {addr} boot", o.id)));
            }
        }
        if !any {
            return (
                CommandOutput {
                    retval: err,
                    stdout: String::new(),
                    stderr: ss,
                },
                None,
            );
        }
        self.next_osd_epoch();
        let now = wasm_mgr_cluster::time::unix_secs(std::time::SystemTime::now());
        if matches!(prefix, "osd down" | "osd up") {
            self.last_up_change = now;
        } else {
            self.last_in_change = now;
        }
        self.remap(Some((&old, &sizes)));
        let out = CommandOutput {
            retval: err,
            stdout: String::new(),
            stderr: ss,
        };
        (
            out,
            Some(Dirty {
                osd: true,
                ..Dirty::default()
            }),
        )
    }

    fn osd_flag(&mut self, set: bool, cmd: &Value) -> (CommandOutput, Option<Dirty>) {
        let key = str_arg(cmd, "key").unwrap_or_default();
        let names: Vec<&str> = if key == "pause" {
            vec!["pauserd", "pausewr"]
        } else if OSD_FLAG_CHOICES.split('|').any(|c| c == key) {
            vec![key.as_str()]
        } else {
            return (
                CommandOutput::err(
                    errno::EINVAL,
                    format!("Invalid command: {key} not in {OSD_FLAG_CHOICES}"),
                ),
                None,
            );
        };
        let bits: u64 = names.iter().filter_map(|n| flag_bit(n)).sum();
        let before = self.flags;
        if set {
            self.flags |= bits;
        } else {
            self.flags &= !bits;
        }
        let msg = format!(
            "{} is {}",
            names.join(","),
            if set { "set" } else { "unset" }
        );
        if self.flags == before {
            return (CommandOutput::ok("", msg), None);
        }
        self.next_osd_epoch();
        (
            CommandOutput::ok("", msg),
            Some(Dirty {
                osd: true,
                ..Dirty::default()
            }),
        )
    }

    fn osd_reweight(&mut self, cmd: &Value) -> (CommandOutput, Option<Dirty>) {
        let Some(id) = str_arg(cmd, "id").as_deref().and_then(osd_id) else {
            return (CommandOutput::err(errno::EINVAL, "invalid osd id"), None);
        };
        let weight = match cmd.get("weight") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.parse::<f64>().ok(),
            _ => None,
        };
        let Some(weight) = weight.filter(|w| (0.0..=1.0).contains(w)) else {
            return (
                CommandOutput::err(errno::EINVAL, "weight must be in the range [0..1]"),
                None,
            );
        };
        if id as usize >= self.osds.len() {
            return (
                CommandOutput::err(errno::ENOENT, format!("osd.{id} does not exist")),
                None,
            );
        }
        let old = self.placement.clone();
        let sizes = self.pool_sizes();
        if let Some(o) = self.osds.get_mut(id as usize) {
            o.weight = weight;
            o.in_ = weight > 0.0;
        }
        self.next_osd_epoch();
        self.remap(Some((&old, &sizes)));
        let ww = (weight * 65536.0).round() as u32;
        (
            CommandOutput::ok("", format!("reweighted osd.{id} to {weight} ({ww:x})")),
            Some(Dirty {
                osd: true,
                ..Dirty::default()
            }),
        )
    }

    fn pool_create(&mut self, cmd: &Value) -> (CommandOutput, Option<Dirty>) {
        let name = str_arg(cmd, "pool").unwrap_or_default();
        if name.is_empty() {
            return (
                CommandOutput::err(errno::EINVAL, "pool name must not be empty"),
                None,
            );
        }
        if self.pools.iter().any(|p| p.name == name) {
            return (
                CommandOutput::ok("", format!("pool '{name}' already exists")),
                None,
            );
        }
        let pg_num = match str_arg(cmd, "pg_num") {
            None => 32,
            Some(s) => match int_value(&s) {
                Some(n) => n,
                None => {
                    return (
                        CommandOutput::err(
                            errno::EINVAL,
                            format!("error parsing integer value '{s}'"),
                        ),
                        None,
                    );
                }
            },
        };
        if !(1..=65536).contains(&pg_num) {
            return (
                CommandOutput::err(
                    errno::ERANGE,
                    "'pg_num' must be greater than 0 and less than or equal to 65536 (you may adjust 'mon max pool pg num' for higher values)",
                ),
                None,
            );
        }
        self.next_osd_epoch();
        let size = self.cfg.osds.clamp(1, 3);
        self.add_pool(
            &name,
            pg_num as u32,
            size,
            Vec::new(),
            0.0,
            4.0 * 1024.0 * 1024.0,
        );
        self.remap(None);
        (
            CommandOutput::ok("", format!("pool '{name}' created")),
            Some(Dirty {
                osd: true,
                ..Dirty::default()
            }),
        )
    }

    fn pool_delete(&mut self, cmd: &Value) -> (CommandOutput, Option<Dirty>) {
        let name = str_arg(cmd, "pool").unwrap_or_default();
        let Some(pi) = self.pools.iter().position(|p| p.name == name) else {
            return (
                CommandOutput::ok("", format!("pool '{name}' does not exist")),
                None,
            );
        };
        let sure = bool_arg(cmd, "yes_i_really_really_mean_it") || bool_arg(cmd, "sure");
        if str_arg(cmd, "pool2").as_deref() != Some(name.as_str()) || !sure {
            return (
                CommandOutput::err(
                    errno::EPERM,
                    format!(
                        "WARNING: this will *PERMANENTLY DESTROY* all data stored in pool {name}.  If you are *ABSOLUTELY CERTAIN* that is what you want, pass the pool name *twice*, followed by --yes-i-really-really-mean-it."
                    ),
                ),
                None,
            );
        }
        let id = self.pools[pi].id;
        if self
            .filesystems
            .iter()
            .any(|f| f.metadata_pool == id || f.data_pools.contains(&id))
        {
            return (
                CommandOutput::err(errno::EBUSY, format!("pool '{name}' is in use by CephFS")),
                None,
            );
        }
        self.pools.remove(pi);
        self.work.retain(|(p, _), _| *p != id);
        self.next_osd_epoch();
        self.remap(None);
        (
            CommandOutput::ok("", format!("pool '{name}' removed")),
            Some(Dirty {
                osd: true,
                ..Dirty::default()
            }),
        )
    }

    fn pool_set(&mut self, cmd: &Value) -> (CommandOutput, Option<Dirty>) {
        let name = str_arg(cmd, "pool").unwrap_or_default();
        let Some(pi) = self.pools.iter().position(|p| p.name == name) else {
            return (
                CommandOutput::err(errno::ENOENT, format!("unrecognized pool '{name}'")),
                None,
            );
        };
        let var = str_arg(cmd, "var").unwrap_or_default();
        let val = str_arg(cmd, "val").unwrap_or_default();
        let Some(n) = int_value(&val) else {
            return (
                CommandOutput::err(
                    errno::EINVAL,
                    format!("error parsing integer value '{val}'"),
                ),
                None,
            );
        };
        let id = self.pools[pi].id;
        let old = self.placement.clone();
        let sizes = self.pool_sizes();
        match var.as_str() {
            "size" => {
                if !(1..=10).contains(&n) {
                    return (
                        CommandOutput::err(errno::EINVAL, "pool size must be between 1 and 10"),
                        None,
                    );
                }
                if n == 1 && !bool_arg(cmd, "yes_i_really_mean_it") {
                    return (
                        CommandOutput::err(
                            errno::EPERM,
                            "configuring pool size as 1 is disabled by default.",
                        ),
                        None,
                    );
                }
                let p = &mut self.pools[pi];
                p.size = n as u32;
                p.min_size = p.size - p.size / 2;
            }
            "min_size" => {
                let size = self.pools[pi].size;
                if n < 1 || n > i64::from(size) {
                    return (
                        CommandOutput::err(
                            errno::EINVAL,
                            format!("pool min_size must be between 1 and size, which is {size}"),
                        ),
                        None,
                    );
                }
                self.pools[pi].min_size = n as u32;
            }
            "pg_num" | "pgp_num" => {
                if !(1..=65536).contains(&n) {
                    return (
                        CommandOutput::err(
                            errno::ERANGE,
                            "'pg_num' must be greater than 0 and less than or equal to 65536 (you may adjust 'mon max pool pg num' for higher values)",
                        ),
                        None,
                    );
                }
                self.resize_pool(pi, n as u32);
            }
            _ => {
                return (
                    CommandOutput::err(
                        errno::EINVAL,
                        format!("Invalid command: {var} not in size|min_size|pg_num|pgp_num"),
                    ),
                    None,
                );
            }
        }
        let epoch = self.next_osd_epoch();
        self.pools[pi].last_change = epoch;
        // Re-evaluate every PG of the pool (min_size moves active/peered).
        self.remap(Some((&old, &sizes)));
        let size = self.pools[pi].size;
        let keys: Vec<(i64, u32)> = self
            .work
            .range((id, 0)..=(id, u32::MAX))
            .map(|(k, _)| *k)
            .collect();
        for (pool, ps) in keys {
            let up = self.placement.map(pool, ps, size).up().len();
            let kind = self.work.get(&(pool, ps)).map(|w| w.kind);
            let st = self.state_for(&self.pools[pi], up, kind);
            self.set_state(pi, ps, st);
        }
        (
            CommandOutput::ok("", format!("set pool {id} {var} to {n}")),
            Some(Dirty {
                osd: true,
                ..Dirty::default()
            }),
        )
    }

    fn pool_quota(&mut self, cmd: &Value) -> (CommandOutput, Option<Dirty>) {
        let name = str_arg(cmd, "pool").unwrap_or_default();
        let Some(pi) = self.pools.iter().position(|p| p.name == name) else {
            return (
                CommandOutput::err(errno::ENOENT, format!("unrecognized pool '{name}'")),
                None,
            );
        };
        let field = str_arg(cmd, "field").unwrap_or_default();
        let val = str_arg(cmd, "val").unwrap_or_default();
        let Some(n) = int_value(&val).filter(|n| *n >= 0) else {
            return (
                CommandOutput::err(errno::EINVAL, format!("error parsing value '{val}'")),
                None,
            );
        };
        match field.as_str() {
            "max_objects" => self.pools[pi].quota_max_objects = n as u64,
            "max_bytes" => self.pools[pi].quota_max_bytes = n as u64,
            _ => {
                return (
                    CommandOutput::err(errno::EINVAL, "field must be max_bytes or max_objects"),
                    None,
                );
            }
        }
        let epoch = self.next_osd_epoch();
        self.pools[pi].last_change = epoch;
        (
            CommandOutput::ok("", format!("set-quota {field} = {n} for pool {name}")),
            Some(Dirty {
                osd: true,
                ..Dirty::default()
            }),
        )
    }

    fn pool_application(&mut self, cmd: &Value) -> (CommandOutput, Option<Dirty>) {
        let name = str_arg(cmd, "pool").unwrap_or_default();
        let app = str_arg(cmd, "app").unwrap_or_default();
        let Some(pi) = self.pools.iter().position(|p| p.name == name) else {
            return (
                CommandOutput::err(errno::ENOENT, format!("unrecognized pool '{name}'")),
                None,
            );
        };
        if app.is_empty() {
            return (
                CommandOutput::err(errno::EINVAL, "application name must not be empty"),
                None,
            );
        }
        if self.pools[pi].applications.contains(&app) {
            return (
                CommandOutput::ok("", format!("enabled application '{app}' on pool '{name}'")),
                None,
            );
        }
        self.pools[pi].applications.push(app.clone());
        if self.pools[pi].io.base_ops <= 0.0 {
            let base = self.rng.random_range(20.0..200.0);
            let p = &mut self.pools[pi];
            p.io.base_ops = base;
            p.io.read_ops = base * 1.5;
            p.io.write_ops = base;
            p.io.read_size = 65536.0;
            p.io.write_size = 16384.0;
        }
        let epoch = self.next_osd_epoch();
        self.pools[pi].last_change = epoch;
        (
            CommandOutput::ok("", format!("enabled application '{app}' on pool '{name}'")),
            Some(Dirty {
                osd: true,
                ..Dirty::default()
            }),
        )
    }

    fn pg_scrub(
        &mut self,
        deep: bool,
        cmd: &Value,
        log: &mut Vec<(String, &'static str, String)>,
    ) -> (CommandOutput, Option<Dirty>) {
        let s = str_arg(cmd, "pgid").unwrap_or_default();
        let Some((pool, ps)) = parse_pgid(&s) else {
            return (
                CommandOutput::err(errno::EINVAL, format!("invalid pgid '{s}'")),
                None,
            );
        };
        let pgid = wasm_mgr_cluster::model::pgid(pool, ps);
        let Some(pi) = self.pool_index(pool) else {
            return (
                CommandOutput::err(errno::ENOENT, format!("pg {pgid} dne")),
                None,
            );
        };
        if ps >= self.pools[pi].pg_num() {
            return (
                CommandOutput::err(errno::ENOENT, format!("pg {pgid} dne")),
                None,
            );
        }
        let primary = self.placement.map(pool, ps, self.pools[pi].size).primary();
        if primary < 0 {
            return (
                CommandOutput::err(
                    errno::EAGAIN,
                    format!("pg {pgid} primary osd.{primary} is not up"),
                ),
                None,
            );
        }
        let what = if deep { "deep-scrub" } else { "scrub" };
        let started = self.start_scrub(pool, ps, deep).is_some();
        if started {
            log.push((
                format!("osd.{primary}"),
                "DBG",
                format!("{pgid} {what} starts"),
            ));
        }
        (
            CommandOutput::ok(
                "",
                format!("instructing pg {pgid} on osd.{primary} to {what}"),
            ),
            started.then_some(Dirty::default()),
        )
    }

    fn mon_state(
        &mut self,
        up: bool,
        cmd: &Value,
        log: &mut Vec<(String, &'static str, String)>,
    ) -> (CommandOutput, Option<Dirty>) {
        let name = str_arg(cmd, "name").unwrap_or_default();
        let name = name.strip_prefix("mon.").unwrap_or(&name).to_string();
        let Some(i) = self.mons.iter().position(|m| m.name == name) else {
            return (
                CommandOutput::err(errno::ENOENT, format!("mon.{name} does not exist")),
                None,
            );
        };
        if self.mons[i].up == up {
            let state = if up { "up" } else { "down" };
            return (
                CommandOutput::ok("", format!("mon.{name} is already {state}")),
                None,
            );
        }
        self.mons[i].up = up;
        self.mon_epoch += 1;
        self.election_epoch += 2;
        self.mon_election(i);
        match self.mon_leader() {
            Some(leader) => {
                let quorum: Vec<(usize, &str)> = self
                    .mons
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.up)
                    .map(|(k, m)| (k, m.name.as_str()))
                    .collect();
                let names: Vec<&str> = quorum.iter().map(|(_, n)| *n).collect();
                let ranks: Vec<String> = quorum.iter().map(|(k, _)| k.to_string()).collect();
                let who = format!("mon.{}", leader.name);
                log.push((
                    who.clone(),
                    "INF",
                    format!("mon.{} calling monitor election", leader.name),
                ));
                log.push((
                    who,
                    "INF",
                    format!(
                        "mon.{} is new leader, mons {} in quorum (ranks {})",
                        leader.name,
                        names.join(","),
                        ranks.join(",")
                    ),
                ));
            }
            None => log.push(("mon".into(), "ERR", "monitors have lost quorum".into())),
        }
        let state = if up { "up" } else { "down" };
        (
            CommandOutput::ok("", format!("marked {state} mon.{name}")),
            Some(Dirty {
                mon: true,
                ..Dirty::default()
            }),
        )
    }

    fn mds_fail(
        &mut self,
        cmd: &Value,
        log: &mut Vec<(String, &'static str, String)>,
    ) -> (CommandOutput, Option<Dirty>) {
        let who = str_arg(cmd, "role_or_gid").unwrap_or_default();
        let by_role = |m: &crate::SimMds, fs: &[crate::SimFs]| -> bool {
            match m.role {
                Some((fi, rank)) => {
                    let fs_name = fs.get(fi).map_or("", |f| f.name.as_str());
                    who == format!("{fs_name}:{rank}") || (fi == 0 && who == rank.to_string())
                }
                None => false,
            }
        };
        let Some(i) = self.mds.iter().position(|m| {
            m.name == who || m.gid.to_string() == who || by_role(m, &self.filesystems)
        }) else {
            return (
                CommandOutput::err(
                    errno::ENOENT,
                    format!("MDS named '{who}' does not exist, or is not up"),
                ),
                None,
            );
        };
        let gid = self.mds[i].gid;
        let role = self.mds[i].role;
        self.mds[i].role = None;
        self.mds[i].state = "up:standby";
        self.mds[i].transition = 0;
        if let Some((fi, rank)) = role {
            let next = self
                .mds
                .iter()
                .position(|m| m.role.is_none() && m.gid != gid)
                .unwrap_or(i);
            self.mds[next].role = Some((fi, rank));
            self.mds[next].state = "up:replay";
            self.mds[next].transition = 2;
            self.filesystems[fi].mds_epoch += 1;
            log.push((
                self.mon_who(),
                "INF",
                format!(
                    "Standby daemon mds.{} assigned to filesystem {} as rank {rank}",
                    self.mds[next].name, self.filesystems[fi].name
                ),
            ));
        }
        self.fs_epoch += 1;
        (
            CommandOutput::ok("", format!("failed mds gid {gid}")),
            Some(Dirty {
                fs: true,
                inventory: false,
                ..Dirty::default()
            }),
        )
    }
}

/// Read-only commands, answered from a snapshot.
fn read_command(
    snap: &Snapshot,
    cluster: &Cluster,
    prefix: &str,
    cmd: &Value,
    json: bool,
    pretty: bool,
) -> CommandOutput {
    let j = |v: Value| CommandOutput::ok(render(&v, pretty), "");
    match prefix {
        "status" if json => j(snap.status_value()),
        "status" => CommandOutput::ok(text::status(snap), ""),
        "health" => {
            let detail = str_arg(cmd, "detail").is_some_and(|d| d == "detail");
            if json {
                j(snap.health_value(detail))
            } else {
                CommandOutput::ok(text::health(snap, detail), "")
            }
        }
        "osd dump" if json => j(parse(&snap.get_json("osd_map"))),
        "osd dump" => CommandOutput::ok(text::osd_dump(snap), ""),
        "osd tree" if json => j(parse(&snap.get_json("osd_map_tree"))),
        "osd tree" => CommandOutput::ok(text::osd_tree(snap), ""),
        "osd df" if json => j(snap.osd_df_value()),
        "osd df" => CommandOutput::ok(text::osd_df(snap), ""),
        "osd stat" if json => j(text::osd_stat_value(snap)),
        "osd stat" => CommandOutput::ok(text::osd_stat(snap), ""),
        "osd ls" => {
            let ids: Vec<i32> = snap.osd_map.osds.iter().map(|o| o.id).collect();
            if json {
                j(json!(ids))
            } else {
                CommandOutput::ok(ids.iter().map(|i| format!("{i}\n")).collect::<String>(), "")
            }
        }
        "osd metadata" => osd_metadata(snap, cmd, pretty),
        "osd pool ls" => {
            let detail = str_arg(cmd, "detail").is_some_and(|d| d == "detail");
            let m = &snap.osd_map;
            match (json, detail) {
                (true, true) => j(Value::Array(
                    m.pools
                        .iter()
                        .map(|p| snap.pool_json(p, "pool_id"))
                        .collect(),
                )),
                (true, false) => j(json!(m.pools.iter().map(|p| &p.name).collect::<Vec<_>>())),
                (false, true) => CommandOutput::ok(text::pool_ls_detail(snap), ""),
                (false, false) => CommandOutput::ok(
                    m.pools
                        .iter()
                        .map(|p| format!("{}\n", p.name))
                        .collect::<String>(),
                    "",
                ),
            }
        }
        "osd pool stats" => {
            let filter = str_arg(cmd, "pool_name");
            if let Some(f) = &filter
                && snap.osd_map.pool_by_name(f).is_none()
            {
                return CommandOutput::err(errno::ENOENT, format!("unrecognized pool '{f}'"));
            }
            let list: Vec<Value> = snap
                .osd_pool_stats_list()
                .into_iter()
                .filter(|v| filter.as_deref().is_none_or(|f| v["pool_name"] == f))
                .collect();
            if json {
                j(Value::Array(list))
            } else {
                CommandOutput::ok(text::pool_stats(&list), "")
            }
        }
        "mon dump" => {
            let err = format!("dumped monmap epoch {}", snap.mon_map.epoch);
            let out = if json {
                render(&parse(&snap.get_json("mon_map")), pretty)
            } else {
                text::mon_dump(snap)
            };
            CommandOutput::ok(out, err)
        }
        "quorum_status" => j(snap.quorum_status_value()),
        "fs dump" => {
            let err = format!("dumped fsmap epoch {}", snap.fs_map.epoch);
            let out = if json {
                render(&parse(&snap.get_json("fs_map")), pretty)
            } else {
                text::fs_dump(snap)
            };
            CommandOutput::ok(out, err)
        }
        "fs ls" if json => j(text::fs_ls_value(snap)),
        "fs ls" => CommandOutput::ok(text::fs_ls(snap), ""),
        "mgr dump" => j(parse(&snap.get_json("mgr_map"))),
        "df" if json => j(parse(&snap.get_json("df"))),
        "df" => CommandOutput::ok(text::df(snap), ""),
        "pg dump" => pg_dump(snap, cmd, json),
        "pg stat" if json => j(text::pg_stat_value(snap)),
        "pg stat" => CommandOutput::ok(text::pg_stat(snap), ""),
        "log last" => log_last(cluster, cmd, json, pretty),
        "versions" => j(text::versions_value(snap)),
        _ => CommandOutput::err(
            errno::EINVAL,
            format!("no valid command found for '{prefix}'"),
        ),
    }
}

fn parse(r: &Result<String, wasm_mgr_cluster::GetError>) -> Value {
    r.as_ref()
        .ok()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

fn osd_metadata(snap: &Snapshot, cmd: &Value, pretty: bool) -> CommandOutput {
    let one = |id: i32| -> Option<Value> {
        let pairs = snap.get_metadata("osd", &id.to_string())?;
        let mut m: serde_json::Map<String, Value> = serde_json::Map::new();
        m.insert("id".into(), json!(id));
        for (k, v) in pairs {
            m.insert(k, Value::String(v));
        }
        Some(Value::Object(m))
    };
    match str_arg(cmd, "id") {
        Some(s) => match osd_id(&s) {
            None => CommandOutput::err(errno::EINVAL, format!("invalid osd id '{s}'")),
            Some(id) => match one(id) {
                Some(v) => CommandOutput::ok(render(&v, pretty), ""),
                None => CommandOutput::err(errno::ENOENT, format!("osd.{id} does not exist")),
            },
        },
        None => {
            let all: Vec<Value> = snap.osd_map.osds.iter().filter_map(|o| one(o.id)).collect();
            CommandOutput::ok(render(&Value::Array(all), pretty), "")
        }
    }
}

fn pg_dump(snap: &Snapshot, cmd: &Value, json: bool) -> CommandOutput {
    let what = strs_arg(cmd, "dumpcontents");
    let brief = what.iter().any(|w| w == "pgs_brief");
    if json {
        let out = if brief {
            let placement = wasm_mgr_cluster::placement::Placement::new(&snap.osd_map);
            let mut list = Vec::with_capacity(snap.pgs.len());
            for pool in &snap.pgs.pools {
                let size = snap.osd_map.pool(pool.pool).map_or(1, |p| p.size);
                for (ps, st) in pool.states.iter().enumerate() {
                    let m = placement.map(pool.pool, ps as u32, size);
                    list.push(json!({
                        "pgid": wasm_mgr_cluster::model::pgid(pool.pool, ps as u32),
                        "state": st.name(),
                        "up": m.up(),
                        "acting": m.up(),
                        "up_primary": m.primary(),
                        "acting_primary": m.primary(),
                    }));
                }
            }
            json!({"pg_ready": true, "pg_stats": list}).to_string()
        } else {
            format!("{{\"pg_ready\":true,\"pg_map\":{}}}", snap.pg_dump_json())
        };
        return CommandOutput::ok(out, "dumped all");
    }
    CommandOutput::ok(text::pg_dump(snap), "dumped all")
}

fn log_last(cluster: &Cluster, cmd: &Value, json: bool, pretty: bool) -> CommandOutput {
    let n = str_arg(cmd, "num")
        .and_then(|s| int_value(&s))
        .unwrap_or(20);
    if n < 1 {
        return CommandOutput::err(errno::EINVAL, "num must be at least 1");
    }
    let level = str_arg(cmd, "level").unwrap_or_else(|| "info".into());
    let channel = str_arg(cmd, "channel").unwrap_or_else(|| "cluster".into());
    let rank = |p: &str| match p {
        "[DBG]" | "debug" => 0,
        "[INF]" | "info" => 1,
        "[SEC]" | "sec" => 2,
        "[WRN]" | "warn" => 3,
        _ => 4,
    };
    let min = rank(&level);
    let entries: Vec<_> = cluster
        .clog_tail(wasm_mgr_cluster::CLOG_CAPACITY)
        .into_iter()
        .filter(|e| (channel == "*" || e.channel == channel) && rank(&e.priority) >= min)
        .collect();
    let skip = entries.len().saturating_sub(n as usize);
    let entries = &entries[skip..];
    if json {
        let v: Vec<Value> = entries.iter().map(clog_json).collect();
        return CommandOutput::ok(render(&Value::Array(v), pretty), "");
    }
    let lines: String = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} ({}) : {} {} {}\n",
                e.stamp, e.name, e.seq, e.channel, e.priority, e.message
            )
        })
        .collect();
    CommandOutput::ok(lines, "")
}
