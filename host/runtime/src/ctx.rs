//! What one module instance's store holds: its identity, its WASI context (stdio,
//! and a data folder if granted), its limits, and the narrow host its imports
//! call.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use tokio::io::AsyncWrite;
use tokio::sync::Notify;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, Result, WasiBody, WasiHttpCtx, WasiHttpCtxView,
    WasiHttpHooks, WasiHttpView,
};

use super::published::PublishedPages;
use crate::account::{Account, Quotas};
use crate::config::ResolvedOptions;
use crate::host::ModuleHost;
use crate::metrics::ModuleUsage;

/// What one instance may use: memory, WebAssembly time without a pause, and the
/// files of its own data folder (nothing else of the host: no other files, no
/// sockets, no environment).
#[derive(Clone, Debug)]
pub struct Sandbox {
    /// Most linear memory, all memories together.
    pub memory_limit: usize,
    /// Longest run of WebAssembly without pausing.
    pub max_run: Duration,
    /// The host folder seen as `/data`, if the operator granted one.
    pub data_dir: Option<PathBuf>,
    /// Where it may send HTTP requests (`host:port` or `host`); none by default.
    pub http_hosts: Arc<[String]>,
    /// What it may make the host hold or do for it.
    pub quotas: Arc<Quotas>,
    /// The share of one core its WebAssembly may use.
    pub cpu_share: f64,
    /// Host folders the module sees read-only, with the guest path of each: a
    /// source module's own folder, and the Python libraries it may import.
    pub read_only_dirs: Vec<(PathBuf, String)>,
}

/// Holds a module to its share of a core: over each [`CPU_PERIOD`] its
/// instances may use `share` of it in CPU time, then they wait for the next
/// period (as a cgroup's `cpu.max` does).
#[derive(Debug)]
pub struct CpuThrottle {
    share: f64,
    period_start: Instant,
    cpu_at_start: u64,
}

/// The period over which a module's CPU share is counted.
pub const CPU_PERIOD: Duration = Duration::from_millis(100);

impl CpuThrottle {
    /// A throttle to `share` of a core.
    pub fn new(share: f64) -> CpuThrottle {
        CpuThrottle {
            share,
            period_start: Instant::now(),
            cpu_at_start: 0,
        }
    }

    /// How long to wait now, if the module used its share of this period; `cpu`
    /// is its CPU time so far, in nanoseconds.
    pub fn check(&mut self, now: Instant, cpu: u64) -> Option<Duration> {
        let into = now.duration_since(self.period_start);
        if into >= CPU_PERIOD {
            self.period_start = now;
            self.cpu_at_start = cpu;
            return None;
        }
        let used = Duration::from_nanos(cpu.saturating_sub(self.cpu_at_start));
        (used > CPU_PERIOD.mul_f64(self.share)).then(|| CPU_PERIOD - into)
    }
}

/// Outgoing HTTP (`wasi:http`) limited to the hosts the operator named.
pub struct HttpGrant {
    hosts: Arc<[String]>,
    module: Arc<str>,
}

impl HttpGrant {
    /// Whether a request to `authority` (`host:port` or `host`) may go out.
    pub fn allows(&self, authority: &str) -> bool {
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        self.hosts.iter().any(|h| h == authority || h == host)
    }
}

