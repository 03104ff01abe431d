//! `prometheus`: the cluster's metrics in Prometheus text exposition, with the
//! families, labels and HELP texts of ceph-mgr 16.2.15's prometheus module, so the
//! same Prometheus, Grafana dashboards and alert rules work against it.
//!
//! `serve` collects the page every `scrape_interval` and soon after a map it uses
//! changes: a notify marks the page stale, and `serve` collects again once
//! `min_collect_interval_ms` and twice the last collection's duration have passed
//! since the last one started (so collecting takes at most half the module's time
//! on a big cluster whose maps move every second). A scrape (`GET /metrics`) returns
//! the last page as it was collected, never recomputing it.

mod collect;
mod daemons;
mod exposition;
mod health;
mod history;
mod http;
mod osd;
mod perf;
mod pools;

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use wasm_mgr_sdk::{
    HttpRequest, HttpResponse, Module, ModuleInfo, ModuleOption, Notification, NotifyKind, cluster,
    export_module, mgr_debug, mgr_info, mgr_warn, options, publish_http, sleep,
};

use crate::collect::Collector;

/// Default seconds between two collections when nothing changes (ceph's default).
const DEFAULT_SCRAPE_INTERVAL: i64 = 15;
/// Default least milliseconds between two collections.
const DEFAULT_MIN_COLLECT_INTERVAL_MS: i64 = 100;
/// How often `serve` looks whether a notify made the page stale.
const POLL: Duration = Duration::from_millis(200);
/// PG statistics and IO rates move every few seconds on a busy cluster; a page is
/// recollected for them at most this often (ceph's `mgr_stats_period`), while map
/// and health changes are collected at once.
const STATS_PERIOD: Duration = Duration::from_secs(5);

/// The notifications that make the page stale: the maps it is built from.
const WATCHED: [NotifyKind; 6] = [
    NotifyKind::OsdMap,
    NotifyKind::MonMap,
    NotifyKind::FsMap,
    NotifyKind::MgrMap,
    NotifyKind::Health,
    NotifyKind::PgSummary,
];

/// The module: the collector, the last consistent page and whether it is stale.
#[derive(Default)]
struct Prometheus {
    /// Builds the pages; used by `serve` only.
    collector: RefCell<Collector>,
    /// The last consistent page, served as is; none before the first collection.
    page: RefCell<Option<Vec<u8>>>,
    /// Set by a notify: a map the page uses changed.
    stale: Cell<bool>,
    /// Set by a pg-summary notify: statistics moved.
    stats_stale: Cell<bool>,
    /// Pages collected so far.
    collections: Cell<u64>,
    /// How long the last collection took.
    last_elapsed: Cell<Duration>,
}

impl Prometheus {
    /// Collect once and keep the page if it was built from one epoch of every map;
    /// `on_interval` when the scrape interval (not a map change) called for it.
    fn collect(&self, on_interval: bool) {
        let outcome = self.collector.borrow_mut().collect(on_interval);
        self.last_elapsed.set(outcome.elapsed);
        let ms = outcome.elapsed.as_secs_f64() * 1000.0;
        let Some(page) = outcome.page else {
            mgr_warn!(
                "maps kept moving during {} collection attempts ({ms:.1} ms); \
                 serving the last consistent page",
                outcome.attempts
            );
            self.stale.set(true);
            return;
        };
        let n = self.collections.get() + 1;
        self.collections.set(n);
        let message = format!(
            "collection {n}: {} bytes in {ms:.1} ms ({} attempt(s))",
            page.len(),
            outcome.attempts
        );
        if n == 1 || n.is_power_of_two() {
            mgr_info!("{message}");
        } else {
            mgr_debug!("{message}");
        }
        if outcome.elapsed > scrape_interval() {
            mgr_warn!("collecting took longer than scrape_interval: {message}");
        }
        // The host serves the page to scrapers itself: a scrape neither enters the
        // module nor waits for a collection in progress.
        let response = HttpResponse::with_body(exposition::CONTENT_TYPE, page.clone());
        if let Err(e) = publish_http("/metrics", &response) {
            mgr_warn!("the host cannot serve the page ({e:?}); serving it from the module");
        }
        *self.page.borrow_mut() = Some(page);
    }
}

/// The `scrape_interval` option.
fn scrape_interval() -> Duration {
    let secs = options::get_int("scrape_interval").unwrap_or(DEFAULT_SCRAPE_INTERVAL);
    Duration::from_secs(secs.max(1).unsigned_abs())
}

