//! What one module instance's store holds: its identity, its WASI context (stdio
//! only), its limits, and the host services its imports call.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tokio::sync::Notify;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Services;
use crate::config::ResolvedOptions;

/// Set when the host asks a module to shut down; wakes its sleeping imports.
#[derive(Default)]
pub struct ShutdownSignal {
    requested: AtomicBool,
    wake: Notify,
}

impl ShutdownSignal {
    /// Marks the shutdown and wakes every pending `sleep`.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// Whether shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Resolves once shutdown is requested.
    pub async fn wait(&self) {
        loop {
            let notified = self.wake.notified();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
}

/// The data of one module instance's `Store`.
pub struct ModuleCtx {
    /// The module's name.
    pub name: String,
    /// Shared host services (cluster, store, commands, other modules).
    pub services: Arc<Services>,
    /// The module's checked option values.
    pub options: Arc<ResolvedOptions>,
    /// Shutdown request for this instance.
    pub shutdown: Arc<ShutdownSignal>,
    /// Memory and table limits.
    pub limits: StoreLimits,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl ModuleCtx {
    /// A context for module `name`: stdout and stderr go to the host log, and
    /// nothing else of the host (files, sockets, environment) is visible.
    pub fn new(
        name: &str,
        services: Arc<Services>,
        options: Arc<ResolvedOptions>,
        memory_limit: usize,
    ) -> Self {
        let wasi = WasiCtx::builder()
            .stdout(LogStream {
                module: name.to_string(),
                stream: "stdout",
            })
            .stderr(LogStream {
                module: name.to_string(),
                stream: "stderr",
            })
            .build();
        ModuleCtx {
            name: name.to_string(),
            services,
            options,
            shutdown: Arc::new(ShutdownSignal::default()),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .instances(32)
                .build(),
            wasi,
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for ModuleCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A guest's stdout or stderr, written line by line into the host log.
struct LogStream {
    module: String,
    stream: &'static str,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            module: self.module.clone(),
            stream: self.stream,
            buf: Vec::new(),
        })
    }
}

/// Longest line kept before it is logged without its end.
const MAX_LINE: usize = 16 * 1024;

struct LineWriter {
    module: String,
    stream: &'static str,
    buf: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self, upto: usize) {
        let line: Vec<u8> = self.buf.drain(..upto).collect();
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        tracing::info!(module = %self.module, stream = self.stream, "{text}");
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.buf.extend_from_slice(data);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            self.emit(pos + 1);
        }
        if self.buf.len() > MAX_LINE {
            let n = self.buf.len();
            self.emit(n);
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.buf.is_empty() {
            let n = self.buf.len();
            self.emit(n);
        }
        Poll::Ready(Ok(()))
    }
}
