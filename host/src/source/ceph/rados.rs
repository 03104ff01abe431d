//! librados, loaded when the `ceph` source is asked for (Debian's `librados2`), so that
//! one host binary builds and runs with the simulated cluster on machines without
//! Ceph and says what is missing when a real cluster is wanted.
//!
//! Only the calls the source needs: a cluster handle, monitor/manager/OSD commands
//! and the cluster log. librados handles are thread-safe; every call here blocks,
//! so callers run them off the async runtime.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::Path;
use std::ptr;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};

/// The library names tried, newest ABI first.
const LIBRARY_NAMES: &[&str] = &["librados.so.2", "librados.so"];

type Handle = *mut c_void;
type CommandFn = unsafe extern "C" fn(
    Handle,
    *mut *const c_char,
    usize,
    *const c_char,
    usize,
    *mut *mut c_char,
    *mut usize,
    *mut *mut c_char,
    *mut usize,
) -> c_int;
type TargetCommandFn = unsafe extern "C" fn(
    Handle,
    *const c_char,
    *mut *const c_char,
    usize,
    *const c_char,
    usize,
    *mut *mut c_char,
    *mut usize,
    *mut *mut c_char,
    *mut usize,
) -> c_int;
type OsdCommandFn = unsafe extern "C" fn(
    Handle,
    c_int,
    *mut *const c_char,
    usize,
    *const c_char,
    usize,
    *mut *mut c_char,
    *mut usize,
    *mut *mut c_char,
    *mut usize,
) -> c_int;
type LogCallback = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    *const c_char,
    *const c_char,
    *const c_char,
    u64,
    u64,
    u64,
    *const c_char,
    *const c_char,
);

/// The entry points, copied out of the library (which [`Librados`] keeps loaded).
struct Api {
    create2: unsafe extern "C" fn(*mut Handle, *const c_char, *const c_char, u64) -> c_int,
    conf_read_file: unsafe extern "C" fn(Handle, *const c_char) -> c_int,
    conf_set: unsafe extern "C" fn(Handle, *const c_char, *const c_char) -> c_int,
    conf_get: unsafe extern "C" fn(Handle, *const c_char, *mut c_char, usize) -> c_int,
    connect: unsafe extern "C" fn(Handle) -> c_int,
    shutdown: unsafe extern "C" fn(Handle),
    mon_command: CommandFn,
    mon_command_target: TargetCommandFn,
    mgr_command: CommandFn,
    osd_command: OsdCommandFn,
    buffer_free: unsafe extern "C" fn(*mut c_char),
    monitor_log2:
        unsafe extern "C" fn(Handle, *const c_char, Option<LogCallback>, *mut c_void) -> c_int,
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
            conf_get: sym!("rados_conf_get"),
            connect: sym!("rados_connect"),
            shutdown: sym!("rados_shutdown"),
            mon_command: sym!("rados_mon_command"),
            mon_command_target: sym!("rados_mon_command_target"),
            mgr_command: sym!("rados_mgr_command"),
            osd_command: sym!("rados_osd_command"),
            buffer_free: sym!("rados_buffer_free"),
            monitor_log2: sym!("rados_monitor_log2"),
        };
        Ok(Librados { api, _lib: lib })
    }
}

/// A command's answer: Ceph's return value (0 or a negative errno), output data and
/// status text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// 0 or a negative errno.
    pub retval: i32,
    /// Output data (`outbuf`).
    pub data: Vec<u8>,
    /// Status text (`outs`).
    pub status: String,
}

impl Reply {
    /// The output data as JSON, or an error naming the command.
    pub fn json(&self, what: &str) -> Result<serde_json::Value> {
        if self.retval != 0 {
            bail!("`{what}` failed: {} ({})", self.status, self.retval);
        }
        serde_json::from_slice(&self.data).with_context(|| format!("`{what}` did not answer JSON"))
    }
}

/// Where a command goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Any monitor (the usual case).
    Mon,
    /// One named monitor (`tell mon.a ...`).
    MonNamed(String),
    /// The active manager.
    Mgr,
    /// One OSD.
    Osd(i32),
}

/// One cluster log line as the monitor streams it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// `cluster` or `audit`.
    pub channel: String,
    /// Entity name (`mon.a`, `osd.3`).
    pub name: String,
    /// Seconds since the epoch.
    pub sec: u64,
    /// Nanoseconds within the second.
    pub nsec: u64,
    /// Sequence number.
    pub seq: u64,
    /// `[INF]`, `[WRN]`, ...
    pub level: String,
    /// Text.
    pub message: String,
}

type LogSink = Box<dyn Fn(LogLine) + Send + Sync>;

