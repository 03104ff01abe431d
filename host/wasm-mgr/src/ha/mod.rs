//! High availability: several hosts, one active. Leadership is a lease that the
//! active renews well before it expires; standbys poll it and take it once it has
//! expired. One election loop ([`Ha::run`]) over two lease backends:
//!
//! - [`folder::FolderLease`]: a folder shared by hosts on one machine (with the
//!   simulated cluster), a lease file under `flock`;
//! - [`rados::RadosLease`]: a RADOS object in a pool the operator names, with a
//!   cls_lock exclusive lock that has a duration.
//!
//! Each backend also keeps the modules' key-value store, and writes a key only
//! while this host still holds the lease, checked atomically with the write (the
//! lease file's lock; cls_lock's `assert_locked` in the same RADOS operation), so a
//! host that lost its lease while paused cannot overwrite its successor's state.
//!
//! Fencing: the active counts its lease from the moment it *sent* the renewal, so
//! its own deadline always falls before the backend's. Past that deadline the
//! [`Gate`] is shut: no notify, command, HTTP request or store write reaches a
//! module or leaves it. The active stops its modules a third of a lease before the
//! deadline if renewals keep failing, and at once if it finds the lease lost.

pub mod folder;
pub mod rados;

pub use wasm_mgr_runtime::Gate;
use wasm_mgr_runtime::store::SharedKv;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};

/// A host as the lease records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The host's manager id (`[host] mgr_id`, `--id`).
    pub id: String,
    /// Its API, `http://ADDR`.
    pub api: String,
    /// Unique per process: a restarted host is a new holder.
    pub token: String,
    /// When it took the lease, Unix milliseconds.
    pub since_ms: u64,
    /// When it last renewed the lease, Unix milliseconds.
    pub renewed_ms: u64,
}

/// Where the lease and the shared module store live.
pub trait LeaseBackend: Send + Sync + 'static {
    /// Names the backend and its place (`folder /srv/ha`, `rados pool/object`).
    fn describe(&self) -> String;
    /// Takes the lease for `me` for `lease` if it is free, expired or already
    /// `me`'s; `Ok(Some(holder))` when another host holds it (with an empty id
    /// if it has not said who it is yet).
    fn acquire(&self, me: &Holder, lease: Duration) -> Result<Option<Holder>>;
    /// Extends `me`'s lease by `lease`; `Ok(false)` when `me` no longer holds it.
    fn renew(&self, me: &Holder, lease: Duration) -> Result<bool>;
    /// Gives the lease up, so that a standby need not wait for it to expire.
    fn release(&self, me: &Holder) -> Result<()>;
    /// Every key of the shared store (`module/key`).
    fn load(&self) -> Result<BTreeMap<String, String>>;
    /// Sets (or with `None` removes) one key, only if `me` holds the lease.
    fn write(&self, me: &Holder, key: &str, value: Option<&str>) -> Result<()>;
}

/// This host's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the modules.
    Active,
    /// Keeps the cluster state and compiled modules warm, and waits.
    Standby,
}

/// What `wasm-mgr status` shows.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// This host's role.
    pub role: Role,
    /// This host's id.
    pub id: String,
    /// Lease backend, or `none` for a host alone.
    pub lease: String,
    /// Lease duration, milliseconds.
    pub lease_ms: u64,
    /// The active host, when known.
    pub active: Option<ActiveInfo>,
    /// The last lease error, if the last attempt failed.
    pub last_error: Option<String>,
}

impl Status {
    /// The status of a host without HA: always active, with no lease.
    pub fn alone(id: &str) -> Status {
        Status {
            role: Role::Active,
            id: id.to_string(),
            lease: "none".into(),
            lease_ms: 0,
            active: None,
            last_error: None,
        }
    }
}

/// The active host as seen from here.
#[derive(Clone, Debug, Serialize)]
pub struct ActiveInfo {
    /// Its id.
    pub id: String,
    /// Its API.
    pub api: String,
    /// How long it has held the lease, milliseconds.
    pub held_ms: u64,
    /// How long ago it last renewed the lease, milliseconds.
    pub lease_age_ms: u64,
}

/// What the host does when it gains or loses the lease.
pub trait Duties: Send + Sync + 'static {
    /// Start the modules (the gate is open).
    fn take_over(&self) -> impl Future<Output = ()> + Send;
    /// Stop the modules; the gate shuts at `deadline` whatever they do.
    fn step_down(&self, deadline: Instant) -> impl Future<Output = ()> + Send;
}

