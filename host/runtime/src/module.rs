//! A loaded module as the rest of the host sees it: its description, its state,
//! the queues into it, and the supervisor task that runs (and re-runs) its
//! instances.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use super::actor::{self, Call, CallStats, Exit, Inbox, Mailbox};
use super::bindings::ceph::mgr::types::{self as wit, CommandResult, ModuleInfo};
use super::bindings::{Guest, GuestPre};
use super::ctx::ModuleCtx;
use super::ctx::{Sandbox, Shared};
use super::published::Page;
use crate::config::ResolvedOptions;
use crate::exchange::{HttpRequest, HttpResponse};
use crate::{ModuleManager, Services};
use wasm_mgr_cluster::command::Signature;
use wasm_mgr_cluster::model::{Change, HealthCheck, HealthStatus, NotifyKind};
use wasm_mgr_cluster::source::CommandOutput;

/// Most requests queued for one module before callers are told it is busy.
pub const CALL_QUEUE: usize = 64;
/// Failures in a row after which a module stays down until an operator acts.
pub const MAX_RESTARTS: u32 = 5;
/// First restart delay; doubles with each failure in a row.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// A module that ran this long since its last restart is healthy again.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// Default time one call (`notify`, a command, an HTTP request) may take before
/// the instance is stopped (a module's `call_deadline` setting).
pub const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(30);
/// How long past a module's call deadline a caller waits for the answer.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);
/// Default time `shutdown` and the end of `serve` may take (a module's
/// `shutdown_grace` setting).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Life-cycle state of a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Being instantiated.
    Starting,
    /// Its instance runs.
    Running,
    /// Its instance failed; it restarts after a back-off.
    Restarting,
    /// Failed too often, or could not be loaded; waits for an operator.
    Failed,
    /// Stopped on request.
    Stopped,
    /// Disabled by an operator: found in the modules folder, not started.
    Disabled,
    /// Compiled and ready on a standby host; runs when it takes over.
    Standby,
    /// A source module whose shared runtime is still being compiled.
    Loading,
}

/// What `module ls` and `GET /api/modules` show of one module.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleStatus {
    /// Module name.
    pub name: String,
    /// Version from `describe`.
    pub version: String,
    /// Life-cycle state.
    pub state: State,
    /// Instances started after a failure.
    pub restarts: u32,
    /// Why it last failed, if it did.
    pub last_error: Option<String>,
    /// The component file.
    pub path: String,
    /// SHA-256 of the file's content when this version was loaded (hex).
    pub hash: String,
    /// Notifications waiting.
    pub notify_queue: usize,
    /// Notifications merged into newer ones.
    pub notify_coalesced: u64,
    /// Notifications dropped (mailbox full).
    pub notify_dropped: u64,
    /// Notifies that ran.
    pub notifies: u64,
    /// Commands answered.
    pub commands: u64,
    /// HTTP requests answered.
    pub http_requests: u64,
    /// Linear memory of its instance, in bytes.
    pub memory_bytes: u64,
    /// CPU time spent running it.
    pub cpu_seconds: f64,
    /// What the host holds for it, and what of its logs was refused.
    pub holds: crate::account::Holdings,
}

/// Why a call into a module got no answer.
#[derive(Debug)]
pub enum CallError {
    /// The module is not running (stopped, failed, restarting).
    NotRunning(String),
    /// Its queue is full.
    Busy,
    /// No answer within the time limit.
    Timeout(Duration),
    /// The instance trapped while answering.
    Trapped(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::NotRunning(why) => write!(f, "module is not running: {why}"),
            CallError::Busy => f.write_str("module is busy (request queue full)"),
            CallError::Timeout(t) => write!(f, "module did not answer within {t:?}"),
            CallError::Trapped(e) => write!(f, "module failed while answering: {e}"),
        }
    }
}

struct Life {
    state: State,
    restarts: u32,
    failures_in_row: u32,
    last_error: Option<String>,
}

/// A loaded module.
pub struct ModuleHandle {
    /// Module name (from `describe`).
    pub name: String,
    /// The component file it came from.
    pub path: PathBuf,
    /// SHA-256 of that file's content when it was loaded (hex).
    pub hash: String,
    /// What `describe` returned.
    pub info: ModuleInfo,
    /// Its commands, parsed.
    pub signatures: Vec<Signature>,
    wants: HashSet<NotifyKind>,
    mailbox: Mailbox,
    calls: mpsc::Sender<Call>,
    stop: watch::Sender<bool>,
    stats: CallStats,
    notified: watch::Sender<u64>,
    life: Mutex<Life>,
    stopped: watch::Sender<bool>,
    /// Counts instances that got past the start of `serve` (their first poll).
    started: watch::Sender<u64>,
    shared: Arc<Shared>,
    /// How long an HTTP request may take before the client gets 503.
    pub http_timeout: Duration,
    /// How long one call may run (the caller of a command waits as long).
    pub call_deadline: Duration,
    /// Largest command and input it takes from another module or the API: an
    /// eighth of its memory limit, so that what a sender passes cannot make it
    /// trap for lack of memory (the sender gets the error instead).
    pub max_input: usize,
}

