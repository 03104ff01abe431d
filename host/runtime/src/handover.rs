//! Calls handed to a `runtime`-world module (a Python or JavaScript module on a
//! shared runtime) inside `inbox.wait`, while its blocking `serve` runs: ceph-mgr
//! enters a module from other threads while its `serve` waits; a component
//! instance runs one export at a time, so the host holds the module's notifies,
//! commands and HTTP requests and gives them to `serve` when it waits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::actor::{Call, Mailbox};
use crate::bindings::ceph::mgr::types::{CommandResult, HttpResponse, Notification};
use crate::bindings::v0_2_0::ceph::mgr::inbox::{CommandCall, HttpCall, Incoming};
use crate::metrics::CallKind;
use wasm_mgr_cluster::model::Change;

/// Most calls held for a `serve` that is not waiting; past this callers are told
/// the module is busy.
pub const HELD_CALLS: usize = 64;

/// A call handed over and not answered yet.
enum Reply {
    Command(oneshot::Sender<wasmtime::Result<CommandResult>>),
    Http(oneshot::Sender<wasmtime::Result<HttpResponse>>),
}

/// A handed-over call that ended, for the module's counters.
pub struct Finished {
    /// What it was.
    pub kind: CallKind,
    /// When it was handed over.
    pub started: Instant,
}

/// What the host holds for one instance's `serve`.
pub struct Handover {
    serving: AtomicBool,
    notifies: Mailbox,
    calls: mpsc::Sender<(u64, Incoming)>,
    held: tokio::sync::Mutex<mpsc::Receiver<(u64, Incoming)>>,
    replies: Mutex<HashMap<u64, (Reply, Instant)>>,
    next_id: AtomicU64,
    shutdown: AtomicBool,
    shutdown_handed: AtomicBool,
    /// The notify handed over last and when, finished at the next `wait`.
    notify_started: Mutex<Option<Instant>>,
    finished: mpsc::UnboundedSender<Finished>,
}

impl Handover {
    /// A handover and the receiver of its finished calls.
    pub fn new() -> (Handover, mpsc::UnboundedReceiver<Finished>) {
        let (calls, held) = mpsc::channel(HELD_CALLS);
        let (finished, done) = mpsc::unbounded_channel();
        let handover = Handover {
            serving: AtomicBool::new(false),
            notifies: Mailbox::default(),
            calls,
            held: tokio::sync::Mutex::new(held),
            replies: Mutex::default(),
            next_id: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            shutdown_handed: AtomicBool::new(false),
            notify_started: Mutex::new(None),
            finished,
        };
        (handover, done)
    }

    /// Marks whether `serve` runs: only then does `wait` hand calls over.
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
    }

    /// Holds a call for `serve`; when too many are held already its caller is
    /// told the module is busy.
    pub fn hold(&self, call: Call) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let Ok(permit) = self.calls.try_reserve() else {
            refuse_busy(call);
            return;
        };
        let (incoming, reply) = match call {
            Call::Command {
                command,
                inbuf,
                reply,
            } => (
                Incoming::Command(CommandCall { id, command, inbuf }),
                Reply::Command(reply),
            ),
            Call::Http { request, reply } => {
                (Incoming::Http(HttpCall { id, request }), Reply::Http(reply))
            }
        };
        self.lock_replies().insert(id, (reply, Instant::now()));
        permit.send((id, incoming));
    }

    /// Holds a change for `serve` (changes of one kind coalesce).
    pub fn hold_change(&self, change: Change) {
        self.notifies.push(change);
    }

    /// Tells `serve` to run the module's shutdown at its next `wait`.
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.notifies.push_wake();
    }

    /// The calls still held once `serve` returned, as calls to make through the
    /// exports (their callers still wait), and the changes still held.
    pub fn drain(&self) -> (Vec<Call>, Vec<Change>) {
        let mut calls = Vec::new();
        if let Ok(mut held) = self.held.try_lock() {
            while let Ok((id, incoming)) = held.try_recv() {
                let Some((reply, _)) = self.lock_replies().remove(&id) else {
                    continue;
                };
                match (incoming, reply) {
                    (Incoming::Command(c), Reply::Command(reply)) => calls.push(Call::Command {
                        command: c.command,
                        inbuf: c.inbuf,
                        reply,
                    }),
                    (Incoming::Http(h), Reply::Http(reply)) => calls.push(Call::Http {
                        request: h.request,
                        reply,
                    }),
                    _ => {}
                }
            }
        }
        let mut changes = Vec::new();
        while let Some(change) = self.notifies.take_one() {
            changes.push(change);
        }
        (calls, changes)
    }

    /// What `inbox.wait` does: while `serve` runs, the next held call (a
    /// shutdown first, then changes, then commands and requests) within
    /// `timeout`; otherwise it sleeps. `None` when the time ran out.
    pub async fn wait(&self, timeout: Duration) -> Option<Incoming> {
        self.finish_notify();
        let deadline = tokio::time::Instant::now() + timeout;
        if !self.serving.load(Ordering::SeqCst) {
            tokio::time::sleep_until(deadline).await;
            return None;
        }
        loop {
            if self.shutdown.load(Ordering::SeqCst)
                && !self.shutdown_handed.swap(true, Ordering::SeqCst)
            {
                return Some(Incoming::Shutdown);
            }
            if let Some(change) = self.notifies.take_one() {
                *self.lock_notify() = Some(Instant::now());
                return Some(Incoming::Notify(Notification {
                    kind: change.kind.into(),
                    id: change.id,
                }));
            }
            let mut held = self.held.lock().await;
            tokio::select! {
                call = held.recv() => {
                    if let Some((_, incoming)) = call {
                        return Some(incoming);
                    }
                }
                _ = self.notifies.pushed() => {}
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// Answers a handed-over command; an unknown id is ignored.
    pub fn answer_command(&self, id: u64, result: CommandResult) {
        if let Some((Reply::Command(reply), started)) = self.take_reply(id) {
            let _ = reply.send(Ok(result));
            self.finished(CallKind::Command, started);
        }
    }

    /// Answers a handed-over HTTP request; an unknown id is ignored.
    pub fn answer_http(&self, id: u64, response: HttpResponse) {
        if let Some((Reply::Http(reply), started)) = self.take_reply(id) {
            let _ = reply.send(Ok(response));
            self.finished(CallKind::Http, started);
        }
    }

    fn take_reply(&self, id: u64) -> Option<(Reply, Instant)> {
        self.lock_replies().remove(&id)
    }

    fn finish_notify(&self) {
        if let Some(started) = self.lock_notify().take() {
            self.finished(CallKind::Notify, started);
        }
    }

    fn finished(&self, kind: CallKind, started: Instant) {
        let _ = self.finished.send(Finished { kind, started });
    }

    fn lock_replies(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Reply, Instant)>> {
        self.replies.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_notify(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.notify_started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// Answers a call that found the module's held calls full.
fn refuse_busy(call: Call) {
    let busy = || wasmtime::format_err!("module is busy: {HELD_CALLS} calls wait for its serve");
    match call {
        Call::Command { reply, .. } => {
            let _ = reply.send(Err(busy()));
        }
        Call::Http { reply, .. } => {
            let _ = reply.send(Err(busy()));
        }
    }
}
