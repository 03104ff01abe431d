//! The host's own metrics, in Prometheus text format on `GET /metrics`: per module
//! its state, restarts, notify queue, calls and call latency, memory and CPU time,
//! what the host holds for it and the log lines it had refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::ModuleRow;
use crate::module::ModuleStatus;

/// Latency buckets for guest calls, in seconds (50 µs .. 30 s).
const CALL_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0,
];

/// Every state a module can be in, for the one-hot state gauge.
const STATES: [&str; 7] = [
    "starting",
    "running",
    "restarting",
    "failed",
    "stopped",
    "disabled",
    "standby",
];

/// The host's metric families.
pub struct Metrics {
    registry: Registry,
    call_seconds: HistogramVec,
    state: IntGaugeVec,
    restarts: IntCounterVec,
    queue: IntGaugeVec,
    coalesced: IntCounterVec,
    dropped: IntCounterVec,
    calls: IntCounterVec,
    memory: IntGaugeVec,
    cpu: prometheus::CounterVec,
    load_failed: IntGaugeVec,
    held: IntGaugeVec,
    refused: IntCounterVec,
    compress: prometheus::CounterVec,
    pg_age: prometheus::Gauge,
}

/// Counters one module keeps itself (they outlive its instances).
#[derive(Default)]
pub struct ModuleUsage {
    /// Bytes of linear memory and tables its current instance holds.
    pub memory_bytes: AtomicU64,
    /// CPU time spent polling its instances, in nanoseconds.
    pub cpu_nanos: AtomicU64,
}

impl ModuleUsage {
    /// Bytes of memory now.
    pub fn memory(&self) -> u64 {
        self.memory_bytes.load(Ordering::Relaxed)
    }

    /// CPU seconds so far.
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_nanos.load(Ordering::Relaxed) as f64 / 1e9
    }
}

/// Which kind of guest call a latency sample is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `notify`.
    Notify,
    /// `handle-command`.
    Command,
    /// `handle-http`.
    Http,
}

impl CallKind {
    fn as_str(self) -> &'static str {
        match self {
            CallKind::Notify => "notify",
            CallKind::Command => "command",
            CallKind::Http => "http",
        }
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("wasm_mgr")
}

