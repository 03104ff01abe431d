//! One account per module for what the host holds and does on its behalf: its
//! store, its published pages, its health checks, its cluster-log entries, its log
//! lines, and the host CPU spent compressing its pages. Each has a quota with a
//! default ([`Quotas::default`]) that the operator can set per module. A module
//! that goes over one gets a clear error from the import, before the host has
//! allocated anything for it. What it holds shows in `module ls` and the host's
//! metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What one module may make the host hold or do.
#[derive(Clone, Debug, PartialEq)]
pub struct Quotas {
    /// Bytes of keys and values in its store.
    pub store_bytes: u64,
    /// Bytes of its published pages: paths, headers and bodies.
    pub pages_bytes: u64,
    /// Bytes of its health checks (codes, summaries and details).
    pub health_bytes: u64,
    /// Health checks it may raise at once.
    pub health_checks: usize,
    /// Log lines a second, on average (`log`); a burst of ten seconds' worth may
    /// go at once.
    pub log_per_sec: u32,
    /// Longest log line kept; a longer one is cut there.
    pub log_line_bytes: usize,
    /// Cluster-log entries a second, on average (`cluster-log`); a burst of ten
    /// seconds' worth may go at once.
    pub clog_per_sec: u32,
    /// Longest cluster-log message kept; a longer one is cut there.
    pub clog_message_bytes: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            store_bytes: 64 << 20,
            pages_bytes: 64 << 20,
            health_bytes: 64 << 10,
            health_checks: 32,
            log_per_sec: 100,
            log_line_bytes: 4 << 10,
            clog_per_sec: 10,
            clog_message_bytes: 4 << 10,
        }
    }
}

/// A token bucket: `rate` a second on average, bursts of ten seconds' worth.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, rate: u32, now: Instant) -> bool {
        let burst = f64::from(rate) * 10.0;
        let refill = now.duration_since(self.at).as_secs_f64() * f64::from(rate);
        self.tokens = (self.tokens + refill).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            tokens: f64::MAX,
            at: Instant::now(),
        }
    }
}

/// What a line of text became on its way into a log.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Kept whole.
    Whole,
    /// Kept, cut to this many bytes.
    Cut(usize),
    /// Dropped: over the rate.
    Dropped,
}

/// A module's account: what the host holds for it now, and what it refused or
/// cut. Kept across the module's instances (restarts and reloads).
#[derive(Debug, Default)]
pub struct Account {
    pages_bytes: AtomicU64,
    health_bytes: AtomicU64,
    store_bytes: AtomicU64,
    log_dropped: AtomicU64,
    log_cut: AtomicU64,
    clog_dropped: AtomicU64,
    clog_cut: AtomicU64,
    compress_nanos: AtomicU64,
    compressions: AtomicU64,
    log_bucket: Mutex<Bucket>,
    clog_bucket: Mutex<Bucket>,
}

/// What `module ls` shows of an account.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Holdings {
    /// Bytes of its store.
    pub store_bytes: u64,
    /// Bytes of its published pages.
    pub pages_bytes: u64,
    /// Bytes of its health checks.
    pub health_bytes: u64,
    /// Log lines dropped over its rate.
    pub log_dropped: u64,
    /// Log lines cut to the longest kept.
    pub log_cut: u64,
    /// Cluster-log entries dropped over its rate.
    pub clog_dropped: u64,
    /// Cluster-log messages cut to the longest kept.
    pub clog_cut: u64,
    /// Host CPU seconds spent compressing its pages.
    pub compress_seconds: f64,
    /// Compressions of its pages (one per page at most in flight; a page
    /// republished meanwhile is compressed once, in its newest version).
    pub compressions: u64,
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character.
pub fn cut_at(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Account {
    /// Whether a log line of `len` bytes goes in, at `quotas`' rate and length.
    pub fn admit_log(&self, len: usize, quotas: &Quotas) -> Admit {
        admit(
            &self.log_bucket,
            quotas.log_per_sec,
            len,
            quotas.log_line_bytes,
            &self.log_dropped,
            &self.log_cut,
        )
    }

    /// Whether a cluster-log message of `len` bytes goes in.
    pub fn admit_clog(&self, len: usize, quotas: &Quotas) -> Admit {
        admit(
            &self.clog_bucket,
            quotas.clog_per_sec,
            len,
            quotas.clog_message_bytes,
            &self.clog_dropped,
            &self.clog_cut,
        )
    }

    /// Records the bytes its published pages hold now.
    pub fn set_pages_bytes(&self, bytes: u64) {
        self.pages_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Records the bytes its health checks hold now.
    pub fn set_health_bytes(&self, bytes: u64) {
        self.health_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Records the bytes its store holds now.
    pub fn set_store_bytes(&self, bytes: u64) {
        self.store_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Charges one compression of one of its pages.
    pub fn charge_compression(&self, took: Duration) {
        self.compressions.fetch_add(1, Ordering::Relaxed);
        self.compress_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// What it holds and what was refused, now.
    pub fn holdings(&self) -> Holdings {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Holdings {
            store_bytes: get(&self.store_bytes),
            pages_bytes: get(&self.pages_bytes),
            health_bytes: get(&self.health_bytes),
            log_dropped: get(&self.log_dropped),
            log_cut: get(&self.log_cut),
            clog_dropped: get(&self.clog_dropped),
            clog_cut: get(&self.clog_cut),
            compress_seconds: get(&self.compress_nanos) as f64 / 1e9,
            compressions: get(&self.compressions),
        }
    }
}

fn admit(
    bucket: &Mutex<Bucket>,
    rate: u32,
    len: usize,
    max: usize,
    dropped: &AtomicU64,
    cut: &AtomicU64,
) -> Admit {
    let taken = bucket
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take(rate, Instant::now());
    if !taken {
        dropped.fetch_add(1, Ordering::Relaxed);
        return Admit::Dropped;
    }
    if len > max {
        cut.fetch_add(1, Ordering::Relaxed);
        return Admit::Cut(max);
    }
    Admit::Whole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_its_burst_then_its_rate() {
        let quotas = Quotas {
            log_per_sec: 10,
            log_line_bytes: 8,
            ..Quotas::default()
        };
        let account = Account::default();
        let kept = (0..1000)
            .filter(|_| account.admit_log(4, &quotas) != Admit::Dropped)
            .count();
        // A full bucket holds ten seconds' worth; nothing refilled meanwhile.
        assert!((100..=101).contains(&kept), "{kept}");
        assert_eq!(account.holdings().log_dropped, 1000 - kept as u64);
        let account = Account::default();
        assert_eq!(account.admit_log(9, &quotas), Admit::Cut(8));
        assert_eq!(account.holdings().log_cut, 1);
        assert_eq!(cut_at("héllo", 2), "h");
    }
}
