//! The API's bearer token: made at first start, kept in the state folder readable by
//! its owner only, and required for every request that changes something. On a
//! non-loopback address every API request needs it.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// File name of the token in the state folder.
pub const TOKEN_FILE: &str = "api-token";

/// Who may use the API.
#[derive(Clone, Debug)]
pub struct Access {
    /// The token; `None` when the operator turned authentication off.
    token: Option<String>,
    /// Whether reading needs the token too (non-loopback address).
    reads_need_token: bool,
}

impl Access {
    /// The access rules for an API on `addr`: with the token in `path` (made if
    /// missing), or none if `no_auth`, which only a loopback address may use.
    pub fn for_listener(addr: SocketAddr, path: &Path, no_auth: bool) -> Result<Access> {
        let loopback = addr.ip().is_loopback();
        if no_auth {
            if !loopback {
                bail!(
                    "refusing to serve the API on {addr} without authentication: --no-auth is \
                     for loopback addresses only (drop --no-auth to require the token in {})",
                    path.display()
                );
            }
            return Ok(Access {
                token: None,
                reads_need_token: false,
            });
        }
        Ok(Access {
            token: Some(load_or_create(path)?),
            reads_need_token: !loopback,
        })
    }

    fn allows(&self, request: &Request) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let reading = matches!(*request.method(), Method::GET | Method::HEAD);
        if reading && !self.reads_need_token {
            return true;
        }
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| same(given.trim().as_bytes(), token.as_bytes()))
    }
}

/// Equal in time that does not depend on where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the token at `path`, or makes one (256 random bits, hex) with mode 0600.
/// A token file others can read is made private again, with a warning.
pub fn load_or_create(path: &Path) -> Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let token = text.trim().to_string();
        if token.len() < 32 {
            bail!(
                "{} holds no usable token (remove it to make a new one)",
                path.display()
            );
        }
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!("{} was readable by others; making it 0600", path.display());
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        return Ok(token);
    }
    let token: String = {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the API token {}", path.display()))?;
    writeln!(file, "{token}")?;
    tracing::info!("made the API token {}", path.display());
    Ok(token)
}

/// Middleware: answers 401 to a request the rules do not allow.
pub async fn require(State(access): State<Access>, request: Request, next: Next) -> Response {
    if access.allows(&request) {
        return next.run(request).await;
    }
    let message = "this request needs the API token: send `Authorization: Bearer <token>` \
                   (the token is in the host's state folder, file api-token)";
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("wasm-mgr-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(TOKEN_FILE);
        let _ = std::fs::remove_file(&path);
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 64);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(&path).unwrap(), first);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_auth_only_on_loopback() {
        let path = Path::new("/nonexistent/api-token");
        assert!(Access::for_listener("127.0.0.1:7000".parse().unwrap(), path, true).is_ok());
        let e = Access::for_listener("0.0.0.0:7000".parse().unwrap(), path, true).unwrap_err();
        assert!(e.to_string().contains("refusing"), "{e}");
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