/// What the supervisor needs to start new instances of a module, and the
/// operator's settings for it.
pub struct Blueprint {
    /// The pre-linked component.
    pub pre: GuestPre,
    /// How often a `module-sync` module's `tick` runs.
    pub tick: Duration,
    /// Checked option values.
    pub options: Arc<ResolvedOptions>,
    /// What one instance may use.
    pub sandbox: Sandbox,
    /// How long one call may run before the instance is stopped.
    pub call_deadline: Duration,
    /// How long an HTTP request may take.
    pub http_timeout: Duration,
    /// Usage counters and published pages.
    pub shared: Arc<Shared>,
    /// How long `shutdown` may take before the instance is dropped.
    pub grace: Duration,
}

impl ModuleHandle {
    /// Creates the handle and starts the supervisor with a first, already
    /// instantiated and described instance.
    pub fn start(
        manager: Arc<ModuleManager>,
        path: PathBuf,
        hash: String,
        info: ModuleInfo,
        signatures: Vec<Signature>,
        blueprint: Blueprint,
        first: (wasmtime::Store<ModuleCtx>, Guest),
    ) -> Arc<ModuleHandle> {
        let (tx, rx) = mpsc::channel(CALL_QUEUE);
        let wants = info.notify.iter().map(|k| NotifyKind::from(*k)).collect();
        let handle = Arc::new(ModuleHandle {
            name: info.name.clone(),
            path,
            hash,
            info,
            signatures,
            wants,
            mailbox: Mailbox::default(),
            calls: tx,
            stop: watch::channel(false).0,
            stats: CallStats::default(),
            notified: watch::channel(0).0,
            life: Mutex::new(Life {
                state: State::Starting,
                restarts: 0,
                failures_in_row: 0,
                last_error: None,
            }),
            stopped: watch::channel(false).0,
            started: watch::channel(0).0,
            shared: blueprint.shared.clone(),
            http_timeout: blueprint.http_timeout,
            call_deadline: blueprint.call_deadline,
            max_input: blueprint.sandbox.memory_limit / 8,
        });
        tokio::spawn(crate::engine::executing(supervise(
            manager,
            handle.clone(),
            blueprint,
            first,
            rx,
        )));
        handle
    }

    /// Queues a change if the module asked for its kind.
    pub fn notify(&self, change: &Change) {
        if self.wants.contains(&change.kind) {
            self.mailbox.push(change.clone());
        }
    }

    /// Whether an input of `size` bytes (a command and its buffer, or an HTTP
    /// body) fits what the module takes; the reason for the sender when not.
    pub fn check_input(&self, size: usize) -> Result<(), String> {
        if size > self.max_input {
            return Err(format!(
                "an input of {size} bytes is over module `{}`'s limit of {} bytes",
                self.name, self.max_input
            ));
        }
        Ok(())
    }

    /// Runs one of the module's commands (ceph's JSON dict) and waits for it a
    /// moment past the module's call deadline, so that a call stopped at its
    /// deadline answers with that reason.
    pub async fn command(
        &self,
        command: String,
        inbuf: String,
    ) -> Result<CommandOutput, CallError> {
        let (reply, rx) = oneshot::channel();
        self.call(
            Call::Command {
                command,
                inbuf,
                reply,
            },
            rx,
            self.call_deadline + DEADLINE_MARGIN,
        )
        .await
        .map(|r: CommandResult| CommandOutput {
            retval: r.retval,
            stdout: r.stdout,
            stderr: r.stderr,
        })
    }

