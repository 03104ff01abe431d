//! The module's HTTP answers: `/metrics` (the last collected page, as is), `/` (a
//! small page linking to it), 404 for anything else.

use wasm_mgr_sdk::{HttpRequest, HttpResponse};

use crate::exposition::CONTENT_TYPE;

/// The index page, as ceph's exporter serves at `/`. The link is relative so that it
/// works both on the module's own listener and under `/modules/prometheus/`.
const INDEX: &str = "<!DOCTYPE html>
<html>
<head><title>Ceph Exporter</title></head>
<body>
<h1>Ceph Exporter</h1>
<p><a href=\"metrics\">Metrics</a></p>
</body>
</html>
";

/// Answer `request` with the last collected `page` (none before the first collection).
pub fn respond(request: &HttpRequest, page: Option<&[u8]>) -> HttpResponse {
    let path = request.path.trim_end_matches('/');
    let known = matches!(path, "" | "/metrics");
    if !known {
        return HttpResponse::not_found();
    }
    if !matches!(request.method.to_ascii_uppercase().as_str(), "GET" | "HEAD") {
        return HttpResponse::text("method not allowed\n")
            .status(405)
            .header("allow", "GET, HEAD");
    }
    if path.is_empty() {
        return HttpResponse::with_body("text/html; charset=utf-8", INDEX.as_bytes().to_vec());
    }
    match page {
        Some(page) => HttpResponse::with_body(CONTENT_TYPE, page.to_vec()),
        None => {
            HttpResponse::text("no metrics collected yet: the first collection has not finished\n")
                .status(503)
                .header("retry-after", "1")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn serves_the_page_as_is() {
        let r = respond(&get("/metrics"), Some(b"# HELP a b\n"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"# HELP a b\n");
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == CONTENT_TYPE)
        );
    }

    #[test]
    fn answers_503_before_the_first_collection() {
        let r = respond(&get("/metrics"), None);
        assert_eq!(r.status, 503);
        assert!(String::from_utf8_lossy(&r.body).contains("first collection"));
    }

    #[test]
    fn links_to_metrics_from_the_index() {
        let r = respond(&get("/"), None);
        assert_eq!(r.status, 200);
        assert!(String::from_utf8_lossy(&r.body).contains("href=\"metrics\""));
    }

    #[test]
    fn other_paths_are_not_found() {
        assert_eq!(respond(&get("/nope"), Some(b"")).status, 404);
        let mut post = get("/metrics");
        post.method = "POST".into();
        assert_eq!(respond(&post, Some(b"")).status, 405);
    }
}
