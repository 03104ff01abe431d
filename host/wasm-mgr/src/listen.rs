//! One hardened accept loop for every HTTP listener, the API's and each module's
//! own: hyper's HTTP/1 server with a header-read timeout (which is also the
//! keep-alive idle timeout), a send timeout for clients that do not read, and caps
//! on connections per listener, per client address and, for the module listeners
//! together, a share of the process's file descriptors, so that no module's
//! listener can take the descriptors the API needs.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasm_mgr_runtime::config::HttpLimits;

/// Largest read buffer of a connection (a request head is at most this long), and
/// so about the most the host holds per connection besides a response body.
const MAX_BUF: usize = 64 << 10;

/// What a refused connection is told, written without waiting before it is closed.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\
content-type: text/plain\r\nretry-after: 1\r\ncontent-length: 21\r\n\r\ntoo many connections\n";

/// File descriptors, as the process may now hold them: the soft `RLIMIT_NOFILE`,
/// first raised to the hard limit (a no-op where they are equal).
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// How the process's file descriptors are shared among listeners: module listeners
/// together at most half, the API at most a quarter, the rest (store, compile
/// cache, modules' outgoing HTTP, the cluster connection) kept in reserve.
#[derive(Clone)]
pub struct FdShares {
    /// Connections every module listener together may hold.
    pub modules: Arc<Semaphore>,
    /// Their number.
    pub modules_total: usize,
    /// Most connections the API may hold, whatever its config says.
    pub api_total: usize,
}

impl FdShares {
    /// Shares of a process that may hold `fds` descriptors.
    pub fn new(fds: u64) -> FdShares {
        let fds = usize::try_from(fds).unwrap_or(usize::MAX).min(1 << 24);
        let modules_total = (fds / 2).max(16);
        FdShares {
            modules: Arc::new(Semaphore::new(modules_total)),
            modules_total,
            api_total: (fds / 4).max(16),
        }
    }
}

/// One listener's connection slots: its own cap, per client address, and an
/// optional share of a pool with other listeners.
struct Slots {
    listener: Arc<Semaphore>,
    shared: Option<Arc<Semaphore>>,
    per_client: usize,
    clients: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's place in its listener's [`Slots`]; given back when dropped.
struct Slot {
    slots: Arc<Slots>,
    client: IpAddr,
    _listener: OwnedSemaphorePermit,
    _shared: Option<OwnedSemaphorePermit>,
}

impl Slots {
    /// A slot for a connection from `client`, or `None` when a cap is reached.
    fn admit(self: &Arc<Self>, client: IpAddr) -> Option<Slot> {
        let listener = self.listener.clone().try_acquire_owned().ok()?;
        let shared = match &self.shared {
            Some(s) => Some(s.clone().try_acquire_owned().ok()?),
            None => None,
        };
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let n = clients.entry(client).or_insert(0);
        if *n >= self.per_client {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            client,
            _listener: listener,
            _shared: shared,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut clients = self.slots.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = clients.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                clients.remove(&self.client);
            }
        }
    }
}

/// Serves `app` on `listener` within `limits`; `shared` is a pool of connections
/// this listener shares with others (the module listeners' share of descriptors).
/// Returns only if accepting fails for good.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shared: Option<Arc<Semaphore>>,
    what: String,
) -> io::Result<()> {
    let slots = Arc::new(Slots {
        listener: Arc::new(Semaphore::new(limits.max_connections)),
        shared,
        per_client: limits.max_connections_per_client,
        clients: Mutex::new(HashMap::new()),
    });
    let service = TowerToHyperService::new(app);
    let mut refused = 0u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or memory: wait, do not spin.
                tracing::warn!("{what}: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = slots.admit(peer.ip()) else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    "{what}: refused a connection from {peer}: at most {} connections, \
                     {} per client ({refused} refused so far)",
                    limits.max_connections,
                    limits.max_connections_per_client
                );
            }
            let _ = stream.try_write(REFUSED);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let io = TokioIo::new(SendTimeout::new(stream, limits.send_timeout));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(MAX_BUF)
                .serve_connection(io, service);
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
}

/// Errors of one connection that `accept` reports, after which accepting goes on.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A TCP stream whose writes fail with `TimedOut` once one has waited longer than
/// the timeout for the client to read; vectored writes pass through, so that hyper
/// sends a shared body without copying it.
struct SendTimeout {
    stream: TcpStream,
    timeout: Duration,
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SendTimeout {
    fn new(stream: TcpStream, timeout: Duration) -> Self {
        SendTimeout {
            stream,
            timeout,
            waiting: None,
        }
    }

    /// Passes a write's outcome through; a pending write starts (or checks) the clock.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        outcome: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match outcome {
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .waiting
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(sleep.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the client read nothing for {timeout:?}"),
                )))
            }
            done => {
                self.waiting = None;
                done
            }
        }
    }
}

impl AsyncRead for SendTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, outcome)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, outcome)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.watch(cx, outcome)
    }
}
