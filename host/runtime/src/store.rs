//! The modules' persistent key-value store (ceph-mgr's `get_store`/`set_store`),
//! one key space per module: a redb database in the state folder for a host alone,
//! or, for hosts in an HA group, the store of the lease backend (shared by every
//! host, written only by the active one, read from memory).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};

/// One table of full keys (see [`Store`] for their shape) to values.
const KV: TableDefinition<&str, &str> = TableDefinition::new("module_kv");

/// Largest key a module may store, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a module may store, in bytes (ceph's config-key limit is 64 KiB;
/// modules often keep bigger JSON blobs, so allow more).
pub const MAX_VALUE_BYTES: usize = 4 << 20;

/// A redb database of full keys.
pub struct Redb {
    db: Database,
}

impl Redb {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Redb> {
        let db = Database::create(path)
            .with_context(|| format!("opening module store {}", path.display()))?;
        let txn = db.begin_write()?;
        txn.open_table(KV)?;
        txn.commit()?;
        Ok(Redb { db })
    }

    fn get(&self, key: &str) -> Result<Option<String>> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(KV) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(key)?.map(|v| v.value().to_string()))
    }

    /// Sets `key`; `None` removes it. Durable when this returns.
    pub fn set(&self, key: &str, value: Option<&str>) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(KV)?;
            match value {
                Some(v) => {
                    table.insert(key, v)?;
                }
                None => {
                    table.remove(key)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Every key starting with `prefix`, in key order.
    fn range(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(KV)?;
        let mut out = Vec::new();
        for entry in table.range(prefix..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_string(), v.value().to_string()));
        }
        Ok(out)
    }

    /// Every key and value.
    pub fn all(&self) -> Result<BTreeMap<String, String>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(KV)?;
        table
            .iter()?
            .map(|e| {
                let (k, v) = e?;
                Ok((k.value().to_string(), v.value().to_string()))
            })
            .collect()
    }
}

/// The store shared by every module of one host. Keys are `<module>\0<key>` in the
/// local database and `<module>/<key>` in a shared one (module names have neither
/// character), so a prefix scan never crosses into another module.
pub struct Store {
    backend: Backend,
    /// Bytes of keys and values per module, counted on first use.
    usage: std::sync::Mutex<BTreeMap<String, u64>>,
}

/// The store of an HA group's lease backend: every host reads it, and a write
/// succeeds only while this host holds the lease (checked with the write).
pub trait SharedKv: Send + Sync + 'static {
    /// Every key (`module/key`) and value.
    fn load(&self) -> Result<BTreeMap<String, String>>;
    /// Sets (or with `None` removes) one key, only while this host holds the lease.
    fn write(&self, key: &str, value: Option<&str>) -> Result<()>;
}

enum Backend {
    Local(Redb),
    Shared {
        kv: Arc<dyn SharedKv>,
        cache: RwLock<BTreeMap<String, String>>,
    },
}