impl WasiHttpHooks for HttpGrant {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                )>,
            > + Send,
    > {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        if !self.allows(&authority) {
            let module = &self.module;
            tracing::warn!(module = %module, "denied an HTTP request to {authority}: not in http_hosts");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        drop(fut);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

/// How long the guest has been running WebAssembly without a pause, from the
/// epoch ticks it took: ticks closer together than [`RUN_GAP`] are one run,
/// unless the guest paused in between ([`RunBudget::pause`]: it waited in an
/// import such as `sleep`, or a call of its returned), however briefly.
#[derive(Debug)]
pub struct RunBudget {
    max: Duration,
    since: Instant,
    last: Option<Instant>,
}

/// Epoch ticks further apart than this mean the guest paused in between.
pub const RUN_GAP: Duration = Duration::from_millis(100);

impl RunBudget {
    /// A budget of `max` per run.
    pub fn new(max: Duration) -> RunBudget {
        RunBudget {
            max,
            since: Instant::now(),
            last: None,
        }
    }

    /// Records an epoch tick taken while the guest ran; `Err` with the length of
    /// the run once it is longer than allowed.
    pub fn tick(&mut self, now: Instant) -> Result<(), Duration> {
        if self
            .last
            .is_none_or(|last| now.duration_since(last) > RUN_GAP)
        {
            self.since = now;
        }
        self.last = Some(now);
        let ran = now.duration_since(self.since);
        if ran > self.max { Err(ran) } else { Ok(()) }
    }

    /// Records that the guest stopped running: it waits in the host (`sleep`,
    /// `send-command`, `call-module`) or a call of its returned. The next tick
    /// starts a new run.
    pub fn pause(&mut self) {
        self.last = None;
    }

    /// The longest run allowed.
    pub fn max(&self) -> Duration {
        self.max
    }
}

/// The trap raised when a guest runs longer than its [`RunBudget`] allows.
#[derive(Debug)]
pub struct RanTooLong {
    /// How long the guest had run without a pause.
    pub ran: Duration,
    /// Its budget.
    pub max: Duration,
}

impl std::fmt::Display for RanTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ran WebAssembly for {:.1?} without a pause, over its max_run of {:?}",
            self.ran, self.max
        )
    }
}

impl std::error::Error for RanTooLong {}

/// What a module keeps across its instances: usage counters, its account and
/// published pages.
#[derive(Default)]
pub struct Shared {
    /// Memory and CPU counters.
    pub usage: ModuleUsage,
    /// What the host holds and does for it.
    pub account: Arc<Account>,
    /// Pages the host serves for it.
    pub published: PublishedPages,
}

/// Set when the host asks a module to shut down; wakes its sleeping imports.
#[derive(Default)]
pub struct ShutdownSignal {
    requested: AtomicBool,
    wake: Notify,
}

impl ShutdownSignal {
    /// Marks the shutdown and wakes every pending `sleep`.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// Whether shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Resolves once shutdown is requested.
    pub async fn wait(&self) {
        loop {
            let notified = self.wake.notified();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
}

/// The data of one module instance's `Store`.
pub struct ModuleCtx {
    /// The module's name.
    pub name: String,
    /// What the module reaches of the host.
    pub host: ModuleHost,
    /// The module's checked option values.
    pub options: Arc<ResolvedOptions>,
    /// Shutdown request for this instance.
    pub shutdown: Arc<ShutdownSignal>,
    /// Memory and table limits.
    pub limits: Limiter,
    /// How long the guest has been running without a pause.
    pub run: RunBudget,
    /// Its share of a core.
    pub cpu: CpuThrottle,
    http: WasiHttpCtx,
    http_grant: HttpGrant,
    /// What outlives the instance: usage counters and published pages.
    pub shared: Arc<Shared>,
    /// For a module on a shared runtime: the calls held for its blocking `serve`.
    pub handover: Option<Arc<crate::handover::Handover>>,
    /// Where the handover reports the calls it finished (the actor takes it).
    pub finished: Option<tokio::sync::mpsc::UnboundedReceiver<crate::handover::Finished>>,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl ModuleCtx {
    /// A context for module `name`: stdout and stderr go to the host log, and
    /// nothing else of the host (files, sockets, environment) is visible.
    pub fn new(
        name: &str,
        host: ModuleHost,
        options: Arc<ResolvedOptions>,
        sandbox: &Sandbox,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Self> {
        let log_name: Arc<str> = Arc::from(name);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(LogStream {
            module: log_name.clone(),
            stream: "stdout",
        })
        .stderr(LogStream {
            module: log_name.clone(),
            stream: "stderr",
        })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
        if let Some(dir) = &sandbox.data_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the data folder {}", dir.display()))?;
            wasi.preopened_dir(dir, "/data", FsPerms::ReadWrite)
                .map_err(|e| anyhow::anyhow!("opening the data folder {}: {e:#}", dir.display()))?;
        }
        for (dir, guest) in &sandbox.read_only_dirs {
            wasi.preopened_dir(dir, guest, FsPerms::ReadOnly)
                .map_err(|e| anyhow::anyhow!("opening {} read-only: {e:#}", dir.display()))?;
        }
        Ok(ModuleCtx {
            name: name.to_string(),
            http_grant: HttpGrant {
                hosts: sandbox.http_hosts.clone(),
                module: log_name.clone(),
            },
            http: WasiHttpCtx::new(),
            host,
            options,
            shutdown: Arc::new(ShutdownSignal::default()),
            limits: Limiter::new(sandbox.memory_limit, shared.clone()),
            run: RunBudget::new(sandbox.max_run),
            cpu: CpuThrottle::new(sandbox.cpu_share),
            shared,
            handover: None,
            finished: None,
            wasi: wasi.build(),
            table: ResourceTable::new(),
        })
    }
}

impl WasiHttpView for ModuleCtx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_grant,
        }
    }
}

