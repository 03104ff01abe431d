//! librados, loaded when the `ceph` source is asked for (Debian's `librados2`), so that
//! one host binary builds and runs with the simulated cluster on machines without
//! Ceph and says what is missing when a real cluster is wanted.
//!
//! Only the calls the HA backend needs: a cluster handle and one pool's objects:
//! an exclusive lock (cls_lock) and omap writes fenced by it (following the
//! cluster needs no librados). librados handles are thread-safe; every call here blocks,
//! so callers run them off the async runtime.

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;
use std::ptr;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};

/// The library names tried, newest ABI first.
const LIBRARY_NAMES: &[&str] = &["librados.so.2", "librados.so"];

type Handle = *mut c_void;
type Ioctx = *mut c_void;
type Op = *mut c_void;
/// The entry points, copied out of the library (which [`Librados`] keeps loaded).
struct Api {
    create2: unsafe extern "C" fn(*mut Handle, *const c_char, *const c_char, u64) -> c_int,
    conf_read_file: unsafe extern "C" fn(Handle, *const c_char) -> c_int,
    conf_set: unsafe extern "C" fn(Handle, *const c_char, *const c_char) -> c_int,
    connect: unsafe extern "C" fn(Handle) -> c_int,
    shutdown: unsafe extern "C" fn(Handle),
    ioctx_create: unsafe extern "C" fn(Handle, *const c_char, *mut Ioctx) -> c_int,
    ioctx_destroy: unsafe extern "C" fn(Ioctx),
    lock_exclusive: unsafe extern "C" fn(
        Ioctx,
        *const c_char,
        *const c_char,
        *const c_char,
        *const c_char,
        *mut libc::timeval,
        u8,
    ) -> c_int,
    unlock: unsafe extern "C" fn(Ioctx, *const c_char, *const c_char, *const c_char) -> c_int,
    read: unsafe extern "C" fn(Ioctx, *const c_char, *mut c_char, usize, u64) -> c_int,
    create_write_op: unsafe extern "C" fn() -> Op,
    release_write_op: unsafe extern "C" fn(Op),
    write_op_exec:
        unsafe extern "C" fn(Op, *const c_char, *const c_char, *const c_char, usize, *mut c_int),
    write_op_write_full: unsafe extern "C" fn(Op, *const c_char, usize),
    write_op_omap_set2: unsafe extern "C" fn(
        Op,
        *const *const c_char,
        *const *const c_char,
        *const usize,
        *const usize,
        usize,
    ),
    write_op_omap_rm_keys2: unsafe extern "C" fn(Op, *const *const c_char, *const usize, usize),
    write_op_operate:
        unsafe extern "C" fn(Op, Ioctx, *const c_char, *mut libc::time_t, c_int) -> c_int,
    create_read_op: unsafe extern "C" fn() -> Op,
    release_read_op: unsafe extern "C" fn(Op),
    read_op_omap_get_vals2: unsafe extern "C" fn(
        Op,
        *const c_char,
        *const c_char,
        u64,
        *mut *mut c_void,
        *mut u8,
        *mut c_int,
    ),
    read_op_operate: unsafe extern "C" fn(Op, Ioctx, *const c_char, c_int) -> c_int,
    omap_get_next2: unsafe extern "C" fn(
        *mut c_void,
        *mut *mut c_char,
        *mut *mut c_char,
        *mut usize,
        *mut usize,
    ) -> c_int,
    omap_get_end: unsafe extern "C" fn(*mut c_void),
}

/// The loaded library.
pub struct Librados {
    api: Api,
    _lib: libloading::Library,
}

impl std::fmt::Debug for Librados {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Librados")
    }
}

impl Librados {
    /// Load librados, or say which package provides it.
    pub fn load() -> Result<Arc<Librados>> {
        Librados::load_from(LIBRARY_NAMES)
    }

