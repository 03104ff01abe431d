//! The operator's configuration file (TOML) and the typing of module option values
//! against what each module declares.
//!
//! ```toml
//! [host]
//! mgr_id = "x"
//!
//! [modules.probe.options]
//! greeting = "hi"
//! serve-sleep-ms = 250
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::bindings::ceph::mgr::types::{ModuleOption, OptionType, OptionValue};

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings of the host itself.
    #[serde(default)]
    pub host: HostConfig,
    /// Per-module settings, by module name.
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleConfig>,
    /// The shared language runtimes that run modules given as source.
    #[serde(default)]
    pub runtimes: RuntimesConfig,
}

/// Where the shared runtimes are, and what Python modules may import.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimesConfig {
    /// The Python runtime component (default: `runtimes/python.wasm` beside the
    /// binary's folder, where `make` builds it).
    pub python: Option<std::path::PathBuf>,
    /// The JavaScript runtime component (default: `runtimes/javascript.wasm`).
    pub javascript: Option<std::path::PathBuf>,
    /// Folders a Python module may import from, read-only, after its own: by
    /// default Ceph's manager modules (`/usr/share/ceph/mgr`, for `mgr_module`
    /// and `mgr_util`) and Debian's Python packages (`ceph_argparse`,
    /// `prettytable`), where they exist.
    pub python_path: Option<Vec<std::path::PathBuf>>,
}

/// Settings of the host itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// The manager's name (`mgr.<id>`); defaults to the machine's host name.
    pub mgr_id: Option<String>,
    /// Every module's memory limit unless its own section sets one (`"512M"`).
    pub memory_limit: Option<toml::Value>,
    /// Most connections the host's API listener holds at once (default
    /// [`DEFAULT_API_MAX_CONNECTIONS`]; never more than a quarter of the process's
    /// file descriptors).
    pub api_max_connections: Option<usize>,
    /// Most of those from one client address (default
    /// [`DEFAULT_API_MAX_CONNECTIONS_PER_CLIENT`]).
    pub api_max_connections_per_client: Option<usize>,
    /// How long a client has to send a request's head, from connecting or from the
    /// end of its previous response, on every listener unless a module's section sets
    /// its own (`10`, `"10s"`; default [`DEFAULT_HTTP_HEADER_TIMEOUT`]). An idle
    /// keep-alive connection is closed after it too.
    pub http_header_timeout: Option<toml::Value>,
    /// How long a response may wait for a client that does not read it, on every
    /// listener unless a module's section sets its own (`30`, `"30s"`; default
    /// [`DEFAULT_HTTP_SEND_TIMEOUT`]); then the connection is closed.
    pub http_send_timeout: Option<toml::Value>,
}