    /// Passes an HTTP request to the module and waits up to `timeout`.
    pub async fn http(
        &self,
        request: HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, CallError> {
        let (reply, rx) = oneshot::channel();
        let request = request.into();
        self.call(Call::Http { request, reply }, rx, timeout)
            .await
            .map(|r: wit::HttpResponse| r.into())
    }

    async fn call<R>(
        &self,
        call: Call,
        rx: oneshot::Receiver<wasmtime::Result<R>>,
        timeout: Duration,
    ) -> Result<R, CallError> {
        let state = self.state();
        if state != State::Running {
            let why = self
                .life()
                .last_error
                .clone()
                .unwrap_or_else(|| format!("{state:?}").to_lowercase());
            return Err(CallError::NotRunning(why));
        }
        self.calls.try_send(call).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => CallError::Busy,
            mpsc::error::TrySendError::Closed(_) => CallError::NotRunning("stopped".into()),
        })?;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(CallError::Timeout(timeout)),
            Ok(Err(_)) => Err(CallError::NotRunning(
                "its instance ended before answering".into(),
            )),
            Ok(Ok(Err(trap))) => Err(CallError::Trapped(format!("{trap:#}"))),
            Ok(Ok(Ok(value))) => Ok(value),
        }
    }

    /// Asks the module to shut down and waits until its supervisor is done.
    pub async fn stop(&self) {
        tracing::debug!(module = %self.name, "stop requested");
        self.stop.send_replace(true);
        let mut stopped = self.stopped.subscribe();
        let _ = stopped.wait_for(|s| *s).await;
    }

    /// Waits until the instance has started `serve` (true) or failed first (false),
    /// for up to `timeout`.
    pub async fn wait_started(&self, timeout: Duration) -> bool {
        let mut started = self.started.subscribe();
        let run = async {
            loop {
                if *started.borrow_and_update() > 0 {
                    return true;
                }
                if matches!(
                    self.state(),
                    State::Restarting | State::Failed | State::Stopped
                ) {
                    return false;
                }
                // Wakes on the start, or at the latest 10 ms later for a failure.
                let _ = tokio::time::timeout(Duration::from_millis(10), started.changed()).await;
            }
        };
        tokio::time::timeout(timeout, run).await.unwrap_or(false)
    }

    /// Serve `from`'s published pages until this module publishes its own.
    pub fn adopt_pages(&self, from: &ModuleHandle) {
        self.shared
            .published
            .adopt(&from.shared.published, &self.shared.account);
    }

    /// Why the module last failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.life().last_error.clone()
    }

    /// The page the module published at `path`, while it runs.
    pub fn published(&self, path: &str) -> Option<Arc<Page>> {
        self.shared.published.get(path)
    }

    /// Current life-cycle state.
    pub fn state(&self) -> State {
        self.life().state
    }

    /// A count that goes up each time a notify completes (for waiting on delivery).
    pub fn notify_completions(&self) -> watch::Receiver<u64> {
        self.notified.subscribe()
    }

    /// What `module ls` shows.
    pub fn status(&self) -> ModuleStatus {
        let life = self.life();
        ModuleStatus {
            name: self.name.clone(),
            version: self.info.version.clone(),
            state: life.state,
            restarts: life.restarts,
            last_error: life.last_error.clone(),
            path: self.path.display().to_string(),
            hash: self.hash.clone(),
            notify_queue: self.mailbox.depth(),
            notify_coalesced: self.mailbox.coalesced(),
            notify_dropped: self.mailbox.dropped(),
            notifies: self.stats.notifies.load(Ordering::Relaxed),
            commands: self.stats.commands.load(Ordering::Relaxed),
            http_requests: self.stats.http.load(Ordering::Relaxed),
            memory_bytes: self.shared.usage.memory(),
            cpu_seconds: self.shared.usage.cpu_seconds(),
            holds: self.shared.account.holdings(),
        }
    }

    fn life(&self) -> std::sync::MutexGuard<'_, Life> {
        self.life.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_state(&self, services: &Services, state: State, error: Option<String>) {
        {
            let mut life = self.life();
            life.state = state;
            if error.is_some() {
                life.last_error = error;
            }
        }
        services.health.report();
    }

    /// The `MGR_MODULE_ERROR` detail line for this module, if it is down by failure.
    pub fn failure_detail(&self) -> Option<String> {
        let life = self.life();
        match life.state {
            State::Failed | State::Restarting => Some(format!(
                "Module '{}' has failed: {}",
                self.name,
                life.last_error.as_deref().unwrap_or("unknown error")
            )),
            _ => None,
        }
    }
}