    fn load_from(names: &[&str]) -> Result<Arc<Librados>> {
        let mut errors = Vec::new();
        for name in names {
            // SAFETY: librados' initialisers only set up its own state.
            match unsafe { libloading::Library::new(name) } {
                Ok(lib) => return Ok(Arc::new(Librados::bind(lib)?)),
                Err(e) => errors.push(e.to_string()),
            }
        }
        bail!(
            "the ceph cluster source needs librados, which is not installed \
             (Debian: apt-get install librados2): {}",
            errors.join("; ")
        )
    }

    fn bind(lib: libloading::Library) -> Result<Librados> {
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the type matches the prototype in <rados/librados.h>.
                *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                    .with_context(|| format!("librados has no {}", $name))?
            };
        }
        let api = Api {
            create2: sym!("rados_create2"),
            conf_read_file: sym!("rados_conf_read_file"),
            conf_set: sym!("rados_conf_set"),
            connect: sym!("rados_connect"),
            shutdown: sym!("rados_shutdown"),
            ioctx_create: sym!("rados_ioctx_create"),
            ioctx_destroy: sym!("rados_ioctx_destroy"),
            lock_exclusive: sym!("rados_lock_exclusive"),
            unlock: sym!("rados_unlock"),
            read: sym!("rados_read"),
            create_write_op: sym!("rados_create_write_op"),
            release_write_op: sym!("rados_release_write_op"),
            write_op_exec: sym!("rados_write_op_exec"),
            write_op_write_full: sym!("rados_write_op_write_full"),
            write_op_omap_set2: sym!("rados_write_op_omap_set2"),
            write_op_omap_rm_keys2: sym!("rados_write_op_omap_rm_keys2"),
            write_op_operate: sym!("rados_write_op_operate"),
            create_read_op: sym!("rados_create_read_op"),
            release_read_op: sym!("rados_release_read_op"),
            read_op_omap_get_vals2: sym!("rados_read_op_omap_get_vals2"),
            read_op_operate: sym!("rados_read_op_operate"),
            omap_get_next2: sym!("rados_omap_get_next2"),
            omap_get_end: sym!("rados_omap_get_end"),
        };
        Ok(Librados { api, _lib: lib })
    }
}

/// A connected (or connecting) cluster handle. Dropping it shuts the handle down.
pub struct Rados {
    lib: Arc<Librados>,
    handle: Handle,
}

// SAFETY: librados cluster handles may be used from any thread concurrently.
unsafe impl Send for Rados {}
// SAFETY: as above.
unsafe impl Sync for Rados {}

impl std::fmt::Debug for Rados {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rados")
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| anyhow!("{s:?} contains a NUL byte"))
}

/// A librados error code as text (`-110 (Connection timed out)`).
pub fn strerror(code: c_int) -> String {
    format!("{code} ({})", std::io::Error::from_raw_os_error(-code))
}

impl Rados {
    /// A handle for entity `name` (`client.admin`) configured from `conf`, with
    /// `keyring` if given, whose connection attempts and monitor commands give up
    /// after `timeout_secs`. Not connected yet.
    pub fn new(
        lib: Arc<Librados>,
        name: &str,
        conf: &Path,
        keyring: Option<&Path>,
        timeout_secs: u32,
    ) -> Result<Rados> {
        let cluster = cstring("ceph")?;
        let entity = cstring(name)?;
        let mut handle: Handle = ptr::null_mut();
        // SAFETY: out-pointer and NUL-terminated strings, per the prototype.
        let r = unsafe { (lib.api.create2)(&mut handle, cluster.as_ptr(), entity.as_ptr(), 0) };
        if r < 0 {
            bail!("rados_create2 for {name}: {}", strerror(r));
        }
        let rados = Rados { lib, handle };
        let path = cstring(&conf.to_string_lossy())?;
        // SAFETY: valid handle and path.
        let r = unsafe { (rados.lib.api.conf_read_file)(rados.handle, path.as_ptr()) };
        if r < 0 {
            bail!("reading {}: {}", conf.display(), strerror(r));
        }
        if let Some(k) = keyring {
            rados.conf_set("keyring", &k.to_string_lossy())?;
        }
        // No admin socket of our own: it would take the path that `ceph.conf` gives
        // every client of this name, and the operator's `ceph` CLI would collide.
        rados.conf_set("admin_socket", "")?;
        let t = timeout_secs.to_string();
        rados.conf_set("client_mount_timeout", &t)?;
        rados.conf_set("rados_mon_op_timeout", &t)?;
        rados.conf_set("rados_osd_op_timeout", &t)?;
        Ok(rados)
    }

