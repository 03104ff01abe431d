//! Pages a module publishes for the host to serve itself (`mgr.publish-http`), so
//! that many clients can read a page the module computed once without entering it.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;

use super::bindings::ceph::mgr::types::HttpResponse;

/// Most bytes one module may publish in all.
pub const MAX_PUBLISHED_BYTES: usize = 256 << 20;

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

/// A module's published pages by path.
#[derive(Debug, Default)]
pub struct PublishedPages {
    pages: RwLock<HashMap<String, Arc<Page>>>,
}

impl PublishedPages {
    /// Publishes `response` at `path`, or removes the page with `None`.
    pub fn set(&self, path: &str, response: Option<HttpResponse>) -> Result<(), String> {
        if !path.starts_with('/') {
            return Err(format!("path `{path}` must start with /"));
        }
        let mut pages = self.pages.write().map_err(|_| "published pages poisoned")?;
        let Some(r) = response else {
            pages.remove(path);
            return Ok(());
        };
        let others: usize = pages
            .iter()
            .filter(|(p, _)| p.as_str() != path)
            .map(|(_, page)| page.body.len())
            .sum();
        if others + r.body.len() > MAX_PUBLISHED_BYTES {
            return Err(format!(
                "publishing {} bytes at {path} would exceed the {MAX_PUBLISHED_BYTES}-byte limit",
                r.body.len()
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
            let page = page.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(move || page.compress())),
                Err(_) => page.compress(),
            }
        }
        pages.insert(path.to_string(), page);
        Ok(())
    }

    /// The page at `path`, if one is published.
    pub fn get(&self, path: &str) -> Option<Arc<Page>> {
        self.pages.read().ok()?.get(path).cloned()
    }

    /// Takes over `other`'s pages at paths this one has not published yet: a reloaded
    /// module's new version serves its predecessor's pages until it publishes its own.
    pub fn adopt(&self, other: &PublishedPages) {
        let Ok(theirs) = other.pages.read() else {
            return;
        };
        if let Ok(mut mine) = self.pages.write() {
            for (path, page) in theirs.iter() {
                mine.entry(path.clone()).or_insert_with(|| Arc::clone(page));
            }
        }
    }

    /// Drops every page (the instance that published them ended).
    pub fn clear(&self) {
        if let Ok(mut pages) = self.pages.write() {
            pages.clear();
        }
    }
}