/// Runs instances of a module until it is stopped: restarts a failed instance
/// after an exponential back-off, and gives up after [`MAX_RESTARTS`] failures
/// in a row.
async fn supervise(
    manager: Arc<ModuleManager>,
    handle: Arc<ModuleHandle>,
    blueprint: Blueprint,
    first: (wasmtime::Store<ModuleCtx>, Guest),
    mut calls: mpsc::Receiver<Call>,
) {
    let services = manager.services.clone();
    let mut next = Some(first);
    loop {
        let (store, module) = match next.take() {
            Some(instance) => instance,
            None => match manager
                .instantiate(
                    &handle.name,
                    &blueprint.pre,
                    blueprint.options.clone(),
                    &blueprint.sandbox,
                    blueprint.shared.clone(),
                )
                .await
            {
                Ok(instance) => instance,
                Err(e) => {
                    tracing::error!(module = %handle.name, "instance failed to start: {e:#}");
                    if !backoff(&services, &handle, format!("{e:#}")).await {
                        break;
                    }
                    continue;
                }
            },
        };
        handle.set_state(&services, State::Running, None);
        let started = Instant::now();
        let inbox = Inbox {
            calls: &mut calls,
            mailbox: &handle.mailbox,
            stop: handle.stop.subscribe(),
            grace: blueprint.grace,
            deadline: blueprint.call_deadline,
            started: &handle.started,
            stats: &handle.stats,
            notified: &handle.notified,
            name: &handle.name,
            metrics: &services.metrics,
            usage: &handle.shared.usage,
        };
        let exit = match module {
            Guest::Async(m) => actor::run(store, m, inbox).await,
            Guest::Sync(m) => actor::run_sync(store, m, blueprint.tick, inbox).await,
            Guest::Runtime(m) => actor::run_runtime(store, m, inbox).await,
        };
        handle.shared.published.clear(&handle.shared.account);
        match exit {
            Exit::Stopped => {
                tracing::info!(module = %handle.name, "stopped");
                handle.set_state(&services, State::Stopped, None);
                break;
            }
            Exit::Failed(e) => {
                let reason = format!("{e:#}");
                tracing::error!(module = %handle.name, "instance failed: {reason}");
                services.health.record_crash(&handle.name, &reason);
                if started.elapsed() > HEALTHY_AFTER {
                    handle.life().failures_in_row = 0;
                }
                if !backoff(&services, &handle, reason).await {
                    break;
                }
            }
        }
    }
    handle.stopped.send_replace(true);
}

/// Records a failure and waits before the next attempt. False when the module
/// must stay down (too many failures, or stopped meanwhile).
async fn backoff(services: &Services, handle: &ModuleHandle, reason: String) -> bool {
    let failures = {
        let mut life = handle.life();
        life.failures_in_row += 1;
        life.failures_in_row
    };
    if failures > MAX_RESTARTS {
        tracing::error!(
            module = %handle.name,
            "failed {failures} times in a row; staying down until an operator acts"
        );
        handle.set_state(
            services,
            State::Failed,
            Some(crate::health::one_line(&reason).to_string()),
        );
        return false;
    }
    let delay = FIRST_BACKOFF * 2u32.pow(failures - 1);
    tracing::warn!(module = %handle.name, "restarting in {delay:?}");
    handle.set_state(
        services,
        State::Restarting,
        Some(crate::health::one_line(&reason).to_string()),
    );
    tokio::select! {
        _ = tokio::time::sleep(delay) => {
            handle.life().restarts += 1;
            true
        }
        _ = async { handle.stop.subscribe().wait_for(|s| *s).await.map(|_| ()) } => {
            handle.set_state(services, State::Stopped, None);
            false
        }
    }
}

/// The `MGR_MODULE_ERROR` check for every module down by failure, if any.
pub fn module_error_check(details: Vec<String>) -> Option<HealthCheck> {
    if details.is_empty() {
        return None;
    }
    let count = details.len() as u64;
    Some(HealthCheck {
        code: "MGR_MODULE_ERROR".into(),
        severity: HealthStatus::Err,
        summary: if count == 1 {
            details[0].clone()
        } else {
            format!("{count} mgr modules have failed")
        },
        detail: details,
        count,
    })
}

/// The `RECENT_MGR_MODULE_CRASH` warning for crashes not yet archived (one
/// detail line each) of `modules` modules, if any.
pub fn recent_crash_check(details: Vec<String>, modules: usize) -> Option<HealthCheck> {
    if details.is_empty() {
        return None;
    }
    let count = details.len() as u64;
    let crashes = if count == 1 {
        "1 crash".to_string()
    } else {
        format!("{count} crashes")
    };
    let summary = if modules == 1 {
        format!("1 mgr module has recently crashed ({crashes})")
    } else {
        format!("{modules} mgr modules have recently crashed ({crashes})")
    };
    Some(HealthCheck {
        code: "RECENT_MGR_MODULE_CRASH".into(),
        severity: HealthStatus::Warn,
        summary,
        detail: details,
        count,
    })
}