/// The election of one host.
pub struct Ha {
    backend: Arc<dyn LeaseBackend>,
    lease: Duration,
    gate: Arc<Gate>,
    me: Mutex<Holder>,
    state: Mutex<(Role, Option<Holder>, Option<String>)>,
    step_down: tokio::sync::Notify,
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unix milliseconds at `at` (an instant in the past or the future).
fn unix_ms_at(at: Instant) -> u64 {
    let now = Instant::now();
    let wall = now_ms();
    if at <= now {
        wall.saturating_sub((now - at).as_millis() as u64)
    } else {
        wall + (at - now).as_millis() as u64
    }
}

impl Ha {
    /// An election for host `id` (reachable at `api`) with `lease` over `backend`.
    pub fn new(backend: Arc<dyn LeaseBackend>, lease: Duration, id: &str, api: &str) -> Arc<Ha> {
        let token = format!("{id}.{}.{:x}", std::process::id(), rand::random::<u64>());
        Arc::new(Ha {
            backend,
            lease,
            gate: Arc::new(Gate::default()),
            me: Mutex::new(Holder {
                id: id.to_string(),
                api: api.to_string(),
                token,
                since_ms: 0,
                renewed_ms: 0,
            }),
            state: Mutex::new((Role::Standby, None, None)),
            step_down: tokio::sync::Notify::new(),
        })
    }

    /// The gate this election opens and shuts.
    pub fn gate(&self) -> Arc<Gate> {
        self.gate.clone()
    }

    fn me(&self) -> Holder {
        self.me.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_state(&self, role: Role, active: Option<Holder>, error: Option<String>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = (role, active, error);
    }

    /// This host's role and what it knows of the active host.
    pub fn status(&self) -> Status {
        let (role, active, last_error) =
            self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let now = now_ms();
        Status {
            role,
            id: self.me().id,
            lease: self.backend.describe(),
            lease_ms: self.lease.as_millis() as u64,
            active: active.filter(|h| !h.id.is_empty()).map(|h| ActiveInfo {
                id: h.id,
                api: h.api,
                held_ms: now.saturating_sub(h.since_ms),
                lease_age_ms: now.saturating_sub(h.renewed_ms),
            }),
            last_error,
        }
    }

    /// Asks the active host to hand the lease over (as `ceph mgr fail` does): it
    /// stops acting, releases the lease, and waits one lease before competing
    /// again, so that a standby takes over. An error on a standby.
    pub fn request_step_down(&self) -> Result<()> {
        if self.state.lock().unwrap_or_else(|e| e.into_inner()).0 != Role::Active {
            anyhow::bail!("this host is not the active manager");
        }
        self.step_down.notify_one();
        Ok(())
    }

    /// Gives the lease up if this host holds it (at a clean shutdown).
    pub async fn release(&self) {
        if self.state.lock().unwrap_or_else(|e| e.into_inner()).0 != Role::Active {
            return;
        }
        self.gate.set(None);
        let me = self.me();
        let limit = self.lease / 3;
        match self.call(limit, move |b| b.release(&me)).await {
            Ok(()) => tracing::info!("ha: released the lease"),
            Err(e) => tracing::warn!("ha: releasing the lease: {e:#}"),
        }
    }

    /// Runs a blocking backend call off the async runtime, for at most `limit`.
    async fn call<T: Send + 'static>(
        &self,
        limit: Duration,
        f: impl FnOnce(&dyn LeaseBackend) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let backend = self.backend.clone();
        match tokio::time::timeout(limit, tokio::task::spawn_blocking(move || f(&*backend))).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(anyhow!("lease call failed: {e}")),
            Err(_) => Err(anyhow!("the lease backend did not answer within {limit:?}")),
        }
    }

    /// Competes for the lease forever: waits as a standby, runs `duties` while
    /// active, steps down when the lease cannot be kept.
    pub async fn run<D: Duties>(self: Arc<Self>, duties: Arc<D>) {
        let poll = (self.lease / 6).max(Duration::from_millis(100));
        loop {
            let sent = self.wait_for_lease(poll).await;
            if self.hold(sent, &duties).await == Ended::SteppedDown {
                tokio::time::sleep(self.lease).await;
            }
        }
    }

