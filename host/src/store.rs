//! The modules' persistent key-value store: one redb database in the state folder,
//! one key space per module (ceph-mgr's `get_store`/`set_store`).

use std::path::Path;

use anyhow::{Context, Result};
use redb::{Database, ReadableDatabase, TableDefinition, TableError};

/// Keys are `<module>\0<key>`, so one module's keys sort together and a prefix
/// scan never crosses into another module.
const KV: TableDefinition<&str, &str> = TableDefinition::new("module_kv");

/// Largest key a module may store, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a module may store, in bytes (ceph's config-key limit is 64 KiB;
/// modules often keep bigger JSON blobs, so allow more).
pub const MAX_VALUE_BYTES: usize = 4 << 20;

/// The store shared by every module of one host.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path)
            .with_context(|| format!("opening module store {}", path.display()))?;
        let txn = db.begin_write()?;
        txn.open_table(KV)?;
        txn.commit()?;
        Ok(Store { db })
    }

    /// Value of `key` for `module`.
    pub fn get(&self, module: &str, key: &str) -> Result<Option<String>> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(KV) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table
            .get(full_key(module, key).as_str())?
            .map(|v| v.value().to_string()))
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
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(KV)?;
            let k = full_key(module, key);
            match value {
                Some(v) => {
                    table.insert(k.as_str(), v)?;
                }
                None => {
                    table.remove(k.as_str())?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Every `(key, value)` of `module` whose key starts with `prefix`, in key order.
    pub fn list(&self, module: &str, prefix: &str) -> Result<Vec<(String, String)>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(KV)?;
        let start = full_key(module, prefix);
        let mut out = Vec::new();
        for entry in table.range(start.as_str()..)? {
            let (k, v) = entry?;
            let Some(key) = k.value().strip_prefix(&start[..module.len() + 1]) else {
                break;
            };
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_string(), v.value().to_string()));
        }
        Ok(out)
    }
}

fn full_key(module: &str, key: &str) -> String {
    format!("{module}\0{key}")
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
        let listed = s.list("a", "x/").unwrap();
        assert_eq!(
            listed,
            vec![("x/1".into(), "one".into()), ("x/2".into(), "two".into())]
        );
        assert_eq!(s.list("a", "").unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