impl WasiView for ModuleCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Most table elements one instance may hold.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Caps a module's linear memory (all its memories together) and counts what it
/// holds, for `module ls` and the host metrics.
pub struct Limiter {
    limit: usize,
    used: usize,
    shared: Arc<Shared>,
}

impl Limiter {
    fn new(limit: usize, shared: Arc<Shared>) -> Self {
        shared.usage.memory_bytes.store(0, Ordering::Relaxed);
        Limiter {
            limit,
            used: 0,
            shared,
        }
    }
}

impl Limiter {
    /// Changes the cap (before the instance grows).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = self.used.saturating_add(desired.saturating_sub(current));
        if grown > self.limit {
            tracing::warn!(
                "module memory would grow to {grown} bytes, over its limit of {} bytes",
                self.limit
            );
            return Ok(false);
        }
        self.used = grown;
        self.shared
            .usage
            .memory_bytes
            .store(grown as u64, Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        32
    }
}

/// A guest's stdout or stderr, written line by line into the host log.
struct LogStream {
    module: Arc<str>,
    stream: &'static str,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            module: self.module.clone(),
            stream: self.stream,
            buf: Vec::new(),
        })
    }
}

/// Longest line kept before it is logged without its end.
const MAX_LINE: usize = 16 * 1024;

struct LineWriter {
    module: Arc<str>,
    stream: &'static str,
    buf: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self, upto: usize) {
        let line: Vec<u8> = self.buf.drain(..upto).collect();
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        let module = &self.module;
        tracing::info!(module = %module, stream = self.stream, "{text}");
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.buf.extend_from_slice(data);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            self.emit(pos + 1);
        }
        if self.buf.len() > MAX_LINE {
            let n = self.buf.len();
            self.emit(n);
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.buf.is_empty() {
            let n = self.buf.len();
            self.emit(n);
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod run_budget_tests {
    use super::*;

    #[test]
    fn a_module_over_its_share_waits_for_the_next_period() {
        let mut t = CpuThrottle::new(0.5);
        let start = t.period_start;
        let ms = |n| start + Duration::from_millis(n);
        let cpu = |n: u64| n * 1_000_000;
        assert_eq!(t.check(ms(10), cpu(10)), None);
        assert_eq!(t.check(ms(60), cpu(60)), Some(Duration::from_millis(40)));
        // A new period starts from what was used so far.
        assert_eq!(t.check(ms(100), cpu(60)), None);
        assert_eq!(t.check(ms(140), cpu(100)), None);
    }

    #[test]
    fn a_pause_starts_a_new_run() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut busy = RunBudget::new(Duration::from_millis(500));
        // Ticks every 50 ms with no pause: one run, over its budget at 550 ms.
        assert!((0..=10).all(|i| busy.tick(ms(i * 50)).is_ok()));
        assert!(busy.tick(ms(550)).is_err());
        // The same ticks with a pause between them (a poll loop): never over.
        let mut polling = RunBudget::new(Duration::from_millis(500));
        for i in 0..100 {
            assert!(polling.tick(ms(i * 50)).is_ok(), "tick {i}");
            polling.pause();
        }
        // A gap longer than RUN_GAP counts as a pause too.
        let mut gaps = RunBudget::new(Duration::from_millis(500));
        assert!((0..20).all(|i| gaps.tick(ms(i * 150)).is_ok()));
    }
}
