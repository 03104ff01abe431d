//! The registry of loaded modules by name, and of the files that failed to load.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::module::ModuleHandle;

/// A component file that could not be loaded, and why.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFailure {
    /// File name inside the modules folder.
    pub file: String,
    /// Full path.
    pub path: String,
    /// What went wrong.
    pub error: String,
}

/// The loaded modules by name, and the files that failed to load.
#[derive(Default)]
pub struct Registry {
    modules: RwLock<BTreeMap<String, Arc<ModuleHandle>>>,
    failures: RwLock<BTreeMap<String, LoadFailure>>,
}

impl Registry {
    /// The module named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<ModuleHandle>> {
        self.modules.read().ok()?.get(name).cloned()
    }

    /// Every loaded module, by name.
    pub fn all(&self) -> Vec<Arc<ModuleHandle>> {
        self.modules
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Files that failed to load.
    pub fn load_failures(&self) -> Vec<LoadFailure> {
        self.failures
            .read()
            .map(|f| f.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn insert(&self, handle: Arc<ModuleHandle>) {
        if let Ok(mut m) = self.modules.write() {
            m.insert(handle.name.clone(), handle);
        }
    }

    /// Takes `handle` out, if it is still the module registered under its name.
    pub(crate) fn remove(&self, handle: &Arc<ModuleHandle>) {
        if let Ok(mut m) = self.modules.write()
            && m.get(&handle.name).is_some_and(|h| Arc::ptr_eq(h, handle))
        {
            m.remove(&handle.name);
        }
    }

    pub(crate) fn record_failure(&self, failure: LoadFailure) {
        if let Ok(mut f) = self.failures.write() {
            f.insert(failure.path.clone(), failure);
        }
    }

    pub(crate) fn clear_failure(&self, path: &Path) {
        if let Ok(mut f) = self.failures.write() {
            f.remove(&path.display().to_string());
        }
    }
}
