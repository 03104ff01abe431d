//! The lease as a RADOS exclusive lock (cls_lock) with a duration, on one object
//! in a pool the operator names. The object also holds the modules' key-value
//! store in its omap, and its data names the holder (JSON) for standbys.
//!
//! Why an object and not the monitors' config-key store (where ceph-mgr keeps
//! `mgr/<module>/<key>`): a write to the object carries cls_lock's
//! `assert_locked` in the same atomic operation, so the OSD refuses it from a host
//! whose lock expired — real fencing. A config-key write cannot be tied to the
//! lock, so a paused active could overwrite its successor's state when it wakes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};

use super::{Holder, LeaseBackend};
use wasm_mgr_ceph::rados::{LOCK_MUST_RENEW, Pool, Rados, WriteStep, strerror};

/// The lock's name on the object.
const LOCK: &str = "wasm-mgr.active";
/// cls_lock's flag to take a lock or renew one's own.
const LOCK_MAY_RENEW: u8 = 1;

/// The lease on `pool/object`.
pub struct RadosLease {
    pool: Pool,
    pool_name: String,
    object: String,
}

impl RadosLease {
    /// Opens `pool` through a connected handle; the lease object is `object`.
    pub fn new(rados: Arc<Rados>, pool: &str, object: &str) -> Result<RadosLease> {
        Ok(RadosLease {
            pool: Pool::open(rados, pool)?,
            pool_name: pool.to_string(),
            object: object.to_string(),
        })
    }

    /// Writes who holds the lease into the object, if `me` still holds it.
    fn publish(&self, me: &Holder) -> Result<i32> {
        let info = serde_json::to_vec(me)?;
        self.pool.write(
            &self.object,
            &[
                WriteStep::AssertLocked {
                    name: LOCK,
                    cookie: &me.token,
                },
                WriteStep::WriteFull(&info),
            ],
        )
    }

    fn lock(&self, me: &Holder, lease: Duration, flags: u8) -> Result<i32> {
        self.pool
            .lock_exclusive(&self.object, LOCK, &me.token, &me.id, lease, flags)
    }
}

impl LeaseBackend for RadosLease {
    fn describe(&self) -> String {
        format!("rados lock {}/{}", self.pool_name, self.object)
    }

    fn acquire(&self, me: &Holder, lease: Duration) -> Result<Option<Holder>> {
        match self.lock(me, lease, LOCK_MAY_RENEW)? {
            0 => {
                let r = self.publish(me)?;
                if r < 0 {
                    bail!("recording the holder: {}", strerror(r));
                }
                Ok(None)
            }
            r if r == -libc::EBUSY => {
                let holder = self
                    .pool
                    .read(&self.object, 64 << 10)?
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    // Locked, but the holder has not written its name yet.
                    .unwrap_or_default();
                Ok(Some(holder))
            }
            r => bail!("taking the lock on {}: {}", self.describe(), strerror(r)),
        }
    }

    fn renew(&self, me: &Holder, lease: Duration) -> Result<bool> {
        match self.lock(me, lease, LOCK_MUST_RENEW)? {
            0 => {}
            r if r == -libc::ENOENT || r == -libc::EBUSY => return Ok(false),
            r => bail!("renewing the lock on {}: {}", self.describe(), strerror(r)),
        }
        match self.publish(me)? {
            0 => Ok(true),
            r if r == -libc::EBUSY || r == -libc::ENOENT => Ok(false),
            r => bail!("recording the holder: {}", strerror(r)),
        }
    }

    fn release(&self, me: &Holder) -> Result<()> {
        match self.pool.unlock(&self.object, LOCK, &me.token)? {
            r if r == 0 || r == -libc::ENOENT => Ok(()),
            r => bail!("unlocking {}: {}", self.describe(), strerror(r)),
        }
    }

    fn load(&self) -> Result<BTreeMap<String, String>> {
        Ok(self.pool.omap(&self.object)?.into_iter().collect())
    }

    fn write(&self, me: &Holder, key: &str, value: Option<&str>) -> Result<()> {
        let fence = WriteStep::AssertLocked {
            name: LOCK,
            cookie: &me.token,
        };
        let pairs;
        let keys;
        let step = match value {
            Some(v) => {
                pairs = [(key, v)];
                WriteStep::OmapSet(&pairs)
            }
            None => {
                keys = [key];
                WriteStep::OmapRemove(&keys)
            }
        };
        match self.pool.write(&self.object, &[fence, step])? {
            0 => Ok(()),
            r if r == -libc::EBUSY || r == -libc::ENOENT => {
                bail!("this host lost the lease; not writing `{key}`")
            }
            r => bail!("writing `{key}` to {}: {}", self.describe(), strerror(r)),
        }
    }
}
