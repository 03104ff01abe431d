//! Pages a module publishes for the host to serve itself (`mgr.publish-http`), so
//! that many clients can read a page the module computed once without entering it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use bytes::Bytes;

use super::bindings::ceph::mgr::types::HttpResponse;
use crate::account::Account;

/// Bodies from this size on are also kept gzip-compressed, for clients that accept
/// it (Prometheus always does).
pub const GZIP_FROM: usize = 32 << 10;

/// One published response; cloning shares the body.
#[derive(Debug)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body, shared by every reader.
    pub body: Bytes,
    /// The body gzip-compressed, once a background task has made it.
    pub gzip: OnceLock<Bytes>,
}

impl Page {
    /// What the page holds: its path, headers and body.
    fn held(&self, path: &str) -> usize {
        path.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + self.body.len()
    }

    fn compress(&self) {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let done = encoder
            .write_all(&self.body)
            .and_then(|()| encoder.finish());
        match done {
            Ok(gz) => {
                let _ = self.gzip.set(Bytes::from(gz));
            }
            Err(e) => tracing::warn!("compressing a published page: {e}"),
        }
    }
}

/// Pages waiting to be compressed, the newest per path, and whether a
/// compression of this module's is running: at most one is, so a module that
/// republishes faster than pages compress costs the host one thread at most.
#[derive(Debug, Default)]
struct Compressor {
    queue: Mutex<HashMap<String, Arc<Page>>>,
    busy: AtomicBool,
}

impl Compressor {
    fn queue(self: &Arc<Self>, path: &str, page: Arc<Page>, account: &Arc<Account>) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string(), page);
        if self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let (me, account) = (self.clone(), account.clone());
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || me.drain(&account))),
            Err(_) => me.drain(&account),
        }
    }

    /// Compresses queued pages one at a time until none is left.
    fn drain(&self, account: &Account) {
        loop {
            let next = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let path = queue.keys().next().cloned();
                path.and_then(|p| queue.remove(&p))
            };
            let Some(page) = next else {
                self.busy.store(false, Ordering::Release);
                // A page queued after the look but before `busy` cleared.
                let more = !self
                    .queue
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_empty();
                if more && !self.busy.swap(true, Ordering::AcqRel) {
                    continue;
                }
                return;
            };
            let t0 = Instant::now();
            page.compress();
            account.charge_compression(t0.elapsed());
        }
    }
}

/// A module's published pages by path.
#[derive(Debug, Default)]
pub struct PublishedPages {
    pages: RwLock<HashMap<String, Arc<Page>>>,
    compressor: Arc<Compressor>,
}

impl PublishedPages {
    /// Publishes `response` at `path`, or removes the page with `None`, keeping
    /// what the pages hold (paths, headers, bodies) within `quota` bytes, as
    /// `account` records.
    pub fn set(
        &self,
        path: &str,
        response: Option<HttpResponse>,
        quota: u64,
        account: &Arc<Account>,
    ) -> Result<(), String> {
        if !path.starts_with('/') {
            return Err(format!("path `{path}` must start with /"));
        }
        let mut pages = self.pages.write().map_err(|_| "published pages poisoned")?;
        let Some(r) = response else {
            pages.remove(path);
            account.set_pages_bytes(held(&pages));
            return Ok(());
        };
        let others: usize = pages
            .iter()
            .filter(|(p, _)| p.as_str() != path)
            .map(|(p, page)| page.held(p))
            .sum();
        let new = path.len()
            + r.headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + r.body.len();
        if (others + new) as u64 > quota {
            return Err(format!(
                "publishing {new} bytes at {path} would take the module's pages to {} bytes, \
                 over its quota of {quota} (pages_quota)",
                others + new
            ));
        }
        let page = Arc::new(Page {
            status: r.status,
            headers: r.headers,
            body: Bytes::from(r.body),
            gzip: OnceLock::new(),
        });
        if page.body.len() >= GZIP_FROM {
            // Compressed off the module's thread; until then clients get it plain.
            self.compressor.queue(path, page.clone(), account);
        }
        pages.insert(path.to_string(), page);
        account.set_pages_bytes((others + new) as u64);
        Ok(())
    }

    /// The page at `path`, if one is published.
    pub fn get(&self, path: &str) -> Option<Arc<Page>> {
        self.pages.read().ok()?.get(path).cloned()
    }

    /// Takes over `other`'s pages at paths this one has not published yet: a reloaded
    /// module's new version serves its predecessor's pages until it publishes its own.
    pub fn adopt(&self, other: &PublishedPages, account: &Account) {
        let Ok(theirs) = other.pages.read() else {
            return;
        };
        if let Ok(mut mine) = self.pages.write() {
            for (path, page) in theirs.iter() {
                mine.entry(path.clone()).or_insert_with(|| Arc::clone(page));
            }
            account.set_pages_bytes(held(&mine));
        }
    }

    /// Drops every page (the instance that published them ended).
    pub fn clear(&self, account: &Account) {
        if let Ok(mut pages) = self.pages.write() {
            pages.clear();
        }
        account.set_pages_bytes(0);
    }
}

/// What `pages` hold, in bytes.
fn held(pages: &HashMap<String, Arc<Page>>) -> u64 {
    pages.iter().map(|(p, page)| page.held(p) as u64).sum()
}
