//! What the operator chose at run time, kept in the store so that it follows the
//! module across restarts and failovers: the disabled set, and option values
//! (as ceph-mgr keeps `mgr module disable` and `config set mgr`).
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::{Installed, ModuleManager, ModuleOpError};
use crate::HOST_HEALTH_KEY;
use crate::config::{ModuleConfig, ResolvedOptions};
use crate::store::Store as KvStore;

/// Store key (under the host's own name) of the disabled modules.
const DISABLED_KEY: &str = "disabled_modules";
/// Store key prefix (under the host's own name) of the options an operator set
/// at run time, `options/<module>`: a JSON object of option name to value text.
pub(crate) const OPTIONS_KEY: &str = "options/";

/// The option values a module gets: the config file's, overridden by those an
/// operator set at run time (text, typed as the module declares each option; kept
/// in the store, so they follow it across restarts and failovers, like ceph-mgr's
/// `config set mgr`).
pub(super) fn merge_options(
    settings: &ModuleConfig,
    set: &BTreeMap<String, String>,
) -> BTreeMap<String, toml::Value> {
    let mut given = settings.options.clone();
    given.extend(
        set.iter()
            .map(|(k, v)| (k.clone(), toml::Value::String(v.clone()))),
    );
    given
}

/// The modules the operator disabled, as kept in the store.
pub(super) fn read_disabled(store: &KvStore) -> Result<BTreeSet<String>> {
    Ok(match store.get(HOST_HEALTH_KEY, DISABLED_KEY)? {
        Some(text) => serde_json::from_str(&text)
            .with_context(|| format!("reading the disabled modules: {text}"))?,
        None => BTreeSet::new(),
    })
}

impl ModuleManager {
    pub(super) fn lock_disabled(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.disabled.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the operator disabled module `name`.
    pub fn is_disabled(&self, name: &str) -> bool {
        self.lock_disabled().contains(name)
    }

    pub(super) fn set_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let mut set = self.lock_disabled();
        let changed = if disabled {
            set.insert(name.to_string())
        } else {
            set.remove(name)
        };
        if changed {
            let list: Vec<&String> = set.iter().collect();
            self.services.store.set(
                HOST_HEALTH_KEY,
                DISABLED_KEY,
                Some(&serde_json::to_string(&list)?),
            )?;
        }
        Ok(())
    }

    /// The options an operator set at run time for module `name`.
    pub fn set_options(&self, name: &str) -> Result<BTreeMap<String, String>> {
        let key = format!("{OPTIONS_KEY}{name}");
        match self.services.store.get(HOST_HEALTH_KEY, &key)? {
            Some(text) => serde_json::from_str(&text)
                .with_context(|| format!("reading the options set for `{name}`: {text}")),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Sets (or with `None` clears) option `option` of module `name` at run time:
    /// checked against what a running module declares, kept in the store, and
    /// applied by a blue/green reload of the module.
    pub async fn set_option(
        self: &Arc<Self>,
        name: &str,
        option: &str,
        value: Option<&str>,
    ) -> Result<Installed, ModuleOpError> {
        let path = self.path_of(name)?;
        let mut set = self.set_options(name).map_err(ModuleOpError::Failed)?;
        match value {
            Some(v) => set.insert(option.to_string(), v.to_string()),
            None => set.remove(option),
        };
        if let Some(running) = self.running(name) {
            let given = merge_options(&self.module_config(name), &set);
            ResolvedOptions::resolve(&running.info.options, &given)
                .map_err(|e| ModuleOpError::Invalid(format!("module `{name}`: {e}")))?;
        }
        let text = serde_json::to_string(&set).map_err(|e| ModuleOpError::Failed(e.into()))?;
        let key = format!("{OPTIONS_KEY}{name}");
        self.services
            .store
            .set(
                HOST_HEALTH_KEY,
                &key,
                (!set.is_empty()).then_some(text.as_str()),
            )
            .map_err(ModuleOpError::Failed)?;
        if self.is_disabled(name) {
            return Ok(Installed::Disabled(name.to_string()));
        }
        self.install(&path, true)
            .await
            .map_err(ModuleOpError::Failed)
    }
}
