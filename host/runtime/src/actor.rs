//! One module instance at work: the actor that owns its `Store`, runs `serve` as a
//! long-lived guest task and turns notifications, commands and HTTP requests into
//! concurrent guest calls on the same instance.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use wasmtime::Store;

use super::bindings::Module;
use super::bindings::ceph::mgr::types::{CommandResult, HttpRequest, HttpResponse, Notification};
use super::bindings::sync_world::ModuleSync;
use super::bindings::v0_2_0::Runtime;
use super::ctx::ModuleCtx;
use crate::metrics::{CallKind, Metrics, ModuleUsage};
use wasm_mgr_cluster::model::{Change, NotifyKind};

/// Most notifications kept waiting for one module; past this the oldest are dropped.
pub const MAILBOX_CAPACITY: usize = 256;

/// A request into a module that expects an answer.
pub enum Call {
    /// `handle-command` with ceph's JSON command dict and input.
    Command {
        /// The JSON command dict.
        command: String,
        /// Input buffer.
        inbuf: String,
        /// Where the result goes.
        reply: oneshot::Sender<wasmtime::Result<CommandResult>>,
    },
    /// `handle-http`.
    Http {
        /// The request.
        request: HttpRequest,
        /// Where the response goes.
        reply: oneshot::Sender<wasmtime::Result<HttpResponse>>,
    },
}

/// Pending notifications of one module. Map changes of one kind coalesce (only
/// the newest matters: the module reads the map itself); log entries queue; the
/// oldest are dropped past [`MAILBOX_CAPACITY`] and counted.
#[derive(Default)]
pub struct Mailbox {
    pending: Mutex<VecDeque<Change>>,
    ready: Notify,
    coalesced: AtomicU64,
    dropped: AtomicU64,
}

impl Mailbox {
    /// Queues one change for the module.
    pub fn push(&self, change: Change) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let same = (change.kind != NotifyKind::Clog)
                .then(|| pending.iter_mut().find(|c| c.kind == change.kind))
                .flatten();
            match same {
                Some(slot) => {
                    *slot = change;
                    self.coalesced.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    pending.push_back(change);
                    if pending.len() > MAILBOX_CAPACITY {
                        pending.pop_front();
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        self.ready.notify_one();
    }

    fn take_all(&self) -> Vec<Change> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.drain(..).collect()
    }

    /// The oldest change waiting, if any.
    pub fn take_one(&self) -> Option<Change> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.pop_front()
    }

    /// Wakes a waiter of [`Mailbox::pushed`] without a change.
    pub fn push_wake(&self) {
        self.ready.notify_one();
    }

    /// Resolves when a change was pushed since the last wake.
    pub async fn pushed(&self) {
        self.ready.notified().await
    }

