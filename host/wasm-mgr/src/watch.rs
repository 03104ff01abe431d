//! Watching the modules folder: a new module (a component, a Python file or
//! package, a JavaScript file) is loaded, a changed one reloaded blue/green (a
//! change to any file of a package reloads the package), a removed one stopped,
//! with no restart and no command.
//!
//! A file is acted on once it has settled: no change for [`SETTLE`]. An editor or a
//! copy writing in place produces a burst of events; only the quiet after the burst
//! counts, and the file must then compile and describe itself like any other, or
//! the running version stays (see [`ModuleManager::install`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use wasm_mgr_runtime::{Installed, ModuleManager, entry_of, module_kind};

/// How long a file must stay unchanged before it is loaded.
pub const SETTLE: Duration = Duration::from_millis(50);

/// Watches `dir` until the returned watcher is dropped.
pub fn watch(manager: Arc<ModuleManager>, dir: &Path) -> Result<RecommendedWatcher> {
    let (tx, rx) = mpsc::unbounded_channel();
    let root = dir.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            // Reading a file (as loading it does) is no change.
            Ok(event) if is_read(&event.kind) => {}
            Ok(event) => {
                for path in event.paths.iter().filter_map(|p| entry_of(&root, p)) {
                    // The receiver is gone only when the host is stopping.
                    let _ = tx.send(path);
                }
            }
            Err(e) => tracing::warn!("watching the modules folder: {e}"),
        }
    })
    .context("starting the modules folder watcher")?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    tokio::spawn(settle_and_apply(manager, rx));
    Ok(watcher)
}

fn is_read(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Access(
            AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read)
        )
    )
}

/// Collects changed paths, and applies each once it has been quiet for [`SETTLE`].
async fn settle_and_apply(
    manager: Arc<ModuleManager>,
    mut changes: mpsc::UnboundedReceiver<PathBuf>,
) {
    let mut pending: HashMap<PathBuf, Instant> = HashMap::new();
    loop {
        let next = pending.values().min().map(|last| *last + SETTLE);
        tokio::select! {
            path = changes.recv() => match path {
                Some(path) => {
                    pending.insert(path, Instant::now());
                }
                None => return,
            },
            _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let now = Instant::now();
                let due: Vec<PathBuf> = pending
                    .iter()
                    .filter(|(_, last)| now >= **last + SETTLE)
                    .map(|(p, _)| p.clone())
                    .collect();
                for path in due {
                    pending.remove(&path);
                    apply(&manager, &path).await;
                }
            }
        }
    }
}

async fn apply(manager: &Arc<ModuleManager>, path: &Path) {
    if module_kind(path).is_none() {
        tracing::info!("{} was removed; stopping its module", path.display());
        manager.remove_file(path).await;
        return;
    }
    if !manager.runs_modules() {
        // A standby only keeps the new version compiled and ready.
        match manager.warm_file(path) {
            Ok(()) => tracing::info!("standby: {} is ready", path.display()),
            Err(e) => tracing::warn!("standby: cannot prepare {}: {e:#}", path.display()),
        }
        return;
    }
    match manager.install(path, false).await {
        // Loads and reloads are logged by the module manager.
        Ok(Installed::Started(..) | Installed::Replaced(..) | Installed::Unchanged(_)) => {}
        Ok(Installed::Disabled(name)) => {
            tracing::info!(module = %name, "{} changed; the module is disabled", path.display())
        }
        Err(e) => tracing::error!("{} not loaded: {e:#}", path.display()),
    }
}
