//! Harness for the integration tests: starts the real `wasm-mgr` binary on a free
//! loopback port with a private modules folder and state folder, and talks to it
//! through its HTTP API.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The workspace's `target/` folder.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// A component built by the Makefile: shipped modules in `target/modules`, test
/// modules in `target/test-modules`; a name with a `/` is a kept fixture,
/// `tests/fixtures/<name>.wasm` (modules built against an older contract).
pub fn component(name: &str) -> PathBuf {
    if name.contains('/') {
        return Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(format!("{name}.wasm"));
    }
    let shipped = target_dir().join("modules").join(format!("{name}.wasm"));
    if shipped.exists() {
        return shipped;
    }
    let test = target_dir()
        .join("test-modules")
        .join(format!("{name}.wasm"));
    assert!(
        test.exists(),
        "{name}.wasm not built: run `make build build-test-modules` first"
    );
    test
}

/// A module given as source: a shipped one in `target/modules` (a package folder
/// or a `.py`/`.js` file), or with `ceph:` one of Ceph's own modules as Debian's
/// package installs them (`ceph:crash` is `/usr/share/ceph/mgr/crash`).
pub fn source_module(name: &str) -> Option<PathBuf> {
    if let Some(ceph) = name.strip_prefix("ceph:") {
        return Some(Path::new("/usr/share/ceph/mgr").join(ceph));
    }
    let shipped = target_dir().join("modules");
    [
        shipped.join(name),
        shipped.join(format!("{name}.py")),
        shipped.join(format!("{name}.js")),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// Copies a module (a file, or a package folder without its bytecode caches)
/// into `modules` as `name`, keeping its extension.
pub fn install_module(from: &Path, modules: &Path, name: &str) -> Result<PathBuf> {
    if from.is_dir() {
        let to = modules.join(name);
        copy_tree(from, &to)?;
        return Ok(to);
    }
    let ext = from
        .extension()
        .map(|x| x.to_string_lossy().into_owned())
        .unwrap_or_default();
    let to = modules.join(format!("{name}.{ext}"));
    std::fs::copy(from, &to).with_context(|| format!("copying {}", from.display()))?;
    Ok(to)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to.join(&name))?;
        } else {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

/// `component` with a custom section appended: the same module, another file content
/// (and hash), as a rebuilt module would be.
pub fn with_marker(component: &[u8], marker: &str) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"wasm-mgr-test-marker";
    let mut payload = Vec::new();
    leb128(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(marker.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section id
    leb128(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

/// The `p` quantile (0.0–1.0) of durations sorted in ascending order, for
/// benchmarks.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A number from environment variable `name` (a benchmark's knob), else `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One number field of `/proc/<pid>/status` (`VmRSS:` in KiB, `Threads:`).
pub fn proc_status(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .with_context(|| format!("no {field} for pid {pid}"))?
        .parse()
        .with_context(|| format!("{field} of pid {pid}"))
}

/// Resident memory of a process, in MiB (`VmRSS`).
pub fn rss_mib(pid: u32) -> Result<f64> {
    Ok(proc_status(pid, "VmRSS:")? as f64 / 1024.0)
}

/// A process's memory as `/proc/<pid>/smaps_rollup` counts it, in MiB: its
/// proportional set size (shared pages split between the processes that map
/// them) and its anonymous memory. Unlike `VmRSS`, neither counts a runtime's
/// compiled code, mapped from one file, again for every instance.
#[derive(Debug, Clone, Copy)]
pub struct Smaps {
    /// `Pss:`.
    pub pss_mib: f64,
    /// `Anonymous:`.
    pub anon_mib: f64,
    /// `Rss:`.
    pub rss_mib: f64,
}

/// Reads `/proc/<pid>/smaps_rollup`.
pub fn smaps_rollup(pid: u32) -> Result<Smaps> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    let field = |name: &str| -> Result<f64> {
        let kib: u64 = text
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .with_context(|| format!("no {name} in smaps_rollup of {pid}"))?
            .parse()?;
        Ok(kib as f64 / 1024.0)
    };
    Ok(Smaps {
        pss_mib: field("Pss:")?,
        anon_mib: field("Anonymous:")?,
        rss_mib: field("Rss:")?,
    })
}

/// The `promtool` to check exposition pages with: `$PROMTOOL` (the Makefile sets
/// it), else the one on `PATH`.
pub fn promtool() -> PathBuf {
    std::env::var_os("PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("promtool"))
}

/// Runs the real `promtool check metrics` on an exposition page. A page that does
/// not parse (promtool's exit code 1) is an error; naming-convention lint findings
/// (exit code 3) are returned, one line each, for the caller to judge: metric names
/// that ceph-mgr defines must be kept even where promtool's lint dislikes them.
pub fn check_exposition(page: &str) -> Result<Vec<String>> {
    use std::io::Write;
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running promtool (make test installs it)")?;
    child
        .stdin
        .take()
        .context("promtool stdin")?
        .write_all(page.as_bytes())?;
    let out = child.wait_with_output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok(Vec::new()),
        Some(3) => Ok(text.lines().map(str::to_string).collect()),
        _ => bail!("promtool rejects the page ({}): {text}", out.status),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A real Ceph cluster (1 mon, 1 mgr, 3 OSDs on memstore) started by
/// `tests/ceph/cluster.sh` in a private folder on free loopback ports; its daemons
/// are stopped when this is dropped.
pub struct CephCluster {
    /// The cluster's folder (configuration, keyring, daemon data and logs).
    pub dir: tempfile::TempDir,
    /// Its `ceph.conf`.
    pub conf: PathBuf,
}

fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ceph/cluster.sh")
}

impl CephCluster {
    /// Creates and starts the cluster; returns once its OSDs are up and the real
    /// ceph-mgr's prometheus module answers.
    pub fn start() -> Result<CephCluster> {
        CephCluster::start_with("")
    }

    /// [`CephCluster::start`] with more `[global]` lines in its `ceph.conf`
    /// (`ms_mon_service_mode = secure`, ticket lifetimes, ...).
    pub fn start_with(extra_conf: &str) -> Result<CephCluster> {
        CephCluster::start_with_monitors(1, extra_conf)
    }

    /// A cluster of `mons` monitors (`a`, `b`, ...; monitor `a`'s port in
    /// `mon-port`, the others' in `mon-port.ID`) and `extra_conf` lines.
    pub fn start_with_monitors(mons: u32, extra_conf: &str) -> Result<CephCluster> {
        if Command::new("ceph-mon").arg("--version").output().is_err() {
            bail!("Ceph is not installed: `make ceph-tools` installs Debian's packages");
        }
        let dir = tempfile::Builder::new()
            .prefix("wasm-mgr-ceph-")
            .tempdir()?;
        let cluster = CephCluster {
            conf: dir.path().join("ceph.conf"),
            dir,
        };
        let out = Command::new("bash")
            .arg(cluster_script())
            .arg("start")
            .arg(cluster.dir.path())
            .env("CLUSTER_EXTRA_CONF", extra_conf)
            .env("CLUSTER_MONS", mons.to_string())
            .output()?;
        if !out.status.success() {
            bail!(
                "cluster.sh start failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(cluster)
    }

    /// Runs `cluster.sh <action> <dir> <args>` (`osd-stop 1`, `mon-kill`, ...).
    pub fn script(&self, action: &str, args: &[&str]) -> Result<()> {
        let out = Command::new("bash")
            .arg(cluster_script())
            .arg(action)
            .arg(self.dir.path())
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "cluster.sh {action} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Runs the real `ceph` CLI against the cluster; returns its stdout.
    pub fn ceph(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("ceph")
            .arg("-c")
            .arg(&self.conf)
            .args(["--connect-timeout", "10"])
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "ceph {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs the real `rados` CLI against the cluster; returns its stdout.
    pub fn rados(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("rados")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "rados {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `ceph <args> --format json` and parses the answer.
    pub fn ceph_json(&self, args: &[&str]) -> Result<Value> {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.ceph(&all)?;
        serde_json::from_str(&out).with_context(|| format!("ceph {} gave {out}", args.join(" ")))
    }

    /// The port the real ceph-mgr's prometheus module listens on.
    pub fn prometheus_port(&self) -> Result<u16> {
        Ok(
            std::fs::read_to_string(self.dir.path().join("prometheus-port"))?
                .trim()
                .parse()?,
        )
    }

    /// `serve` arguments that follow this cluster.
    pub fn host_args(&self) -> Vec<String> {
        vec![
            "--cluster".into(),
            "ceph".into(),
            "--ceph-conf".into(),
            self.conf.display().to_string(),
        ]
    }
}

impl Drop for CephCluster {
    fn drop(&mut self) {
        if let Err(e) = self.script("stop", &[]) {
            eprintln!("stopping the test cluster: {e}");
        }
    }
}

/// The keys of an HA folder's shared store, read as the hosts do: under the
/// folder's lock, straight from its database (a witness independent of the hosts).
pub fn ha_folder_keys(dir: &Path) -> Result<Vec<String>> {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    const KV: TableDefinition<&str, &str> = TableDefinition::new("module_kv");
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lease.lock"))?;
    lock.lock()?;
    let db = redb::Database::create(dir.join("store.redb"))?;
    let txn = db.begin_read()?;
    let table = txn.open_table(KV)?;
    let mut keys = Vec::new();
    for entry in table.iter()? {
        keys.push(entry?.0.value().to_string());
    }
    Ok(keys)
}

/// A running `wasm-mgr serve` with its own folders; killed when dropped.
pub struct Host {
    child: Option<Child>,
    /// API base URL.
    pub base: String,
    /// Private folder holding `modules/`, `state/`, `config.toml` and `host.log`.
    pub dir: tempfile::TempDir,
    extra: Vec<String>,
    log_filter: String,
    client: reqwest::Client,
}

/// How long the harness keeps an idle connection for reuse: under the host's
/// idle timeout (`http_header_timeout`, 10 s), so that it never sends a request
/// on a connection the host is closing at that moment.
const POOL_IDLE: Duration = Duration::from_secs(5);

/// What a test host logs.
const DEFAULT_LOG: &str = "info,wasmtime=warn,cranelift=warn";

impl Host {
    /// Starts a host serving the named modules (`"FILE as NAME"` serves a
    /// component under another module name; `ceph:NAME` is one of Ceph's own
    /// Python modules, copied unchanged; a shipped source module is copied as
    /// it is), with an optional config file text and extra `serve` arguments;
    /// returns once its API answers.
    pub async fn start(modules: &[&str], config: Option<&str>, extra: &[&str]) -> Result<Host> {
        Host::start_logging(modules, config, extra, DEFAULT_LOG).await
    }

    /// [`Host::start`] with the host's log filter (`RUST_LOG`) set to `filter`.
    pub async fn start_logging(
        modules: &[&str],
        config: Option<&str>,
        extra: &[&str],
        filter: &str,
    ) -> Result<Host> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("modules"))?;
        // `"tally-py as tally"` serves component tally-py as module tally: a
        // module is named after its file.
        for m in modules {
            let (file, name) = m.split_once(" as ").unwrap_or((m, m));
            let name = name.strip_prefix("ceph:").unwrap_or(name);
            let modules = dir.path().join("modules");
            match source_module(file) {
                Some(source) => {
                    install_module(&source, &modules, name)?;
                }
                None => {
                    std::fs::copy(component(file), modules.join(format!("{name}.wasm")))?;
                }
            }
        }
        if let Some(text) = config {
            std::fs::write(dir.path().join("config.toml"), text)?;
        }
        let mut host = Host {
            child: None,
            base: String::new(),
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            log_filter: filter.to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_idle_timeout(POOL_IDLE)
                .build()?,
        };
        host.spawn().await?;
        Ok(host)
    }

    /// The modules folder the host serves.
    pub fn modules_dir(&self) -> PathBuf {
        self.dir.path().join("modules")
    }

    /// Everything the host logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host.log")).unwrap_or_default()
    }

    async fn spawn(&mut self) -> Result<()> {
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("host.log"))?;
        let mut cmd = Command::new(target_dir().join("release/wasm-mgr"));
        cmd.arg("serve")
            .arg("--modules")
            .arg(self.modules_dir())
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .arg("--http")
            .arg(format!("127.0.0.1:{port}"));
        if !self.extra.iter().any(|a| a == "--compile-cache") {
            // One compile cache for every test host: a 20 MB Python component is
            // compiled once per test run, not once per test.
            cmd.arg("--compile-cache")
                .arg(target_dir().join("test-compile-cache"));
        }
        if self.dir.path().join("config.toml").exists() {
            cmd.arg("--config").arg(self.dir.path().join("config.toml"));
        }
        cmd.args(&self.extra)
            .env("RUST_LOG", &self.log_filter)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        self.child = Some(cmd.spawn().context("starting target/release/wasm-mgr")?);
        self.base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("host exited with {status}:\n{}", self.log());
            }
            if self
                .client
                .get(self.url("/api/modules"))
                .send()
                .await
                .is_ok()
            {
                return self.use_token();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("host did not answer within 120 s:\n{}", self.log())
    }

    /// The API token the host made in its state folder.
    pub fn token(&self) -> Result<String> {
        let path = self.dir.path().join("state/api-token");
        Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_string())
    }

    /// From now on every request of this harness carries the host's token.
    fn use_token(&mut self) -> Result<()> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", self.token()?).parse()?,
        );
        self.client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(POOL_IDLE)
            .default_headers(headers)
            .build()?;
        Ok(())
    }

    /// `POST` to an API path (with the token); status and body.
    pub async fn post(&self, path: &str) -> Result<(u16, String)> {
        let resp = self.client.post(self.url(path)).send().await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    /// `POST` a JSON body to an API path (with the token); status and body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<(u16, String)> {
        let resp = self.client.post(self.url(path)).json(body).send().await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    /// `POST` a raw body to a path; status and body.
    pub async fn post_body(&self, path: &str, body: String) -> Result<(u16, String)> {
        let resp = self.client.post(self.url(path)).body(body).send().await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    /// Stops the host gracefully (SIGTERM) and starts it again on the same folders.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn().await
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()?;
            let started = Instant::now();
            while child.try_wait()?.is_none() {
                if started.elapsed() > Duration::from_secs(30) {
                    child.kill()?;
                    bail!("host ignored SIGTERM for 30 s:\n{}", self.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to the host process.
    pub fn signal(&self, signal: &str) -> Result<()> {
        let pid = self.pid().context("the host is not running")?;
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()?
            .success();
        anyhow::ensure!(ok, "kill -{signal} {pid} failed");
        Ok(())
    }

    /// `kill -9`s the host and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the host again on its folders after [`Host::kill`] or [`Host::stop`].
    pub async fn start_again(&mut self) -> Result<()> {
        self.spawn().await
    }

    /// `GET /api/status`: role, active host and lease (a paused host gets 2 s).
    pub async fn status(&self) -> Result<Value> {
        Ok(self
            .client
            .get(self.url("/api/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Whether the host says it is the active one (false if it does not answer).
    pub async fn is_active(&self) -> bool {
        match self.status().await {
            Ok(s) => s["role"] == "active",
            Err(_) => false,
        }
    }

    /// The intervals in which the host said it was active, from its log, in Unix
    /// milliseconds; the last one is open (`None`) while it still is.
    pub fn active_intervals(&self) -> Vec<(u64, Option<u64>)> {
        let mut out: Vec<(u64, Option<u64>)> = Vec::new();
        let number_after = |line: &str, marker: &str| -> Option<u64> {
            let rest = &line[line.find(marker)? + marker.len()..];
            rest.split_whitespace().next()?.parse().ok()
        };
        for line in self.log().lines() {
            if let Some(from) = number_after(line, "is active from ") {
                out.push((from, None));
            } else if let Some(until) = number_after(line, "it was active until ")
                && let Some(last) = out.last_mut()
            {
                last.1 = Some(until);
            }
        }
        out
    }

    /// Process id of the running host.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Absolute URL of an API path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET a path; returns status and body text.
    pub async fn get(&self, path: &str) -> Result<(u16, String)> {
        let resp = self.client.get(self.url(path)).send().await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    }

    /// `GET /api/modules`.
    pub async fn modules(&self) -> Result<Value> {
        Ok(self
            .client
            .get(self.url("/api/modules"))
            .send()
            .await?
            .json()
            .await?)
    }

    /// The `module ls` row of one module.
    pub async fn module(&self, name: &str) -> Result<Value> {
        let rows = self.modules().await?;
        rows.as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == name)
            .cloned()
            .with_context(|| format!("no module {name} in {rows}"))
    }

    /// Runs a module command given as words; returns the HTTP status and the JSON answer.
    pub async fn command(&self, module: &str, words: &str) -> Result<(u16, Value)> {
        let words: Vec<&str> = words.split_whitespace().collect();
        let resp = self
            .client
            .post(self.url(&format!("/api/modules/{module}/command")))
            .json(&json!({ "words": words }))
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.json().await?))
    }

    /// Runs a module command given as words with an input buffer (`ceph -i`);
    /// the HTTP status and the JSON answer.
    pub async fn command_input(
        &self,
        module: &str,
        words: &str,
        inbuf: &str,
    ) -> Result<(u16, Value)> {
        let words: Vec<&str> = words.split_whitespace().collect();
        let resp = self
            .client
            .post(self.url(&format!("/api/modules/{module}/command")))
            .json(&json!({ "words": words, "inbuf": inbuf }))
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.json().await?))
    }

    /// Waits until module `name` runs (a source module shows `loading` until its
    /// runtime is compiled); its `module ls` row.
    pub async fn wait_running(&self, name: &str, timeout: Duration) -> Result<Value> {
        self.wait_for(timeout, &format!("module {name} to run"), || async {
            let row = self.module(name).await.unwrap_or(Value::Null);
            Ok((row["state"] == "running").then_some(row))
        })
        .await
    }

    /// Has the probe module send a cluster command through `send-command` to `target`
    /// (`mon`, `mgr`, `osd.1`); returns the host's answer: `retval`/`stdout`/`stderr`,
    /// or `error` when the host refused.
    pub async fn probe_send(&self, target: &str, command: Value) -> Result<Value> {
        let dict = json!({
            "prefix": "probe send",
            "target": target,
            "command": command.to_string(),
        });
        let v: Value = self
            .client
            .post(self.url("/api/modules/probe/command"))
            .json(&json!({ "command": dict }))
            .send()
            .await?
            .json()
            .await?;
        if v["retval"] != 0 {
            bail!("probe send failed: {v}");
        }
        serde_json::from_str(v["stdout"].as_str().unwrap_or("")).context("probe send answer")
    }

    /// `POST /api/modules/<name>/<op>` (`enable`, `disable`, `reload`): status code
    /// and answer.
    pub async fn module_op(&self, name: &str, op: &str) -> Result<(u16, Value)> {
        let resp = self
            .client
            .post(self.url(&format!("/api/modules/{name}/{op}")))
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.json().await?))
    }

    /// Runs a module command that must succeed; returns its stdout.
    pub async fn command_ok(&self, module: &str, words: &str) -> Result<String> {
        let (status, v) = self.command(module, words).await?;
        if status != 200 || v["retval"] != 0 {
            bail!("`{module} {words}` failed: HTTP {status} {v}");
        }
        Ok(v["stdout"].as_str().unwrap_or("").to_string())
    }

    /// Runs a module command with JSON output and parses it.
    pub async fn command_json(&self, module: &str, words: &str) -> Result<Value> {
        let out = self.command_ok(module, words).await?;
        serde_json::from_str(&out).with_context(|| format!("`{module} {words}` gave {out}"))
    }

    /// Runs a cluster command (`osd down 3`) that must succeed; returns its stdout.
    pub async fn ceph(&self, words: &str) -> Result<String> {
        let words: Vec<&str> = words.split_whitespace().collect();
        let v: Value = self
            .client
            .post(self.url("/api/ceph"))
            .json(&json!({ "words": words }))
            .send()
            .await?
            .json()
            .await?;
        if v["retval"] != 0 {
            bail!("ceph {} failed: {v}", words.join(" "));
        }
        Ok(v["stdout"].as_str().unwrap_or("").to_string())
    }

    /// A cluster map as `get(name)` returns it.
    pub async fn cluster(&self, name: &str) -> Result<Value> {
        Ok(self
            .client
            .get(self.url(&format!("/api/cluster/{name}")))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Polls `check` until it returns `Some`, for up to `timeout`.
    pub async fn wait_for<T, F, Fut>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let started = Instant::now();
        loop {
            if let Some(v) = check().await? {
                return Ok(v);
            }
            if started.elapsed() > timeout {
                bail!(
                    "timed out after {timeout:?} waiting for {what}\nhost log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