/// Settings of one module.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// Option values, checked against the options the module declares.
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
    /// A listener of the module's own: every request on it goes to its
    /// `handle-http` (prometheus on `127.0.0.1:9283`, as ceph-mgr's).
    pub listen: Option<std::net::SocketAddr>,
    /// How long the module has to answer an HTTP request (`10`, `"10s"`).
    pub http_timeout: Option<toml::Value>,
    /// Most linear memory its instance may hold (`"512M"`).
    pub memory_limit: Option<toml::Value>,
    /// How long its `shutdown` (and the end of its `serve`) may take when it is
    /// stopped, disabled or replaced by a reload, before its instance is dropped
    /// (`5`, `"5s"`; default 5 s).
    pub shutdown_grace: Option<toml::Value>,
    /// How long one call into the module (`notify`, a command, an HTTP request)
    /// may run before its instance is stopped and restarted (`30`, `"30s"`; default
    /// 30 s).
    pub call_deadline: Option<toml::Value>,
    /// How long the module may run WebAssembly without pausing (awaiting the host
    /// or returning) before its instance is stopped and restarted (`5`, `"5s"`;
    /// default 5 s). A busy loop anywhere, `serve` included, ends here.
    pub max_run: Option<toml::Value>,
    /// The share of one core its WebAssembly may use, over every 100 ms
    /// (`0.5`; default [`crate::DEFAULT_CPU_SHARE`]): past it, it waits until
    /// the period ends, so a module that duty-cycles cannot take a core.
    pub cpu_share: Option<f64>,
    /// Give the module a private, persistent data folder, `/data` inside the
    /// sandbox (`STATE/data/<module>` on the host). No other file is visible.
    #[serde(default)]
    pub data_dir: bool,
    /// Hosts the module may send HTTP requests to (`wasi:http`), as `host:port` or
    /// `host` (any port): an influx, a telegraf, an alert webhook. None by default.
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Cluster commands that change something which the module may send, by
    /// prefix (`"osd pool"` grants `osd pool create`, `osd pool set`, ...). Commands
    /// that only read need no grant.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Most bytes of keys and values in its store (`"64M"`; default in
    /// [`crate::account::Quotas`]).
    pub store_quota: Option<toml::Value>,
    /// Most bytes of its published pages, paths and headers included (`"64M"`).
    pub pages_quota: Option<toml::Value>,
    /// Most bytes of its health checks (`"64K"`).
    pub health_quota: Option<toml::Value>,
    /// Log lines a second it may write on average (`log`; bursts of ten seconds'
    /// worth); past it lines are dropped and counted.
    pub log_rate: Option<u32>,
    /// Cluster-log entries a second it may write on average (`cluster-log`).
    pub cluster_log_rate: Option<u32>,
    /// Most connections its own listener (`listen`) holds at once (default
    /// [`DEFAULT_HTTP_MAX_CONNECTIONS`]); past it new ones are refused.
    pub http_max_connections: Option<usize>,
    /// Most of those from one client address (default
    /// [`DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT`]).
    pub http_max_connections_per_client: Option<usize>,
    /// Its listener's header timeout, over `[host] http_header_timeout`.
    pub http_header_timeout: Option<toml::Value>,
    /// Its listener's send timeout, over `[host] http_send_timeout`.
    pub http_send_timeout: Option<toml::Value>,
    /// Most bytes of its HTTP answers (`handle-http` bodies, copied out of the
    /// module) the host holds at once while clients read them, on its listener and
    /// under `/modules/<name>/` together (`"64M"`; default
    /// [`DEFAULT_HTTP_RESPONSE_BUFFER`]). A request whose answer would go past it
    /// gets 503. Published pages are shared by every reader and not counted.
    pub http_response_buffer: Option<toml::Value>,
}

/// The cluster commands each module was granted (`commands = [...]`).
#[derive(Debug, Clone, Default)]
pub struct Grants(BTreeMap<String, Vec<String>>);

impl Grants {
    /// Whether module `module` may send the command named `prefix`: a grant covers
    /// its own prefix and every command under it, word by word.
    pub fn allows(&self, module: &str, prefix: &str) -> bool {
        self.0.get(module).is_some_and(|granted| {
            granted.iter().any(|g| {
                let g = g.trim();
                prefix == g
                    || prefix
                        .strip_prefix(g)
                        .is_some_and(|rest| rest.starts_with(' '))
            })
        })
    }
}

impl Config {
    /// Every module's command grants.
    pub fn grants(&self) -> Grants {
        Grants(
            self.modules
                .iter()
                .map(|(name, m)| (name.clone(), m.commands.clone()))
                .collect(),
        )
    }
}

/// A positive duration in seconds (`10`, `"10s"`), if set.
fn duration(key: &str, value: Option<&toml::Value>) -> Result<Option<std::time::Duration>, String> {
    let Some(v) = value else {
        return Ok(None);
    };
    let secs = match v {
        toml::Value::Integer(i) => *i,
        toml::Value::String(s) => parse_secs(s)?,
        other => return Err(format!("{key}: `{other}` is not a duration")),
    };
    if secs <= 0 {
        return Err(format!("{key}: {secs} s is not positive"));
    }
    Ok(Some(std::time::Duration::from_secs(secs as u64)))
}

impl ModuleConfig {
    /// The HTTP time limit, if set.
    pub fn http_timeout(&self) -> Result<Option<std::time::Duration>, String> {
        duration("http_timeout", self.http_timeout.as_ref())
    }

    /// The shutdown grace period, if set.
    pub fn shutdown_grace(&self) -> Result<Option<std::time::Duration>, String> {
        duration("shutdown_grace", self.shutdown_grace.as_ref())
    }

