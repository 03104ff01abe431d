//! HTTP answers for modules that declare `http` in `describe`.

use serde::Serialize;

use crate::{HttpRequest, HttpResponse};

impl HttpResponse {
    /// 200 with `value` as JSON.
    pub fn json(value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::with_body("application/json", body),
            Err(e) => Self::text(format!("cannot encode JSON: {e}")).status(500),
        }
    }

    /// 200 with `text` as `text/plain`.
    pub fn text(text: impl Into<String>) -> Self {
        Self::with_body("text/plain; charset=utf-8", text.into().into_bytes())
    }

    /// 200 with `body` of the given content type.
    pub fn with_body(content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body,
        }
    }

    /// 404 with a short text body.
    pub fn not_found() -> Self {
        Self::text("not found\n").status(404)
    }

    /// The same response with another status code.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same response with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl HttpRequest {
    /// The value of query parameter `name` (`?name=value`), not percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }

    /// Whether this is a `GET` of `path`.
    pub fn is_get(&self, path: &str) -> bool {
        self.method.eq_ignore_ascii_case("GET") && self.path == path
    }
}

/// Has the host itself answer `GET` and `HEAD` of `path` (`/metrics`) with
/// `response` until it is replaced or [`unpublish_http`] is called, without calling
/// `handle_http`: for a page computed once and read by many clients. The host drops
/// published pages when the module's instance ends.
pub fn publish_http(path: &str, response: &HttpResponse) -> crate::Result<()> {
    crate::wit::ceph::mgr::mgr::publish_http(path, Some(response))
}

/// Stops the host answering `path` for the module; `handle_http` gets it again.
pub fn unpublish_http(path: &str) -> crate::Result<()> {
    crate::wit::ceph::mgr::mgr::publish_http(path, None)
}
