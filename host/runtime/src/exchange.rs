//! What a caller outside the runtime exchanges with a module, in host types: an
//! HTTP request and answer. Commands answer with
//! [`wasm_mgr_cluster::source::CommandOutput`], as the cluster does.

use crate::bindings::ceph::mgr::types as wit;

/// An HTTP request for a module, below its prefix.
#[derive(Clone, Debug, Default)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path below the module's prefix, starting with `/`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A module's HTTP answer.
#[derive(Clone, Debug, Default)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl From<HttpRequest> for wit::HttpRequest {
    fn from(r: HttpRequest) -> Self {
        wit::HttpRequest {
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r.headers,
            body: r.body,
        }
    }
}

impl From<wit::HttpResponse> for HttpResponse {
    fn from(r: wit::HttpResponse) -> Self {
        HttpResponse {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}