impl Store {
    /// A host's own store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Store {
            backend: Backend::Local(Redb::open(path)?),
            usage: Default::default(),
        })
    }

    /// The store an HA group shares through its lease backend; empty until
    /// [`Store::reload`].
    pub fn shared(kv: Arc<dyn SharedKv>) -> Self {
        Store {
            backend: Backend::Shared {
                kv,
                cache: RwLock::default(),
            },
            usage: Default::default(),
        }
    }

    /// Re-reads a shared store (a host that takes over reads what its predecessor
    /// wrote); nothing for a local one.
    pub fn reload(&self) -> Result<()> {
        if let Backend::Shared { kv, cache } = &self.backend {
            let all = kv.load().context("loading the shared module store")?;
            *cache.write().unwrap_or_else(|e| e.into_inner()) = all;
            self.usage.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        Ok(())
    }

    fn full_key(&self, module: &str, key: &str) -> String {
        match self.backend {
            Backend::Local(_) => format!("{module}\0{key}"),
            Backend::Shared { .. } => format!("{module}/{key}"),
        }
    }

    /// Value of `key` for `module`.
    pub fn get(&self, module: &str, key: &str) -> Result<Option<String>> {
        let full = self.full_key(module, key);
        match &self.backend {
            Backend::Local(db) => db.get(&full),
            Backend::Shared { cache, .. } => Ok(cache
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&full)
                .cloned()),
        }
    }

    /// Sets `key` for `module`; `None` removes it. Durable when this returns.
    pub fn set(&self, module: &str, key: &str, value: Option<&str>) -> Result<()> {
        anyhow::ensure!(!key.is_empty(), "empty key");
        anyhow::ensure!(
            key.len() <= MAX_KEY_BYTES,
            "key longer than {MAX_KEY_BYTES} bytes"
        );
        if let Some(v) = value {
            anyhow::ensure!(
                v.len() <= MAX_VALUE_BYTES,
                "value of {} bytes is over the {MAX_VALUE_BYTES}-byte limit",
                v.len()
            );
        }
        let full = self.full_key(module, key);
        match &self.backend {
            Backend::Local(db) => db.set(&full, value),
            Backend::Shared { kv, cache } => {
                kv.write(&full, value)?;
                let mut cache = cache.write().unwrap_or_else(|e| e.into_inner());
                match value {
                    Some(v) => cache.insert(full, v.to_string()),
                    None => cache.remove(&full),
                };
                Ok(())
            }
        }
    }

    /// Sets `key` for `module` as [`Store::set`] does, unless that would take the
    /// module's keys and values past `quota` bytes; returns the bytes it holds.
    pub fn set_within(
        &self,
        module: &str,
        key: &str,
        value: Option<&str>,
        quota: u64,
    ) -> Result<u64> {
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let held = match usage.get(module) {
            Some(n) => *n,
            None => self
                .list(module, "")?
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum(),
        };
        let old = self
            .get(module, key)?
            .map_or(0, |v| (key.len() + v.len()) as u64);
        let new = value.map_or(0, |v| (key.len() + v.len()) as u64);
        let after = held - old.min(held) + new;
        if new > old && after > quota {
            anyhow::bail!(
                "storing {new} bytes would take module {module}'s store to {after} bytes, \
                 over its quota of {quota} (store_quota)"
            );
        }
        self.set(module, key, value)?;
        usage.insert(module.to_string(), after);
        Ok(after)
    }

    /// Every `(key, value)` of `module` whose key starts with `prefix`, in key order.
    pub fn list(&self, module: &str, prefix: &str) -> Result<Vec<(String, String)>> {
        let start = self.full_key(module, prefix);
        let strip = module.len() + 1;
        let found = match &self.backend {
            Backend::Local(db) => db.range(&start)?,
            Backend::Shared { cache, .. } => cache
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .range(start.clone()..)
                .take_while(|(k, _)| k.starts_with(&start))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        Ok(found
            .into_iter()
            .map(|(k, v)| (k[strip..].to_string(), v))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_private_per_module_and_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("wasm-mgr-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.redb");
        {
            let s = Store::open(&path).unwrap();
            s.set("a", "x/1", Some("one")).unwrap();
            s.set("a", "x/2", Some("two")).unwrap();
            s.set("a", "y", Some("why")).unwrap();
            s.set("ab", "x/3", Some("other module")).unwrap();
            s.set("a", "y", None).unwrap();
            assert!(s.set("a", "", Some("v")).is_err());
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.get("a", "x/1").unwrap().as_deref(), Some("one"));
        assert_eq!(s.get("a", "y").unwrap(), None);
        assert_eq!(s.get("b", "x/1").unwrap(), None);
        assert!(s.set_within("q", "k", Some("123456789012"), 12).is_err());
        assert_eq!(s.set_within("q", "k", Some("1234"), 12).unwrap(), 5);
        assert_eq!(s.set_within("q", "k", Some("12345"), 12).unwrap(), 6);
        assert_eq!(s.set_within("q", "k", None, 12).unwrap(), 0);
        let listed = s.list("a", "x/").unwrap();
        assert_eq!(
            listed,
            vec![("x/1".into(), "one".into()), ("x/2".into(), "two".into())]
        );
        assert_eq!(s.list("a", "").unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
