//! The module's persistent key-value store (ceph's `get_store`/`set_store`), private to
//! the module and kept across restarts.

use crate::Result;
use crate::wit::ceph::mgr::mgr;

/// The value of `key`, if set.
pub fn get(key: &str) -> Result<Option<String>> {
    mgr::get_store(key)
}

/// Set `key` to `value`.
pub fn set(key: &str, value: &str) -> Result<()> {
    mgr::set_store(key, Some(value))
}

/// Delete `key`; deleting a missing key is not an error.
pub fn remove(key: &str) -> Result<()> {
    mgr::set_store(key, None)
}

/// Every `(key, value)` whose key starts with `prefix`, in key order.
pub fn list(prefix: &str) -> Result<Vec<(String, String)>> {
    mgr::list_store(prefix)
}
