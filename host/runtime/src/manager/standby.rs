//! A standby's side of the module manager: modules compiled and kept ready while
//! another host is active, taking over, and stepping down.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::load::{ModuleFile, release_compile_memory};
use super::options::read_disabled;
use super::{ModuleManager, module_files};
use crate::bindings::GuestPre;

impl ModuleManager {
    /// Whether modules run on this host now (false on a standby).
    pub fn runs_modules(&self) -> bool {
        self.running_modules
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What a standby does with a module file: compile it (or take it from the
    /// cache) and keep it ready to start, running nothing.
    pub fn warm_file(&self, path: &Path) -> Result<()> {
        let file = ModuleFile::read(path)?;
        if file.kind != super::ModuleKind::Component {
            // Source modules need only their runtime, which loads from the
            // compile cache when this host takes over.
            return Ok(());
        }
        if let Some((hash, _)) = self.lock_warm().get(path)
            && *hash == file.hash
        {
            return Ok(());
        }
        let (pre, _) = self.prepare(&file.bytes, &file.hash)?;
        self.lock_warm()
            .insert(path.to_path_buf(), (file.hash, pre));
        Ok(())
    }

    /// [`ModuleManager::warm_file`] for every module file in `dir`; failures are logged
    /// (they are reported again when the host takes over).
    pub fn warm_dir(&self, dir: &Path) -> Result<()> {
        for path in module_files(dir)? {
            if let Err(e) = self.warm_file(&path) {
                tracing::warn!("standby: cannot prepare {}: {e:#}", path.display());
            }
        }
        release_compile_memory();
        Ok(())
    }

    /// Takes over as the active manager: re-reads the shared store and the
    /// disabled set (the previous active may have changed them), then starts every
    /// module in `dir`.
    pub async fn activate(self: &Arc<Self>, dir: &Path) {
        if let Err(e) = self.services.store.reload() {
            tracing::error!("{e:#}; modules start with an empty store view");
        }
        match read_disabled(&self.services.store) {
            Ok(set) => *self.lock_disabled() = set,
            Err(e) => tracing::error!("{e:#}"),
        }
        self.running_modules
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = self.load_dir(dir).await {
            tracing::error!("{e:#}");
        }
    }

    /// Steps down to standby: every module leaves the registry at once (nothing
    /// reaches it any more) and is stopped; past `deadline` the gate is shut
    /// whatever they still do, and their grace periods end them.
    pub async fn deactivate(&self, deadline: Instant) {
        self.running_modules
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let modules = self.services.registry.all();
        for m in &modules {
            self.services.registry.remove(m);
        }
        self.refresh();
        let stops = futures::future::join_all(modules.iter().map(|m| m.stop()));
        if tokio::time::timeout_at(deadline.into(), stops)
            .await
            .is_err()
        {
            tracing::warn!("standby: some modules were still stopping at the lease deadline");
        }
    }

    pub(super) fn lock_warm(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, (String, GuestPre)>> {
        self.warm.lock().unwrap_or_else(|e| e.into_inner())
    }
}