    /// Notifications waiting now.
    pub fn depth(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Notifications merged into a newer one of the same kind.
    pub fn coalesced(&self) -> u64 {
        self.coalesced.load(Ordering::Relaxed)
    }

    /// Notifications dropped because the mailbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Counters an instance keeps for its module (they outlive restarts).
#[derive(Default)]
pub struct CallStats {
    /// Notifies that ran to completion.
    pub notifies: AtomicU64,
    /// Commands answered.
    pub commands: AtomicU64,
    /// HTTP requests answered.
    pub http: AtomicU64,
}

impl CallStats {
    /// Counts a call of `kind` that ran to its end and records its latency; the
    /// number of such calls so far.
    fn finished(&self, kind: CallKind, timing: Timing<'_>, started: Instant) -> u64 {
        timing.record(kind, started);
        let counter = match kind {
            CallKind::Notify => &self.notifies,
            CallKind::Command => &self.commands,
            CallKind::Http => &self.http,
        };
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// How an instance ended.
pub enum Exit {
    /// Asked to stop, and it did (or its grace period ran out).
    Stopped,
    /// The guest trapped or broke a limit.
    Failed(wasmtime::Error),
}

/// Everything an instance run needs from its module.
pub struct Inbox<'a> {
    /// Requests with answers.
    pub calls: &'a mut mpsc::Receiver<Call>,
    /// Notifications.
    pub mailbox: &'a Mailbox,
    /// Becomes true when the module must stop.
    pub stop: watch::Receiver<bool>,
    /// How long `shutdown` and the end of `serve` may take.
    pub grace: Duration,
    /// How long one call may run before the instance is stopped.
    pub deadline: Duration,
    /// Counts instances whose `serve` has started (the first poll left it waiting).
    pub started: &'a watch::Sender<u64>,
    /// Counters.
    pub stats: &'a CallStats,
    /// Sends the count of completed notifies after each one.
    pub notified: &'a tokio::sync::watch::Sender<u64>,
    /// The module's name, for metrics.
    pub name: &'a str,
    /// Where call latencies go.
    pub metrics: &'a Metrics,
    /// Where CPU time goes.
    pub usage: &'a ModuleUsage,
}

type GuestTask<'a> = BoxFuture<'a, wasmtime::Result<()>>;

/// Runs one instance until it is stopped or fails. `serve` runs for the whole
/// life of the instance; every other call runs concurrently beside it.
pub async fn run(mut store: Store<ModuleCtx>, module: Module, inbox: Inbox<'_>) -> Exit {
    let shutdown = store.data().shutdown.clone();
    let Inbox {
        calls,
        mailbox,
        stop,
        grace,
        deadline,
        started,
        stats,
        notified,
        name,
        metrics,
        usage,
    } = inbox;
    let timing = Timing { name, metrics };
    let mut stop_inside = stop.clone();
    let mut stop_outside = stop;
    let instance = store.run_concurrent(async |acc| -> wasmtime::Result<()> {
        let module = &module;
        let mut serve = pin!(module.call_serve(acc));
        let mut serve_done = false;
        let mut tasks: FuturesUnordered<GuestTask<'_>> = FuturesUnordered::new();
        let mut stopping = false;
        // Calls already queued when the stop came are still answered, by this
        // instance: a reload's old version finishes what reached it.
        let mut calls_done = false;
        loop {
            if stopping && calls_done && serve_done && tasks.is_empty() {
                return Ok(());
            }
            tokio::select! {
                result = &mut serve, if !serve_done => {
                    serve_done = true;
                    result?;
                }
                Some(result) = tasks.next(), if !tasks.is_empty() => {
                    // A call returned: its WebAssembly stopped running.
                    acc.with(|mut access| access.get().run.pause());
                    result?
                }
                call = calls.recv(), if !calls_done => match call {
                    Some(call) => tasks.push(within(deadline, "a call", dispatch(module, acc, call, stats, timing))),
                    None => {
                        calls_done = true;
                        stopping = true;
                    }
                },
                _ = mailbox.ready.notified(), if !stopping => {
                    for change in mailbox.take_all() {
                        tasks.push(within(deadline, "notify", Box::pin(async move {
                            let n = Notification { kind: change.kind.into(), id: change.id };
                            let started = Instant::now();
                            module.call_notify(acc, n).await?;
                            let done = stats.finished(CallKind::Notify, timing, started);
                            notified.send_replace(done);
                            Ok(())
                        })));
                    }
                }
                _ = stop_inside.wait_for(|s| *s), if !stopping => {
                    stopping = true;
                    calls.close();
                    shutdown.request();
                    tasks.push(Box::pin(async move {
                        module.func_on_shutdown().call_concurrent(acc, ()).await?;
                        Ok(())
                    }));
                }
            }
        }
    });
    // The grace period is enforced outside the instance's event loop, so that a
    // module stuck anywhere (its `shutdown`, its `serve`, a handler) is dropped
    // all the same.
    let grace_over = async {
        let _ = stop_outside.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    let instance = CpuTimed {
        inner: instance,
        usage,
        started: Some(started),
    };
    tokio::select! {
        outcome = instance => match outcome {
            Ok(Ok(())) => Exit::Stopped,
            Ok(Err(e)) | Err(e) => Exit::Failed(e),
        },
        _ = grace_over => {
            tracing::warn!("module did not stop within {grace:?}; dropping its instance");
            Exit::Stopped
        }
    }
}

/// `task`, failing the instance if it runs longer than `deadline`: a call that
/// awaits forever is stopped like one that loops (which `max_run` stops sooner).
fn within<'a>(deadline: Duration, what: &'static str, task: GuestTask<'a>) -> GuestTask<'a> {
    Box::pin(before(deadline, what, task))
}

/// `call`'s result, or an error (which fails the instance) once `deadline` passed.
async fn before<R>(
    deadline: Duration,
    what: &'static str,
    call: impl Future<Output = wasmtime::Result<R>>,
) -> wasmtime::Result<R> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or_else(|_| {
            Err(wasmtime::format_err!(
                "{what} ran past its deadline of {deadline:?}"
            ))
        })
}

/// The exports of a world whose calls the host makes one at a time: a
/// `module-sync` module, or a module on a shared runtime once its `serve` ended.
#[derive(Clone, Copy)]
pub enum OneAtATime<'a> {
    /// `module-sync`, driven by `tick`.
    Sync(&'a ModuleSync),
    /// The `runtime` world.
    Runtime(&'a Runtime),
}

impl OneAtATime<'_> {
    async fn tick(self, store: &mut Store<ModuleCtx>) -> wasmtime::Result<()> {
        match self {
            OneAtATime::Sync(m) => m.func_tick().call_async(store, ()).await,
            OneAtATime::Runtime(_) => Ok(()),
        }
    }

    async fn notify(self, store: &mut Store<ModuleCtx>, n: &Notification) -> wasmtime::Result<()> {
        match self {
            OneAtATime::Sync(m) => m.func_notify().call_async(store, (n,)).await,
            OneAtATime::Runtime(m) => m.call_notify(store, n).await,
        }
    }

    async fn command(
        self,
        store: &mut Store<ModuleCtx>,
        command: &str,
        inbuf: &str,
    ) -> wasmtime::Result<CommandResult> {
        match self {
            OneAtATime::Sync(m) => m
                .func_handle_command()
                .call_async(store, (command, inbuf))
                .await
                .map(|(r,)| r),
            OneAtATime::Runtime(m) => m.call_handle_command(store, command, inbuf).await,
        }
    }

    async fn http(
        self,
        store: &mut Store<ModuleCtx>,
        request: &HttpRequest,
    ) -> wasmtime::Result<HttpResponse> {
        match self {
            OneAtATime::Sync(m) => m
                .func_handle_http()
                .call_async(store, (request,))
                .await
                .map(|(r,)| r),
            OneAtATime::Runtime(m) => m.call_handle_http(store, request).await,
        }
    }

    async fn on_shutdown(self, store: &mut Store<ModuleCtx>) -> wasmtime::Result<()> {
        match self {
            OneAtATime::Sync(m) => m.func_on_shutdown().call_async(store, ()).await,
            OneAtATime::Runtime(m) => m.call_on_shutdown(store).await,
        }
    }
}

/// One `module-sync` instance at work: the host is its serve loop. It calls `tick`
/// on the module's interval and every other call (notifies, commands, HTTP) one at
/// a time, each within the call deadline. Stopping answers what was queued, then
/// calls `on-shutdown` within the grace period.
pub async fn run_sync(
    store: Store<ModuleCtx>,
    module: ModuleSync,
    tick: Duration,
    inbox: Inbox<'_>,
) -> Exit {
    one_at_a_time(
        store,
        OneAtATime::Sync(&module),
        Some(tick),
        inbox,
        Vec::new(),
    )
    .await
}

/// One instance of a module on a shared runtime at work. Its `serve` runs first
/// and may block for as long as it likes; meanwhile every call and change is held
/// for it and handed over inside `inbox.wait`. Once `serve` returned (a module
/// without a loop returns at once), the host makes the calls one at a time, as
/// for `module-sync`. Stopping hands `serve` a shutdown, which should make it
/// return; the grace period bounds the rest.
pub async fn run_runtime(mut store: Store<ModuleCtx>, module: Runtime, inbox: Inbox<'_>) -> Exit {
    let Some(handover) = store.data().handover.clone() else {
        return Exit::Failed(wasmtime::format_err!(
            "a runtime instance without its handover"
        ));
    };
    let mut finished = store.data_mut().finished.take();
    let Inbox {
        calls, mut stop, ..
    } = inbox;
    let (mailbox, grace, started, usage) = (inbox.mailbox, inbox.grace, inbox.started, inbox.usage);
    let (stats, notified) = (inbox.stats, inbox.notified);
    let timing = Timing {
        name: inbox.name,
        metrics: inbox.metrics,
    };
    let shutdown = store.data().shutdown.clone();
    let mut stopping = false;
    let mut stop_at: Option<tokio::time::Instant> = None;
    let instances_before = *started.borrow();
    handover.set_serving(true);
    let served = {
        let serve = CpuTimed {
            inner: module.call_serve(&mut store),
            usage,
            started: Some(started),
        };
        let mut serve = pin!(serve);
        loop {
            let grace_over = async {
                match stop_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = &mut serve => break Some(result),
                Some(call) = calls.recv(), if !stopping => handover.hold(call),
                _ = mailbox.ready.notified(), if !stopping => {
                    for change in mailbox.take_all() {
                        handover.hold_change(change);
                    }
                }
                Some(done) = async { match finished.as_mut() { Some(f) => f.recv().await, None => None } } => {
                    let count = stats.finished(done.kind, timing, done.started);
                    if done.kind == CallKind::Notify {
                        notified.send_replace(count);
                    }
                }
                _ = async { drop(stop.wait_for(|s| *s).await) }, if !stopping => {
                    stopping = true;
                    shutdown.request();
                    handover.request_shutdown();
                    stop_at = Some(tokio::time::Instant::now() + grace);
                }
                _ = grace_over => break None,
            }
        }
    };
    handover.set_serving(false);
    match served {
        None => {
            tracing::warn!("module did not stop within {grace:?}; dropping its instance");
            return Exit::Stopped;
        }
        Some(Err(e)) => return Exit::Failed(e),
        Some(Ok(Err(report))) => {
            return Exit::Failed(wasmtime::format_err!("serve failed: {}", report.trim_end()));
        }
        Some(Ok(Ok(()))) => {}
    }
    // `serve` started the instance, whether it waited or returned at once.
    if *started.borrow() == instances_before {
        started.send_modify(|n| *n += 1);
    }
    let (held, changes) = handover.drain();
    for change in changes {
        mailbox.push(change);
    }
    let remaining = Inbox {
        calls,
        mailbox,
        stop,
        grace,
        deadline: inbox.deadline,
        started,
        stats,
        notified,
        name: inbox.name,
        metrics: inbox.metrics,
        usage,
    };
    one_at_a_time(store, OneAtATime::Runtime(&module), None, remaining, held).await
}

/// The host as the serve loop of a module whose calls it makes one at a time:
/// `held` first (calls that were waiting for a `serve` that ended), then `tick`
/// on its interval, if it has one, and every call as it comes, each within the
/// call deadline. Stopping answers what was queued, then calls `on-shutdown`
/// within the grace period.
async fn one_at_a_time(
    mut store: Store<ModuleCtx>,
    module: OneAtATime<'_>,
    tick: Option<Duration>,
    inbox: Inbox<'_>,
    held: Vec<Call>,
) -> Exit {
    let Inbox {
        calls, mut stop, ..
    } = inbox;
    let (mailbox, grace, deadline, started) =
        (inbox.mailbox, inbox.grace, inbox.deadline, inbox.started);
    let (stats, notified, usage) = (inbox.stats, inbox.notified, inbox.usage);
    let (name, metrics) = (inbox.name, inbox.metrics);
    let timing = Timing { name, metrics };
    let mut ticker = tokio::time::interval(tick.unwrap_or(Duration::from_secs(3600)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first_tick = tick.is_some();
    let running: wasmtime::Result<()> = async {
        for call in held {
            sync_call(&mut store, module, call, stats, timing, deadline, usage).await?;
            store.data_mut().run.pause();
        }
        loop {
            tokio::select! {
                biased;
                // The guard `wait_for` returns must not live across the awaits below.
                _ = async { drop(stop.wait_for(|s| *s).await) } => return Ok(()),
                Some(call) = calls.recv() => {
                    sync_call(&mut store, module, call, stats, timing, deadline, usage).await?;
                    store.data_mut().run.pause();
                }
                _ = mailbox.ready.notified() => {
                    for change in mailbox.take_all() {
                        let n = Notification { kind: change.kind.into(), id: change.id };
                        let started_at = Instant::now();
                        bounded(deadline, "notify", usage, module.notify(&mut store, &n)).await?;
                        store.data_mut().run.pause();
                        let done = stats.finished(CallKind::Notify, timing, started_at);
                        notified.send_replace(done);
                    }
                }
                _ = ticker.tick(), if tick.is_some() => {
                    bounded(deadline, "tick", usage, module.tick(&mut store)).await?;
                    store.data_mut().run.pause();
                    if first_tick {
                        first_tick = false;
                        started.send_modify(|n| *n += 1);
                    }
                }
            }
        }
    }
    .await;
    if let Err(e) = running {
        return Exit::Failed(e);
    }
    store.data().shutdown.request();
    calls.close();
    let finish = async {
        while let Some(call) = calls.recv().await {
            sync_call(&mut store, module, call, stats, timing, deadline, usage).await?;
        }
        bounded(grace, "on-shutdown", usage, module.on_shutdown(&mut store)).await
    };
    match tokio::time::timeout(grace, finish).await {
        Ok(Ok(())) => Exit::Stopped,
        Ok(Err(e)) => Exit::Failed(e),
        Err(_) => {
            tracing::warn!("module did not stop within {grace:?}; dropping its instance");
            Exit::Stopped
        }
    }
}

/// A call into a `module-sync` instance, its CPU time counted, failing the instance
/// past `deadline`.
async fn bounded<R>(
    deadline: Duration,
    what: &'static str,
    usage: &ModuleUsage,
    call: impl Future<Output = wasmtime::Result<R>>,
) -> wasmtime::Result<R> {
    let timed = CpuTimed {
        inner: call,
        usage,
        started: None,
    };
    before(deadline, what, timed).await
}

/// A command or HTTP request to an instance that takes one call at a time.
async fn sync_call(
    store: &mut Store<ModuleCtx>,
    module: OneAtATime<'_>,
    call: Call,
    stats: &CallStats,
    timing: Timing<'_>,
    deadline: Duration,
    usage: &ModuleUsage,
) -> wasmtime::Result<()> {
    let started = Instant::now();
    match call {
        Call::Command {
            command,
            inbuf,
            reply,
        } => {
            let call = module.command(&mut *store, &command, &inbuf);
            let result = bounded(deadline, "a command", usage, call).await;
            stats.finished(CallKind::Command, timing, started);
            answer(reply, result)
        }
        Call::Http { request, reply } => {
            let call = module.http(&mut *store, &request);
            let result = bounded(deadline, "an HTTP request", usage, call).await;
            stats.finished(CallKind::Http, timing, started);
            answer(reply, result)
        }
    }
}

fn dispatch<'a>(
    module: &'a Module,
    acc: &'a wasmtime::component::Accessor<ModuleCtx>,
    call: Call,
    stats: &'a CallStats,
    timing: Timing<'a>,
) -> GuestTask<'a> {
    let started = Instant::now();
    match call {
        Call::Command {
            command,
            inbuf,
            reply,
        } => Box::pin(async move {
            let result = module.call_handle_command(acc, command, inbuf).await;
            stats.finished(CallKind::Command, timing, started);
            answer(reply, result)
        }),
        Call::Http { request, reply } => Box::pin(async move {
            let result = module.call_handle_http(acc, request).await;
            stats.finished(CallKind::Http, timing, started);
            answer(reply, result)
        }),
    }
}

/// Where one module's call latencies are recorded.
#[derive(Clone, Copy)]
struct Timing<'a> {
    name: &'a str,
    metrics: &'a Metrics,
}

impl Timing<'_> {
    fn record(self, kind: CallKind, started: Instant) {
        self.metrics
            .observe_call(self.name, kind, started.elapsed());
    }
}

pin_project_lite::pin_project! {
    /// Adds the CPU time of the thread during each poll of `inner` to the
    /// module's counter: the guest's own time and the host calls it makes.
    struct CpuTimed<'a, F> {
        #[pin]
        inner: F,
        usage: &'a ModuleUsage,
        // Told once, when the first poll leaves `serve` waiting (it started).
        started: Option<&'a watch::Sender<u64>>,
    }
}

impl<F: Future> Future for CpuTimed<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let before = thread_cpu_nanos();
        let out = this.inner.poll(cx);
        let spent = thread_cpu_nanos().saturating_sub(before);
        this.usage.cpu_nanos.fetch_add(spent, Ordering::Relaxed);
        if out.is_pending()
            && let Some(started) = this.started.take()
        {
            started.send_modify(|n| *n += 1);
        }
        out
    }
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec that we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sends a call's result to its caller and hands a trap back to the actor loop,
/// which ends the instance.
fn answer<R>(
    reply: oneshot::Sender<wasmtime::Result<R>>,
    result: wasmtime::Result<R>,
) -> wasmtime::Result<()> {
    match result {
        Ok(value) => {
            let _ = reply.send(Ok(value));
            Ok(())
        }
        Err(trap) => {
            let _ = reply.send(Err(wasmtime::format_err!("{trap:#}")));
            Err(trap)
        }
    }
}