    fn conf_set(&self, key: &str, value: &str) -> Result<()> {
        let (k, v) = (cstring(key)?, cstring(value)?);
        // SAFETY: valid handle and strings.
        let r = unsafe { (self.lib.api.conf_set)(self.handle, k.as_ptr(), v.as_ptr()) };
        if r < 0 {
            bail!("setting {key}: {}", strerror(r));
        }
        Ok(())
    }

    /// Authenticate and open the monitor session.
    pub fn connect(&self) -> Result<()> {
        // SAFETY: valid, unconnected handle.
        let r = unsafe { (self.lib.api.connect)(self.handle) };
        if r < 0 {
            bail!("connecting to the monitors: {}", strerror(r));
        }
        Ok(())
    }
}

/// Flag of `lock_exclusive`: renew the lock this client holds, and fail with
/// `-ENOENT` if it does not hold it (any more).
pub const LOCK_MUST_RENEW: u8 = 1 << 1;

/// One step of an atomic write to an object: all steps apply, or none.
#[derive(Clone, Debug)]
pub enum WriteStep<'a> {
    /// Fail the whole write unless this client holds exclusive lock `name` with
    /// `cookie` (cls_lock's `assert_locked`).
    AssertLocked {
        /// Lock name.
        name: &'a str,
        /// This holder's cookie.
        cookie: &'a str,
    },
    /// Replace the object's data.
    WriteFull(&'a [u8]),
    /// Set omap keys.
    OmapSet(&'a [(&'a str, &'a str)]),
    /// Remove omap keys.
    OmapRemove(&'a [&'a str]),
}

/// cls_lock's `cls_lock_assert_op`, in Ceph's encoding: a versioned struct
/// (version 1, compat 1, length) of name, lock type (1: exclusive), cookie and tag.
fn assert_locked_op(name: &str, cookie: &str) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut body = Vec::new();
    put(&mut body, name);
    body.push(1);
    put(&mut body, cookie);
    put(&mut body, "");
    let mut out = vec![1u8, 1u8];
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// One pool of a connected cluster (an I/O context).
pub struct Pool {
    rados: Arc<Rados>,
    io: Ioctx,
}

// SAFETY: an I/O context may be used from any thread; calls on it are serialised by
// librados.
unsafe impl Send for Pool {}
// SAFETY: as above.
unsafe impl Sync for Pool {}

impl Pool {
    /// Opens pool `name` on a connected handle.
    pub fn open(rados: Arc<Rados>, name: &str) -> Result<Pool> {
        let n = cstring(name)?;
        let mut io: Ioctx = ptr::null_mut();
        // SAFETY: connected handle, NUL-terminated name, out-pointer.
        let r = unsafe { (rados.lib.api.ioctx_create)(rados.handle, n.as_ptr(), &mut io) };
        if r == -libc::ENOENT {
            bail!("pool `{name}` does not exist (create it: ceph osd pool create {name})");
        }
        if r < 0 {
            bail!("opening pool `{name}`: {}", strerror(r));
        }
        Ok(Pool { rados, io })
    }

    fn api(&self) -> &Api {
        &self.rados.lib.api
    }