impl Metrics {
    /// Creates and registers every family.
    pub fn new() -> Self {
        let registry = Registry::new();
        let call_seconds = HistogramVec::new(
            HistogramOpts::from(opts(
                "module_call_duration_seconds",
                "Time from a guest call's start to its answer, by module and call",
            ))
            .buckets(CALL_BUCKETS.to_vec()),
            &["module", "call"],
        )
        .expect("valid histogram");
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(opts(name, help), labels).expect("valid gauge")
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(opts(name, help), labels).expect("valid counter")
        };
        let metrics = Metrics {
            state: gauge(
                "module_state",
                "1 for the state the module is in, 0 for the others",
                &["module", "state"],
            ),
            restarts: counter(
                "module_restarts_total",
                "Instances started after a failure",
                &["module"],
            ),
            queue: gauge(
                "module_notify_queue_depth",
                "Notifications waiting for the module",
                &["module"],
            ),
            coalesced: counter(
                "module_notifies_coalesced_total",
                "Notifications merged into a newer one of the same kind",
                &["module"],
            ),
            dropped: counter(
                "module_notifies_dropped_total",
                "Notifications dropped because the module's mailbox was full",
                &["module"],
            ),
            calls: counter(
                "module_calls_total",
                "Guest calls answered, by module and call",
                &["module", "call"],
            ),
            memory: gauge(
                "module_memory_bytes",
                "Linear memory and table bytes of the module's instance",
                &["module"],
            ),
            cpu: prometheus::CounterVec::new(
                opts(
                    "module_cpu_seconds_total",
                    "CPU time spent running the module (guest code and its host calls)",
                ),
                &["module"],
            )
            .expect("valid counter"),
            load_failed: gauge(
                "module_load_failed",
                "1 for each module file that failed to load",
                &["file"],
            ),
            held: gauge(
                "module_held_bytes",
                "Bytes the host holds for the module, by what: store, pages, health",
                &["module", "what"],
            ),
            refused: counter(
                "module_log_refused_total",
                "Log lines and cluster-log entries of the module dropped over its rate or \
                 cut to the longest kept, by log and why",
                &["module", "log", "why"],
            ),
            compress: prometheus::CounterVec::new(
                opts(
                    "module_compress_cpu_seconds_total",
                    "Host CPU time spent compressing the module's published pages",
                ),
                &["module"],
            )
            .expect("valid counter"),
            pg_age: prometheus::Gauge::with_opts(opts(
                "pg_stats_age_seconds",
                "Age of the PG statistics the host holds (from ceph-mgr's pg map stamp)",
            ))
            .expect("valid gauge"),
            call_seconds,
            registry,
        };
        for c in metrics.collectors() {
            metrics
                .registry
                .register(c)
                .expect("each family registered once");
        }
        metrics
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.call_seconds.clone()),
            Box::new(self.pg_age.clone()),
            Box::new(self.state.clone()),
            Box::new(self.restarts.clone()),
            Box::new(self.queue.clone()),
            Box::new(self.coalesced.clone()),
            Box::new(self.dropped.clone()),
            Box::new(self.calls.clone()),
            Box::new(self.memory.clone()),
            Box::new(self.cpu.clone()),
            Box::new(self.load_failed.clone()),
            Box::new(self.held.clone()),
            Box::new(self.refused.clone()),
            Box::new(self.compress.clone()),
        ]
    }

    /// Records one guest call's latency.
    pub fn observe_call(&self, module: &str, kind: CallKind, took: Duration) {
        self.call_seconds
            .with_label_values(&[module, kind.as_str()])
            .observe(took.as_secs_f64());
    }

    /// The exposition page for the modules as they are now, and the age of the
    /// PG statistics (`pg_stamp`, Ceph's stamp form; empty when there are none).
    pub fn render(&self, rows: &[ModuleRow], pg_stamp: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        match wasm_mgr_cluster::time::parse_unix_secs(pg_stamp) {
            Some(t) => self.pg_age.set((now - t as f64).max(0.0)),
            None => self.pg_age.set(f64::NAN),
        }
        for vec in [
            &self.state,
            &self.queue,
            &self.memory,
            &self.load_failed,
            &self.held,
        ] {
            vec.reset();
        }
        for vec in [
            &self.restarts,
            &self.coalesced,
            &self.dropped,
            &self.calls,
            &self.refused,
        ] {
            vec.reset();
        }
        self.cpu.reset();
        self.compress.reset();
        for row in rows {
            match row {
                ModuleRow::Loaded(status) => self.fill(status),
                ModuleRow::Failed { path, .. } => {
                    self.load_failed.with_label_values(&[path]).set(1)
                }
                ModuleRow::Idle { name, state, .. } => {
                    let current = serde_json::to_value(state)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    for s in STATES {
                        self.state
                            .with_label_values(&[name, s])
                            .set(i64::from(s == current));
                    }
                }
            }
        }
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut out) {
            tracing::error!("encoding host metrics: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    fn fill(&self, s: &ModuleStatus) {
        let m = s.name.as_str();
        let current = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        for state in STATES {
            self.state
                .with_label_values(&[m, state])
                .set(i64::from(state == current));
        }
        self.restarts
            .with_label_values(&[m])
            .inc_by(u64::from(s.restarts));
        self.queue
            .with_label_values(&[m])
            .set(s.notify_queue as i64);
        self.coalesced
            .with_label_values(&[m])
            .inc_by(s.notify_coalesced);
        self.dropped
            .with_label_values(&[m])
            .inc_by(s.notify_dropped);
        self.calls
            .with_label_values(&[m, "notify"])
            .inc_by(s.notifies);
        self.calls
            .with_label_values(&[m, "command"])
            .inc_by(s.commands);
        self.calls
            .with_label_values(&[m, "http"])
            .inc_by(s.http_requests);
        self.memory
            .with_label_values(&[m])
            .set(s.memory_bytes as i64);
        self.cpu.with_label_values(&[m]).inc_by(s.cpu_seconds);
        let h = &s.holds;
        for (what, bytes) in [
            ("store", h.store_bytes),
            ("pages", h.pages_bytes),
            ("health", h.health_bytes),
        ] {
            self.held.with_label_values(&[m, what]).set(bytes as i64);
        }
        for (log, why, n) in [
            ("log", "rate", h.log_dropped),
            ("log", "length", h.log_cut),
            ("cluster_log", "rate", h.clog_dropped),
            ("cluster_log", "length", h.clog_cut),
        ] {
            self.refused.with_label_values(&[m, log, why]).inc_by(n);
        }
        self.compress
            .with_label_values(&[m])
            .inc_by(h.compress_seconds);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