    /// Polls until this host gets the lease; returns when its request was sent.
    async fn wait_for_lease(&self, poll: Duration) -> Instant {
        let mut last_error = String::new();
        loop {
            let sent = Instant::now();
            let mut me = self.me();
            me.since_ms = now_ms();
            me.renewed_ms = me.since_ms;
            let lease = self.lease;
            let ask = me.clone();
            match self
                .call(self.lease / 3, move |b| b.acquire(&ask, lease))
                .await
            {
                Ok(None) => {
                    *self.me.lock().unwrap_or_else(|e| e.into_inner()) = me;
                    return sent;
                }
                Ok(Some(holder)) => self.set_state(Role::Standby, Some(holder), None),
                Err(e) => {
                    let text = format!("{e:#}");
                    if text != last_error {
                        tracing::warn!("ha: cannot reach the lease: {text}");
                        last_error = text.clone();
                    }
                    self.set_state(Role::Standby, None, Some(text));
                }
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Holds the lease taken at `sent` until it is lost, cannot be renewed, or an
    /// operator asks this host to step down.
    async fn hold<D: Duties>(&self, sent: Instant, duties: &Arc<D>) -> Ended {
        // A tenth of the lease covers clock-rate differences with the backend.
        let usable = self.lease - self.lease / 10;
        let fence = self.lease / 3;
        let renew_every = self.lease / 3;
        let mut valid_until = sent + usable;
        self.gate.set(Some(valid_until));
        let me = self.me();
        self.set_state(Role::Active, Some(me.clone()), None);
        tracing::info!(
            "ha: {} is active from {} ({})",
            me.id,
            unix_ms_at(sent),
            self.backend.describe()
        );
        let start = {
            let duties = duties.clone();
            tokio::spawn(async move { duties.take_over().await })
        };
        let mut next = sent + renew_every;
        let mut ended = Ended::Lost;
        let reason = loop {
            let fence_at = valid_until - fence;
            tokio::select! {
                _ = tokio::time::sleep_until(next.min(fence_at).into()) => {}
                _ = self.step_down.notified() => {
                    ended = Ended::SteppedDown;
                    break "an operator asked it to step down".to_string();
                }
            }
            let now = Instant::now();
            if now >= fence_at {
                break "the lease could not be renewed in time".to_string();
            }
            let mut me = self.me();
            me.renewed_ms = now_ms();
            let lease = self.lease;
            let ask = me.clone();
            match self
                .call(fence_at - now, move |b| b.renew(&ask, lease))
                .await
            {
                Ok(true) => {
                    valid_until = now + usable;
                    self.gate.set(Some(valid_until));
                    *self.me.lock().unwrap_or_else(|e| e.into_inner()) = me.clone();
                    self.set_state(Role::Active, Some(me), None);
                    next = now + renew_every;
                }
                Ok(false) => break "another host holds the lease".to_string(),
                Err(e) => {
                    tracing::warn!("ha: renewing the lease: {e:#}");
                    self.set_state(Role::Active, Some(me), Some(format!("{e:#}")));
                    next = Instant::now() + Duration::from_millis(200);
                }
            }
        };
        let until = valid_until.min(Instant::now());
        self.gate.set(None);
        self.set_state(Role::Standby, None, Some(reason.clone()));
        if ended == Ended::SteppedDown {
            // Nothing passes the gate any more: a standby may take over now.
            let me = self.me();
            if let Err(e) = self.call(fence, move |b| b.release(&me)).await {
                tracing::warn!("ha: releasing the lease: {e:#}");
            }
        }
        let _ = start.await;
        duties.step_down(valid_until).await;
        tracing::warn!(
            "ha: {} is standby; it was active until {} ({reason})",
            self.me().id,
            unix_ms_at(until)
        );
        ended
    }
}

/// How holding the lease ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// Lost, or not renewed in time.
    Lost,
    /// Handed over on an operator's request.
    SteppedDown,
}

/// The module store of an HA group lives in the lease backend.
impl SharedKv for Ha {
    fn load(&self) -> Result<BTreeMap<String, String>> {
        self.backend.load()
    }

    fn write(&self, key: &str, value: Option<&str>) -> Result<()> {
        if !self.gate.is_open() {
            anyhow::bail!("this host is not the active manager; the store is read-only here");
        }
        self.backend.write(&self.me(), key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::folder::FolderLease;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Count {
        started: AtomicUsize,
        stopped: AtomicUsize,
    }

    impl Duties for Count {
        async fn take_over(&self) {
            self.started.fetch_add(1, Ordering::SeqCst);
        }

        async fn step_down(&self, _deadline: Instant) {
            self.stopped.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(start.elapsed() < Duration::from_secs(10), "{what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_active_is_shut_out_before_a_standby_takes_over() {
        let dir = std::env::temp_dir().join(format!("wasm-mgr-ha-{}", std::process::id()));
        let backend: Arc<dyn LeaseBackend> = Arc::new(FolderLease::new(&dir).unwrap());
        let lease = Duration::from_millis(600);
        let a = Ha::new(backend.clone(), lease, "a", "http://a");
        let b = Ha::new(backend, lease, "b", "http://b");
        let (da, db) = (Arc::new(Count::default()), Arc::new(Count::default()));
        let run_a = tokio::spawn(a.clone().run(da.clone()));
        until("a takes the free lease", || a.gate().is_open()).await;
        let run_b = tokio::spawn(b.clone().run(db.clone()));
        tokio::time::sleep(lease).await;
        assert!(!b.gate().is_open(), "b must wait while a renews");
        assert_eq!(b.status().active.map(|h| h.id).as_deref(), Some("a"));
        assert!(a.write("m/k", Some("v")).is_ok());
        assert!(b.write("m/k", Some("w")).is_err(), "a standby never writes");

        // a stops renewing, as a paused host does: its gate shuts by its own
        // deadline, before b can take the lease.
        run_a.abort();
        let silent = Instant::now();
        until("a's gate shuts", || !a.gate().is_open()).await;
        assert!(!b.gate().is_open(), "b took over while a could still act");
        until("b takes over", || b.gate().is_open()).await;
        assert!(silent.elapsed() >= lease / 2, "{:?}", silent.elapsed());
        assert!(a.write("m/k", Some("late")).is_err(), "a lost the lease");
        assert!(b.write("m/k", Some("w")).is_ok());
        assert_eq!(backend_value(&b), Some("w".into()));
        assert_eq!(db.started.load(Ordering::SeqCst), 1);
        run_b.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn backend_value(ha: &Ha) -> Option<String> {
        ha.load().unwrap().get("m/k").cloned()
    }
}