    /// Takes (or with [`LOCK_MUST_RENEW`] renews) exclusive lock `name` on `oid` for
    /// `duration`; the raw return value (0, `-EBUSY` when someone else holds it,
    /// `-ENOENT` when a renewal finds the lock gone).
    pub fn lock_exclusive(
        &self,
        oid: &str,
        name: &str,
        cookie: &str,
        desc: &str,
        duration: std::time::Duration,
        flags: u8,
    ) -> Result<c_int> {
        let (o, n, c, d) = (
            cstring(oid)?,
            cstring(name)?,
            cstring(cookie)?,
            cstring(desc)?,
        );
        let mut tv = libc::timeval {
            tv_sec: duration.as_secs() as libc::time_t,
            tv_usec: duration.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: valid I/O context, strings and timeval for the call.
        Ok(unsafe {
            (self.api().lock_exclusive)(
                self.io,
                o.as_ptr(),
                n.as_ptr(),
                c.as_ptr(),
                d.as_ptr(),
                &mut tv,
                flags,
            )
        })
    }

    /// Releases lock `name` on `oid` held with `cookie`; the raw return value.
    pub fn unlock(&self, oid: &str, name: &str, cookie: &str) -> Result<c_int> {
        let (o, n, c) = (cstring(oid)?, cstring(name)?, cstring(cookie)?);
        // SAFETY: valid I/O context and strings.
        Ok(unsafe { (self.api().unlock)(self.io, o.as_ptr(), n.as_ptr(), c.as_ptr()) })
    }

    /// The first `max` bytes of `oid`'s data; `None` if the object does not exist.
    pub fn read(&self, oid: &str, max: usize) -> Result<Option<Vec<u8>>> {
        let o = cstring(oid)?;
        let mut buf = vec![0u8; max];
        // SAFETY: the buffer is writable for its length.
        let r = unsafe { (self.api().read)(self.io, o.as_ptr(), buf.as_mut_ptr().cast(), max, 0) };
        if r == -libc::ENOENT {
            return Ok(None);
        }
        if r < 0 {
            bail!("reading {oid}: {}", strerror(r));
        }
        buf.truncate(r as usize);
        Ok(Some(buf))
    }

    /// Applies `steps` to `oid` atomically; the raw return value (the first failed
    /// step's error, such as `-EBUSY` from a failed lock assertion).
    pub fn write(&self, oid: &str, steps: &[WriteStep<'_>]) -> Result<c_int> {
        let o = cstring(oid)?;
        let api = self.api();
        // Everything the operation points into lives until it has run.
        let mut keep_bytes: Vec<Vec<u8>> = Vec::new();
        let mut keep_ptrs: Vec<Vec<*const c_char>> = Vec::new();
        let mut keep_lens: Vec<Vec<usize>> = Vec::new();
        let mut prvals = vec![0 as c_int; steps.len()];
        let (cls, method) = (cstring("lock")?, cstring("assert_locked")?);
        // SAFETY: a fresh operation, released below.
        let op = unsafe { (api.create_write_op)() };
        for (step, prval) in steps.iter().zip(prvals.iter_mut()) {
            // SAFETY: each call gets pointers that stay valid until the operation ran.
            unsafe {
                match step {
                    WriteStep::AssertLocked { name, cookie } => {
                        let input = assert_locked_op(name, cookie);
                        (api.write_op_exec)(
                            op,
                            cls.as_ptr(),
                            method.as_ptr(),
                            input.as_ptr().cast(),
                            input.len(),
                            prval,
                        );
                        keep_bytes.push(input);
                    }
                    WriteStep::WriteFull(data) => {
                        (api.write_op_write_full)(op, data.as_ptr().cast(), data.len());
                    }
                    WriteStep::OmapSet(pairs) => {
                        let keys: Vec<*const c_char> =
                            pairs.iter().map(|(k, _)| k.as_ptr().cast()).collect();
                        let vals: Vec<*const c_char> =
                            pairs.iter().map(|(_, v)| v.as_ptr().cast()).collect();
                        let klens: Vec<usize> = pairs.iter().map(|(k, _)| k.len()).collect();
                        let vlens: Vec<usize> = pairs.iter().map(|(_, v)| v.len()).collect();
                        (api.write_op_omap_set2)(
                            op,
                            keys.as_ptr(),
                            vals.as_ptr(),
                            klens.as_ptr(),
                            vlens.as_ptr(),
                            pairs.len(),
                        );
                        keep_ptrs.extend([keys, vals]);
                        keep_lens.extend([klens, vlens]);
                    }
                    WriteStep::OmapRemove(keys) => {
                        let ptrs: Vec<*const c_char> =
                            keys.iter().map(|k| k.as_ptr().cast()).collect();
                        let lens: Vec<usize> = keys.iter().map(|k| k.len()).collect();
                        (api.write_op_omap_rm_keys2)(op, ptrs.as_ptr(), lens.as_ptr(), keys.len());
                        keep_ptrs.push(ptrs);
                        keep_lens.push(lens);
                    }
                }
            }
        }
        // SAFETY: valid operation, context and oid; released once.
        let r = unsafe {
            let r = (api.write_op_operate)(op, self.io, o.as_ptr(), ptr::null_mut(), 0);
            (api.release_write_op)(op);
            r
        };
        drop((keep_bytes, keep_ptrs, keep_lens));
        Ok(r)
    }

    /// Every omap key and value of `oid` (none if the object does not exist).
    pub fn omap(&self, oid: &str) -> Result<Vec<(String, String)>> {
        const PAGE: u64 = 1000;
        let o = cstring(oid)?;
        let api = self.api();
        let mut out: Vec<(String, String)> = Vec::new();
        loop {
            let after = cstring(out.last().map_or("", |(k, _)| k.as_str()))?;
            let empty = cstring("")?;
            let mut iter: *mut c_void = ptr::null_mut();
            let mut more = 0u8;
            let mut prval: c_int = 0;
            // SAFETY: a fresh read operation whose out-pointers live through the call;
            // the iterator is walked and ended before the operation is released.
            let r = unsafe {
                let op = (api.create_read_op)();
                (api.read_op_omap_get_vals2)(
                    op,
                    after.as_ptr(),
                    empty.as_ptr(),
                    PAGE,
                    &mut iter,
                    &mut more,
                    &mut prval,
                );
                let r = (api.read_op_operate)(op, self.io, o.as_ptr(), 0);
                if r >= 0 && prval >= 0 {
                    loop {
                        let (mut k, mut v) = (ptr::null_mut(), ptr::null_mut());
                        let (mut kl, mut vl) = (0usize, 0usize);
                        if (api.omap_get_next2)(iter, &mut k, &mut v, &mut kl, &mut vl) < 0
                            || k.is_null()
                        {
                            break;
                        }
                        let key = std::slice::from_raw_parts(k.cast::<u8>(), kl);
                        let val = if v.is_null() {
                            &[][..]
                        } else {
                            std::slice::from_raw_parts(v.cast::<u8>(), vl)
                        };
                        out.push((
                            String::from_utf8_lossy(key).into_owned(),
                            String::from_utf8_lossy(val).into_owned(),
                        ));
                    }
                    (api.omap_get_end)(iter);
                }
                (api.release_read_op)(op);
                if r < 0 { r } else { prval }
            };
            if r == -libc::ENOENT {
                return Ok(Vec::new());
            }
            if r < 0 {
                bail!("reading the keys of {oid}: {}", strerror(r));
            }
            if more == 0 {
                return Ok(out);
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: the context came from rados_ioctx_create and is destroyed once,
        // before its cluster handle (kept alive by `self.rados`).
        unsafe { (self.api().ioctx_destroy)(self.io) };
    }
}

impl Drop for Rados {
    fn drop(&mut self) {
        // SAFETY: the handle came from rados_create2 and is shut down once.
        unsafe { (self.lib.api.shutdown)(self.handle) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_assertion_is_encoded_as_cls_lock_expects() {
        let op = assert_locked_op("ab", "c");
        let mut want = vec![1, 1, 16, 0, 0, 0];
        want.extend([2, 0, 0, 0, b'a', b'b', 1, 1, 0, 0, 0, b'c', 0, 0, 0, 0]);
        assert_eq!(op, want);
    }

    #[test]
    fn a_missing_library_names_the_package() {
        let e = Librados::load_from(&["librados-not-here.so.2"]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("apt-get install librados2"), "{text}");
        assert!(text.contains("librados-not-here.so.2"), "{text}");
    }
}