    /// The per-call deadline, if set.
    pub fn call_deadline(&self) -> Result<Option<std::time::Duration>, String> {
        duration("call_deadline", self.call_deadline.as_ref())
    }

    /// The longest uninterrupted run, if set.
    pub fn max_run(&self) -> Result<Option<std::time::Duration>, String> {
        duration("max_run", self.max_run.as_ref())
    }

    /// The CPU share, if set: more than 0, at most 1.
    pub fn cpu_share(&self) -> Result<Option<f64>, String> {
        match self.cpu_share {
            Some(s) if !(s > 0.0 && s <= 1.0) => Err(format!("cpu_share: {s} is not in (0, 1]")),
            other => Ok(other),
        }
    }

    /// The memory limit in bytes, if set.
    pub fn memory_limit(&self) -> Result<Option<usize>, String> {
        memory_limit(self.memory_limit.as_ref())
    }
}

impl ModuleConfig {
    /// Its quotas: the defaults, with what its section sets.
    pub fn quotas(&self) -> Result<crate::account::Quotas, String> {
        let mut q = crate::account::Quotas::default();
        if let Some(b) = size("store_quota", self.store_quota.as_ref())? {
            q.store_bytes = b;
        }
        if let Some(b) = size("pages_quota", self.pages_quota.as_ref())? {
            q.pages_bytes = b;
        }
        if let Some(b) = size("health_quota", self.health_quota.as_ref())? {
            q.health_bytes = b;
        }
        if let Some(r) = self.log_rate {
            q.log_per_sec = r;
        }
        if let Some(r) = self.cluster_log_rate {
            q.clog_per_sec = r;
        }
        Ok(q)
    }
}

/// A size in bytes (`65536`, `"64K"`, `"64M"`), if set.
fn size(key: &str, value: Option<&toml::Value>) -> Result<Option<u64>, String> {
    let Some(v) = value else {
        return Ok(None);
    };
    let bytes = match v {
        toml::Value::Integer(i) => *i,
        toml::Value::String(s) => parse_size(s).map_err(|e| format!("{key}: {e}"))?,
        other => return Err(format!("{key}: `{other}` is not a size")),
    };
    u64::try_from(bytes)
        .map(Some)
        .map_err(|_| format!("{key}: {bytes} is negative"))
}

impl HostConfig {
    /// The default memory limit of modules in bytes, if set.
    pub fn memory_limit(&self) -> Result<Option<usize>, String> {
        memory_limit(self.memory_limit.as_ref())
    }
}

/// A memory size of at least 1 MiB (`536870912`, `"512M"`), if set.
fn memory_limit(value: Option<&toml::Value>) -> Result<Option<usize>, String> {
    match size("memory_limit", value)? {
        Some(bytes) if bytes < (1 << 20) => {
            Err(format!("memory_limit: {bytes} bytes is under 1 MiB"))
        }
        other => Ok(other.map(|b| b as usize)),
    }
}

impl Config {
    /// Reads and parses a configuration file, and checks the host's own settings.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let config: Config =
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        config
            .host
            .memory_limit()
            .map_err(|e| anyhow::anyhow!("config {}: [host] {e}", path.display()))?;
        Ok(config)
    }
}

/// Default of `[host] api_max_connections`.
pub const DEFAULT_API_MAX_CONNECTIONS: usize = 1024;
/// Default of `[host] api_max_connections_per_client`.
pub const DEFAULT_API_MAX_CONNECTIONS_PER_CLIENT: usize = 256;
/// Default of a module's `http_max_connections`.
pub const DEFAULT_HTTP_MAX_CONNECTIONS: usize = 256;
/// Default of a module's `http_max_connections_per_client`.
pub const DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT: usize = 32;
/// Default of `http_header_timeout`.
pub const DEFAULT_HTTP_HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Default of `http_send_timeout`.
pub const DEFAULT_HTTP_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Default of a module's `http_response_buffer`.
pub const DEFAULT_HTTP_RESPONSE_BUFFER: usize = 64 << 20;

/// The limits of one HTTP listener, resolved from the config and the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Most connections held at once.
    pub max_connections: usize,
    /// Most connections from one client address.
    pub max_connections_per_client: usize,
    /// Time to send a request head (from connect or the previous response).
    pub header_timeout: std::time::Duration,
    /// Time a response may wait for the client to read.
    pub send_timeout: std::time::Duration,
    /// Most bytes of a module's own answers held while clients read them.
    pub response_buffer: usize,
}

