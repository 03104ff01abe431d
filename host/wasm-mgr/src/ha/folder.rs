//! The lease over a folder shared by the hosts of one machine: `lease.json` names
//! the holder and when its lease expires (wall-clock milliseconds, one clock for
//! every host here), and `store.redb` keeps the modules' keys. Every read-modify-
//! write of either happens under an exclusive `flock` of `lease.lock`, so taking
//! the lease and writing a key are atomic with the holder check.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::{Holder, LeaseBackend, now_ms};
use wasm_mgr_runtime::store::Redb;

/// How long to wait for another host's `flock` (held for microseconds normally;
/// longer only if that host was paused inside it).
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// The lease record.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    holder: Holder,
    expires_ms: u64,
}

/// A lease and a store in a shared folder.
pub struct FolderLease {
    dir: PathBuf,
}

impl FolderLease {
    /// Uses (and creates) folder `dir`.
    pub fn new(dir: &Path) -> Result<FolderLease> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the HA folder {}", dir.display()))?;
        Ok(FolderLease {
            dir: dir.to_path_buf(),
        })
    }

    /// Runs `f` holding the folder's lock.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let path = self.dir.join("lease.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    bail!("{} stayed locked by another host", path.display())
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()));
                }
            }
        }
        // The lock goes with the file when it is dropped.
        f()
    }

    fn read(&self) -> Result<Option<Record>> {
        let path = self.dir.join("lease.json");
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn write_record(&self, record: Option<&Record>) -> Result<()> {
        let path = self.dir.join("lease.json");
        let Some(record) = record else {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            };
        };
        let tmp = self.dir.join(".lease.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(record)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }

    /// The record, if `me` holds an unexpired lease.
    fn held_by(&self, me: &Holder) -> Result<Option<Record>> {
        Ok(self
            .read()?
            .filter(|r| r.holder.token == me.token && r.expires_ms > now_ms()))
    }

    fn store(&self) -> Result<Redb> {
        Redb::open(&self.dir.join("store.redb"))
    }
}

impl LeaseBackend for FolderLease {
    fn describe(&self) -> String {
        format!("folder {}", self.dir.display())
    }

    fn acquire(&self, me: &Holder, lease: Duration) -> Result<Option<Holder>> {
        self.locked(|| {
            let now = now_ms();
            if let Some(r) = self.read()?
                && r.holder.token != me.token
                && r.expires_ms > now
            {
                return Ok(Some(r.holder));
            }
            self.write_record(Some(&Record {
                holder: me.clone(),
                expires_ms: now + lease.as_millis() as u64,
            }))?;
            Ok(None)
        })
    }

    fn renew(&self, me: &Holder, lease: Duration) -> Result<bool> {
        self.locked(|| {
            let Some(mut r) = self.held_by(me)? else {
                return Ok(false);
            };
            r.holder.renewed_ms = me.renewed_ms;
            r.expires_ms = now_ms() + lease.as_millis() as u64;
            self.write_record(Some(&r))?;
            Ok(true)
        })
    }

    fn release(&self, me: &Holder) -> Result<()> {
        self.locked(|| {
            if self.held_by(me)?.is_some() {
                self.write_record(None)?;
            }
            Ok(())
        })
    }

    fn load(&self) -> Result<BTreeMap<String, String>> {
        self.locked(|| self.store()?.all())
    }

    fn write(&self, me: &Holder, key: &str, value: Option<&str>) -> Result<()> {
        self.locked(|| {
            if self.held_by(me)?.is_none() {
                bail!("this host lost the lease; not writing `{key}`");
            }
            self.store()?.set(key, value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(id: &str) -> Holder {
        Holder {
            id: id.into(),
            token: format!("{id}-token"),
            ..Holder::default()
        }
    }

    #[test]
    fn one_holder_at_a_time_and_writes_only_by_the_holder() {
        let dir = std::env::temp_dir().join(format!("wasm-mgr-lease-{}", std::process::id()));
        let lease = FolderLease::new(&dir).unwrap();
        let (a, b) = (holder("a"), holder("b"));
        let short = Duration::from_millis(300);
        assert_eq!(lease.acquire(&a, short).unwrap(), None);
        assert_eq!(lease.acquire(&b, short).unwrap().unwrap().id, "a");
        assert!(lease.renew(&a, short).unwrap());
        assert!(!lease.renew(&b, short).unwrap());
        lease.write(&a, "m/k", Some("v")).unwrap();
        assert!(lease.write(&b, "m/k", Some("w")).is_err());
        // Expired: b takes over, a can neither renew nor write.
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(lease.acquire(&b, short).unwrap(), None);
        assert!(!lease.renew(&a, short).unwrap());
        assert!(lease.write(&a, "m/k", Some("late")).is_err());
        assert_eq!(lease.load().unwrap()["m/k"], "v");
        lease.release(&b).unwrap();
        assert_eq!(lease.acquire(&a, short).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
