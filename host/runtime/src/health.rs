//! The modules' health as the cluster sees it: `MGR_MODULE_ERROR` for modules
//! down by failure or files that failed to load, and `RECENT_MGR_MODULE_CRASH`
//! for the crash log, as ceph-mgr raises them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use wasm_mgr_cluster::Cluster;

use crate::registry::Registry;

/// The one line of an error that says what happened, for health summaries and
/// answers: a trap's text is a backtrace whose last line says where and why.
pub fn one_line(error: &str) -> &str {
    error
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// Key under which the host's own health checks (failed modules) are published.
pub const HOST_HEALTH_KEY: &str = "mgr";

/// One failed module instance (a trap, a panic, a limit or deadline breach), as
/// `ceph crash ls` lists a daemon's crash.
#[derive(Debug, Clone, Serialize)]
pub struct Crash {
    /// Module name.
    pub module: String,
    /// When, RFC 3339.
    pub stamp: String,
    /// Why, in one line.
    pub summary: String,
    /// Why, in full (a trap's backtrace included).
    pub error: String,
    #[serde(skip)]
    at: SystemTime,
}

/// How long a crash raises `RECENT_MGR_MODULE_CRASH` unless archived (ceph's
/// `mgr/crash/warn_recent_interval`: two weeks).
pub const RECENT_CRASH: Duration = Duration::from_secs(14 * 24 * 3600);

/// The crash log and the health checks it and the registry raise.
pub struct ModuleHealth {
    cluster: Arc<Cluster>,
    registry: Arc<Registry>,
    mgr_id: String,
    crashes: Mutex<Vec<Crash>>,
}

impl ModuleHealth {
    /// The health of the modules in `registry`, published into `cluster`.
    pub fn new(cluster: Arc<Cluster>, registry: Arc<Registry>, mgr_id: &str) -> ModuleHealth {
        ModuleHealth {
            cluster,
            registry,
            mgr_id: mgr_id.to_string(),
            crashes: Mutex::default(),
        }
    }

    /// Records that an instance of `module` failed; it shows in
    /// `RECENT_MGR_MODULE_CRASH` until archived.
    pub fn record_crash(&self, module: &str, error: &str) {
        let now = SystemTime::now();
        let mut crashes = self.crashes.lock().unwrap_or_else(|e| e.into_inner());
        crashes.retain(|c| now.duration_since(c.at).unwrap_or_default() < RECENT_CRASH);
        crashes.push(Crash {
            module: module.to_string(),
            stamp: wasm_mgr_cluster::time::rfc3339(now),
            summary: one_line(error).to_string(),
            error: error.to_string(),
            at: now,
        });
        drop(crashes);
        self.report();
    }

    /// The recent crashes, oldest first.
    pub fn recent_crashes(&self) -> Vec<Crash> {
        self.crashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Archives every crash (`ceph crash archive-all`): `RECENT_MGR_MODULE_CRASH`
    /// clears. Returns how many there were.
    pub fn archive_crashes(&self) -> usize {
        let n = std::mem::take(&mut *self.crashes.lock().unwrap_or_else(|e| e.into_inner())).len();
        self.report();
        n
    }

    /// Publishes `MGR_MODULE_ERROR` for modules down by failure and
    /// `RECENT_MGR_MODULE_CRASH` for recent crashes (or clears them).
    pub fn report(&self) {
        let details = self
            .registry
            .all()
            .iter()
            .filter_map(|m| m.failure_detail())
            .chain(
                self.registry
                    .load_failures()
                    .into_iter()
                    .map(|f| format!("Module file '{}' failed to load: {}", f.file, f.error)),
            )
            .collect();
        let recent = self.recent_crashes();
        let modules = recent
            .iter()
            .map(|c| c.module.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let crashes: Vec<String> = recent
            .iter()
            .map(|c| {
                format!(
                    "mgr module {} crashed in daemon mgr.{} at {}",
                    c.module, self.mgr_id, c.stamp
                )
            })
            .collect();
        let checks = crate::module::module_error_check(details)
            .into_iter()
            .chain(crate::module::recent_crash_check(crashes, modules))
            .collect();
        self.cluster.set_module_health(HOST_HEALTH_KEY, checks);
    }
}