fn at_least_one(key: &str, value: Option<usize>, default: usize) -> Result<usize, String> {
    match value {
        Some(0) => Err(format!("{key}: 0 would refuse every connection")),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

impl Config {
    /// The API listener's limits (`[host] api_*` and `http_*_timeout`).
    pub fn api_http_limits(&self) -> Result<HttpLimits, String> {
        let h = &self.host;
        Ok(HttpLimits {
            max_connections: at_least_one(
                "api_max_connections",
                h.api_max_connections,
                DEFAULT_API_MAX_CONNECTIONS,
            )?,
            max_connections_per_client: at_least_one(
                "api_max_connections_per_client",
                h.api_max_connections_per_client,
                DEFAULT_API_MAX_CONNECTIONS_PER_CLIENT,
            )?,
            header_timeout: duration("http_header_timeout", h.http_header_timeout.as_ref())?
                .unwrap_or(DEFAULT_HTTP_HEADER_TIMEOUT),
            send_timeout: duration("http_send_timeout", h.http_send_timeout.as_ref())?
                .unwrap_or(DEFAULT_HTTP_SEND_TIMEOUT),
            response_buffer: DEFAULT_HTTP_RESPONSE_BUFFER,
        })
    }

    /// Module `name`'s HTTP limits: its own section's, else the host's, else the
    /// defaults.
    pub fn module_http_limits(&self, name: &str) -> Result<HttpLimits, String> {
        let api = self.api_http_limits()?;
        let Some(m) = self.modules.get(name) else {
            return Ok(HttpLimits {
                max_connections: DEFAULT_HTTP_MAX_CONNECTIONS,
                max_connections_per_client: DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT,
                ..api
            });
        };
        let buffer = match size("http_response_buffer", m.http_response_buffer.as_ref())? {
            None => DEFAULT_HTTP_RESPONSE_BUFFER,
            Some(0) => return Err("http_response_buffer: 0 bytes is not positive".into()),
            Some(n) => n as usize,
        };
        Ok(HttpLimits {
            max_connections: at_least_one(
                "http_max_connections",
                m.http_max_connections,
                DEFAULT_HTTP_MAX_CONNECTIONS,
            )?,
            max_connections_per_client: at_least_one(
                "http_max_connections_per_client",
                m.http_max_connections_per_client,
                DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT,
            )?,
            header_timeout: duration("http_header_timeout", m.http_header_timeout.as_ref())?
                .unwrap_or(api.header_timeout),
            send_timeout: duration("http_send_timeout", m.http_send_timeout.as_ref())?
                .unwrap_or(api.send_timeout),
            response_buffer: buffer,
        })
    }
}

/// A module's option values after checking: the operator's where given, the
/// declared defaults otherwise.
#[derive(Debug, Clone, Default)]
pub struct ResolvedOptions {
    values: BTreeMap<String, Option<OptionValue>>,
    declared: std::sync::Arc<[ModuleOption]>,
}

/// Why a module could not set one of its own options.
#[derive(Debug)]
pub enum SetOptionError {
    /// The module declares no such option.
    Unknown(String),
    /// The value does not fit the declaration.
    Invalid(String),
}

impl ResolvedOptions {
    /// Checks `given` against `declared`; every problem is reported, not just the first.
    pub fn resolve(
        declared: &[ModuleOption],
        given: &BTreeMap<String, toml::Value>,
    ) -> Result<Self, String> {
        let mut problems = Vec::new();
        for name in given.keys() {
            if !declared.iter().any(|o| &o.name == name) {
                let known: Vec<&str> = declared.iter().map(|o| o.name.as_str()).collect();
                problems.push(format!(
                    "unknown option `{name}` (declared: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        let mut values = BTreeMap::new();
        for opt in declared {
            let value = match given.get(&opt.name) {
                Some(v) => match typed(opt, v) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        problems.push(format!("option `{}`: {e}", opt.name));
                        continue;
                    }
                },
                None => opt.default.clone(),
            };
            values.insert(opt.name.clone(), value);
        }
        if problems.is_empty() {
            Ok(ResolvedOptions {
                values,
                declared: declared.into(),
            })
        } else {
            Err(problems.join("; "))
        }
    }

    /// The value of a declared option (`Some(None)` when declared without default
    /// or value); `None` when the option is not declared.
    pub fn get(&self, name: &str) -> Option<Option<OptionValue>> {
        self.values.get(name).cloned()
    }

    /// Sets declared option `name` from its text, checked as the operator's
    /// values are; `None` returns it to its declared default.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), SetOptionError> {
        let Some(opt) = self.declared.iter().find(|o| o.name == name) else {
            return Err(SetOptionError::Unknown(format!(
                "no option `{name}` is declared"
            )));
        };
        let value = match value {
            Some(text) => Some(
                typed(opt, &toml::Value::String(text.to_string()))
                    .map_err(|e| SetOptionError::Invalid(format!("option `{name}`: {e}")))?,
            ),
            None => opt.default.clone(),
        };
        self.values.insert(name.to_string(), value);
        Ok(())
    }
}

/// Types one configured value as the option declares it.
fn typed(opt: &ModuleOption, value: &toml::Value) -> Result<OptionValue, String> {
    let v = match (opt.kind, value) {
        (OptionType::Str, toml::Value::String(s)) => {
            if !opt.allowed.is_empty() && !opt.allowed.contains(s) {
                return Err(format!("`{s}` is not one of {}", opt.allowed.join(", ")));
            }
            OptionValue::Str(s.clone())
        }
        (OptionType::Bool, toml::Value::Boolean(b)) => OptionValue::Bool(*b),
        (OptionType::Bool, toml::Value::String(s)) => match s.as_str() {
            "true" | "yes" | "on" | "1" => OptionValue::Bool(true),
            "false" | "no" | "off" | "0" => OptionValue::Bool(false),
            _ => return Err(format!("`{s}` is not a boolean")),
        },
        (OptionType::Int | OptionType::Uint, toml::Value::Integer(i)) => OptionValue::Int(*i),
        (OptionType::Int | OptionType::Uint, toml::Value::String(s)) => {
            OptionValue::Int(s.parse().map_err(|_| format!("`{s}` is not an integer"))?)
        }
        (OptionType::Float, toml::Value::Float(f)) => OptionValue::Float(*f),
        (OptionType::Float, toml::Value::Integer(i)) => OptionValue::Float(*i as f64),
        (OptionType::Float, toml::Value::String(s)) => {
            OptionValue::Float(s.parse().map_err(|_| format!("`{s}` is not a number"))?)
        }
        (OptionType::Secs, toml::Value::Integer(i)) => OptionValue::Int(*i),
        (OptionType::Secs, toml::Value::String(s)) => OptionValue::Int(parse_secs(s)?),
        (OptionType::Size, toml::Value::Integer(i)) => OptionValue::Int(*i),
        (OptionType::Size, toml::Value::String(s)) => OptionValue::Int(parse_size(s)?),
        (kind, other) => {
            return Err(format!(
                "expected {} but got {} `{other}`",
                kind_name(kind),
                other.type_str()
            ));
        }
    };
    let number = match &v {
        OptionValue::Int(i) => Some(*i as f64),
        OptionValue::Float(f) => Some(*f),
        _ => None,
    };
    if let Some(n) = number {
        if opt.kind == OptionType::Uint && n < 0.0 {
            return Err(format!("{n} is negative"));
        }
        if let Some(min) = opt.min
            && n < min
        {
            return Err(format!("{n} is below the minimum {min}"));
        }
        if let Some(max) = opt.max
            && n > max
        {
            return Err(format!("{n} is above the maximum {max}"));
        }
    }
    Ok(v)
}

fn kind_name(kind: OptionType) -> &'static str {
    match kind {
        OptionType::Str => "a string",
        OptionType::Int => "an integer",
        OptionType::Uint => "a non-negative integer",
        OptionType::Float => "a number",
        OptionType::Bool => "a boolean",
        OptionType::Secs => "seconds (30, \"30s\", \"5m\", \"1h\")",
        OptionType::Size => "a size (4096, \"64K\", \"1G\")",
    }
}

/// `30`, `30s`, `5m`, `2h`, `1d` to seconds.
fn parse_secs(s: &str) -> Result<i64, String> {
    let (num, mult) = split_unit(s, &[("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]);
    num.parse::<i64>()
        .map(|n| n * mult)
        .map_err(|_| format!("`{s}` is not a duration"))
}

/// `4096`, `64K`, `1M`, `2G`, `1T` to bytes.
fn parse_size(s: &str) -> Result<i64, String> {
    let units = [
        ("K", 1 << 10),
        ("M", 1 << 20),
        ("G", 1 << 30),
        ("T", 1 << 40),
    ];
    let (num, mult) = split_unit(s, &units);
    num.parse::<i64>()
        .map(|n| n * mult)
        .map_err(|_| format!("`{s}` is not a size"))
}

fn split_unit<'a>(s: &'a str, units: &[(&str, i64)]) -> (&'a str, i64) {
    let s = s.trim();
    for (suffix, mult) in units {
        if let Some(num) = s.strip_suffix(suffix) {
            return (num.trim(), *mult);
        }
    }
    (s, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(name: &str, kind: OptionType, default: Option<OptionValue>) -> ModuleOption {
        ModuleOption {
            name: name.into(),
            kind,
            default,
            description: String::new(),
            min: None,
            max: None,
            allowed: vec![],
        }
    }

    #[test]
    fn http_limits_default_and_override() {
        let config: Config = toml::from_str(
            "[host]\nhttp_header_timeout = 3\n[modules.a]\nhttp_max_connections = 8\n\
             http_send_timeout = \"5s\"\nhttp_response_buffer = \"1M\"\n",
        )
        .unwrap();
        let a = config.module_http_limits("a").unwrap();
        assert_eq!(a.max_connections, 8);
        assert_eq!(
            a.max_connections_per_client,
            DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT
        );
        assert_eq!(a.header_timeout, std::time::Duration::from_secs(3));
        assert_eq!(a.send_timeout, std::time::Duration::from_secs(5));
        assert_eq!(a.response_buffer, 1 << 20);
        let b = config.module_http_limits("b").unwrap();
        assert_eq!(b.max_connections, DEFAULT_HTTP_MAX_CONNECTIONS);
        assert_eq!(b.send_timeout, DEFAULT_HTTP_SEND_TIMEOUT);
        let api = config.api_http_limits().unwrap();
        assert_eq!(api.max_connections, DEFAULT_API_MAX_CONNECTIONS);
        let zero: Config = toml::from_str("[modules.a]\nhttp_max_connections = 0\n").unwrap();
        assert!(zero.module_http_limits("a").is_err());
    }

    #[test]
    fn defaults_values_and_errors() {
        let mut ratio = opt("ratio", OptionType::Float, Some(OptionValue::Float(0.5)));
        ratio.max = Some(1.0);
        let mut mode = opt("mode", OptionType::Str, None);
        mode.allowed = vec!["fast".into(), "slow".into()];
        let declared = vec![
            opt("interval", OptionType::Secs, Some(OptionValue::Int(5))),
            ratio,
            mode,
            opt("on", OptionType::Bool, None),
        ];
        let given: BTreeMap<String, toml::Value> =
            toml::from_str("interval = \"2m\"\non = true").unwrap();
        let r = ResolvedOptions::resolve(&declared, &given).unwrap();
        assert!(matches!(
            r.get("interval"),
            Some(Some(OptionValue::Int(120)))
        ));
        assert!(matches!(r.get("ratio"), Some(Some(OptionValue::Float(f))) if f == 0.5));
        assert!(matches!(r.get("mode"), Some(None)));
        assert!(r.get("nope").is_none());

        let bad: BTreeMap<String, toml::Value> =
            toml::from_str("ratio = 2.0\nmode = \"medium\"\non = \"maybe\"\nextra = 1").unwrap();
        let e = ResolvedOptions::resolve(&declared, &bad).unwrap_err();
        assert!(e.contains("unknown option `extra`"), "{e}");
        assert!(e.contains("above the maximum 1"), "{e}");
        assert!(e.contains("not one of fast, slow"), "{e}");
        assert!(e.contains("`maybe` is not a boolean"), "{e}");
    }
}
