//! Pages a module publishes for the host to serve itself (`mgr.publish-http`), so
//! that many clients can read a page the module computed once without entering it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use super::bindings::ceph::mgr::types::HttpResponse;

/// Most bytes one module may publish in all.
pub const MAX_PUBLISHED_BYTES: usize = 256 << 20;

/// One published response; cloning shares the body.
#[derive(Debug, Clone)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body, shared by every reader.
    pub body: Bytes,
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
        pages.insert(
            path.to_string(),
            Arc::new(Page {
                status: r.status,
                headers: r.headers,
                body: Bytes::from(r.body),
            }),
        );
        Ok(())
    }

    /// The page at `path`, if one is published.
    pub fn get(&self, path: &str) -> Option<Arc<Page>> {
        self.pages.read().ok()?.get(path).cloned()
    }

    /// Drops every page (the instance that published them ended).
    pub fn clear(&self) {
        if let Ok(mut pages) = self.pages.write() {
            pages.clear();
        }
    }
}