/// A connected (or connecting) cluster handle. Dropping it shuts the handle down.
pub struct Rados {
    lib: Arc<Librados>,
    handle: Handle,
    log_sink: Option<Box<LogSink>>,
}

// SAFETY: librados cluster handles may be used from any thread concurrently.
unsafe impl Send for Rados {}
// SAFETY: as above; the log sink is only read by librados' callback.
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
        let rados = Rados {
            lib,
            handle,
            log_sink: None,
        };
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

    /// A configuration value (`fsid`), if set.
    pub fn conf_get(&self, key: &str) -> Option<String> {
        let k = cstring(key).ok()?;
        let mut buf = vec![0u8; 4096];
        // SAFETY: the buffer is writable for its length.
        let r = unsafe {
            (self.lib.api.conf_get)(self.handle, k.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        if r < 0 {
            return None;
        }
        let s = CStr::from_bytes_until_nul(&buf)
            .ok()?
            .to_string_lossy()
            .into_owned();
        (!s.is_empty()).then_some(s)
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

    /// Run one command (Ceph's JSON dict) and wait for the answer.
    pub fn command(&self, target: &Target, cmd: &str, inbuf: &[u8]) -> Result<Reply> {
        let c = cstring(cmd)?;
        let mut cmds = [c.as_ptr()];
        let mut out: *mut c_char = ptr::null_mut();
        let mut out_len = 0usize;
        let mut outs: *mut c_char = ptr::null_mut();
        let mut outs_len = 0usize;
        let api = &self.lib.api;
        let inb = inbuf.as_ptr().cast::<c_char>();
        // The argument list every command function ends with.
        macro_rules! run {
            ($f:expr $(, $lead:expr)*) => {
                $f(
                    self.handle,
                    $($lead,)*
                    cmds.as_mut_ptr(),
                    1,
                    inb,
                    inbuf.len(),
                    &mut out,
                    &mut out_len,
                    &mut outs,
                    &mut outs_len,
                )
            };
        }
        // SAFETY: every pointer is valid for the call; librados allocates the outputs,
        // which are freed below with rados_buffer_free.
        let r = unsafe {
            match target {
                Target::Mon => run!(api.mon_command),
                Target::MonNamed(name) => {
                    let n = cstring(name)?;
                    run!(api.mon_command_target, n.as_ptr())
                }
                Target::Mgr => run!(api.mgr_command),
                Target::Osd(id) => run!(api.osd_command, *id),
            }
        };
        // SAFETY: librados returned these buffers with these lengths (or null).
        let take = |p: *mut c_char, len: usize| -> Vec<u8> {
            if p.is_null() {
                return Vec::new();
            }
            let v = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }.to_vec();
            unsafe { (api.buffer_free)(p) };
            v
        };
        let data = take(out, out_len);
        let status = String::from_utf8_lossy(&take(outs, outs_len)).into_owned();
        Ok(Reply {
            retval: r,
            data,
            status,
        })
    }

    /// Stream the cluster log at `level` (`info`, `debug`, ...) into `sink`, called
    /// on a librados thread. Replaces an earlier sink.
    pub fn monitor_log(&mut self, level: &str, sink: LogSink) -> Result<()> {
        let lvl = cstring(level)?;
        let boxed: Box<LogSink> = Box::new(sink);
        let arg = (&*boxed as *const LogSink).cast_mut().cast::<c_void>();
        // SAFETY: the sink lives in `self` until the handle is shut down in Drop,
        // after which librados no longer calls back.
        let r = unsafe {
            (self.lib.api.monitor_log2)(self.handle, lvl.as_ptr(), Some(on_log_line), arg)
        };
        if r < 0 {
            bail!("subscribing to the cluster log: {}", strerror(r));
        }
        self.log_sink = Some(boxed);
        Ok(())
    }
}

fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: librados passes NUL-terminated strings valid for the callback.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

unsafe extern "C" fn on_log_line(
    arg: *mut c_void,
    _line: *const c_char,
    channel: *const c_char,
    _who: *const c_char,
    name: *const c_char,
    sec: u64,
    nsec: u64,
    seq: u64,
    level: *const c_char,
    msg: *const c_char,
) {
    if arg.is_null() {
        return;
    }
    // SAFETY: `arg` is the sink registered in `monitor_log`, alive while the handle is.
    let sink = unsafe { &*(arg as *const LogSink) };
    let line = LogLine {
        channel: text(channel),
        name: text(name),
        sec,
        nsec,
        seq,
        level: text(level),
        message: text(msg),
    };
    // A panic must not unwind into C.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink(line)));
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
    fn a_missing_library_names_the_package() {
        let e = Librados::load_from(&["librados-not-here.so.2"]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("apt-get install librados2"), "{text}");
        assert!(text.contains("librados-not-here.so.2"), "{text}");
    }
}