/// The `min_collect_interval_ms` option.
fn min_collect_interval() -> Duration {
    let ms = options::get_int("min_collect_interval_ms").unwrap_or(DEFAULT_MIN_COLLECT_INTERVAL_MS);
    Duration::from_millis(ms.max(0).unsigned_abs())
}

/// How long to wait before the next collection: none before the first, the rest
/// of the scrape interval, or of the least interval once the page is stale.
fn next_collection(
    since_last: Option<Duration>,
    stale: bool,
    interval: Duration,
    min_gap: Duration,
) -> Duration {
    let Some(since) = since_last else {
        return Duration::ZERO;
    };
    let due = interval.saturating_sub(since);
    if stale {
        due.min(min_gap.saturating_sub(since))
    } else {
        due
    }
}

impl Module for Prometheus {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("prometheus", env!("CARGO_PKG_VERSION"))
            .description(
                "Cluster metrics for Prometheus, as ceph-mgr's prometheus module exposes them",
            )
            .option(
                ModuleOption::secs("scrape_interval")
                    .default(DEFAULT_SCRAPE_INTERVAL)
                    .min(1)
                    .desc("Seconds between two collections when no map changes"),
            )
            .option(
                ModuleOption::int("min_collect_interval_ms")
                    .default(DEFAULT_MIN_COLLECT_INTERVAL_MS)
                    .min(0)
                    .max(3_600_000)
                    .desc(
                        "Least milliseconds between the starts of two collections after map \
                         changes (never less than twice the last collection took)",
                    ),
            )
            .notify(&WATCHED)
            .http()
    }

    async fn serve(&self) {
        let mut last: Option<Instant> = None;
        let mut connected = true;
        loop {
            let stats_due =
                self.stats_stale.get() && last.is_some_and(|t| t.elapsed() >= STATS_PERIOD);
            let wait = next_collection(
                last.map(|t| t.elapsed()),
                self.stale.get() || stats_due,
                scrape_interval(),
                min_collect_interval().max(self.last_elapsed.get() * 2),
            );
            if wait.is_zero() {
                let interval_due = last.is_none_or(|t| t.elapsed() >= scrape_interval());
                self.stale.set(false);
                if stats_due || interval_due {
                    self.stats_stale.set(false);
                }
                if !interval_due && self.collector.borrow().is_current() {
                    // The notify was about a change the page already shows.
                    continue;
                }
                last = Some(Instant::now());
                let now_connected = cluster::have_mon_connection();
                if now_connected != connected {
                    connected = now_connected;
                    if connected {
                        mgr_info!("monitor connection back; collecting again");
                    } else {
                        mgr_warn!("no monitor connection; keeping the last page");
                    }
                }
                if connected {
                    self.collect(interval_due);
                }
                continue;
            }
            if !sleep(wait.min(POLL)).await {
                break;
            }
        }
    }

    async fn notify(&self, notification: Notification) {
        if notification.kind == NotifyKind::PgSummary {
            self.stats_stale.set(true);
        } else if WATCHED.contains(&notification.kind) {
            self.stale.set(true);
        }
    }

    async fn handle_http(&self, request: HttpRequest) -> HttpResponse {
        http::respond(&request, self.page.borrow().as_deref())
    }
}

export_module!(Prometheus);

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn collects_at_once_the_first_time() {
        assert_eq!(
            next_collection(None, false, 15 * S, 1000 * MS),
            Duration::ZERO
        );
    }

    #[test]
    fn waits_for_the_scrape_interval_when_nothing_changed() {
        assert_eq!(
            next_collection(Some(5 * S), false, 15 * S, 1000 * MS),
            10 * S
        );
        assert_eq!(
            next_collection(Some(20 * S), false, 15 * S, 1000 * MS),
            Duration::ZERO
        );
    }

    #[test]
    fn debounces_stale_pages() {
        assert_eq!(
            next_collection(Some(300 * MS), true, 15 * S, 1000 * MS),
            700 * MS
        );
        assert_eq!(
            next_collection(Some(2 * S), true, 15 * S, 1000 * MS),
            Duration::ZERO
        );
        assert_eq!(
            next_collection(Some(2 * S), true, 15 * S, Duration::ZERO),
            Duration::ZERO
        );
    }
}
