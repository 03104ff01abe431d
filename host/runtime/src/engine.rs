//! The wasmtime engine every module shares, and the on-disk cache of compiled
//! components keyed by the content hash of the `.wasm` file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// SHA-256 of a component file's content, hex: its key in the compile cache and
/// the version a reload compares.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// How often the engine's epoch advances while guest code may be running; a
/// busy guest yields to the host at least this often.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Futures that may run guest code being polled right now (see [`executing`]).
static EXECUTING: AtomicUsize = AtomicUsize::new(0);
/// The epoch threads, woken when guest code starts to run.
static TICKERS: Mutex<Vec<std::thread::Thread>> = Mutex::new(Vec::new());

/// Counts a poll of a future that may run guest code, waking the epoch threads
/// when it is the first.
struct Polling;

impl Polling {
    fn enter() -> Polling {
        if EXECUTING.fetch_add(1, Ordering::SeqCst) == 0 {
            for t in TICKERS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                t.unpark();
            }
        }
        Polling
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        EXECUTING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wraps a future that runs guest code (a module's whole life, a `describe`):
/// the epoch advances only while such a future is being polled, so an idle
/// host is not woken 100 times a second.
pub fn executing<F: Future>(f: F) -> impl Future<Output = F::Output> {
    let mut f = Box::pin(f);
    std::future::poll_fn(move |cx| {
        let _polling = Polling::enter();
        f.as_mut().poll(cx)
    })
}

/// Builds the engine: component-model async on, epoch interruption on, and a
/// background thread that advances the epoch every [`EPOCH_TICK`] while guest
/// code may run (and sleeps otherwise).
pub fn new_engine() -> Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model_async(true)
        .concurrency_support(true)
        .epoch_interruption(true);
    let engine = wasmtime::Engine::new(&config)
        .map_err(|e| anyhow::anyhow!("creating the wasmtime engine: {e:#}"))?;
    let weak = engine.weak();
    let ticker = std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                if EXECUTING.load(Ordering::SeqCst) == 0 {
                    drop(engine);
                    // Woken by the next poll of guest code; the timeout only
                    // notices a dropped engine.
                    std::thread::park_timeout(Duration::from_secs(10));
                    continue;
                }
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("starting the epoch thread")?;
    TICKERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ticker.thread().clone());
    Ok(engine)
}

/// Settles how this process takes memory, before it starts any thread:
///
/// - small pages only: with transparent huge pages on, one touched byte of a
///   mapped cache file (a runtime's compiled code, the memory image every
///   instance maps) can bring 2 MiB of it in;
/// - two malloc arenas, not one per core and thread: cranelift's working memory,
///   freed after a compile, otherwise stays pinned in the arenas of the threads
///   that compiled (measured: 38 MiB of anonymous memory after `make run`'s
///   first start, 23 MiB with two arenas);
/// - blocks of 4 MiB or more always mapped on their own, so that freeing one
///   gives it back: glibc otherwise raises that threshold to the largest block
///   freed (a runtime's file, read to hash it, is tens of MiB), and the next
///   ones, taken from an arena, stayed pinned there by whatever was allocated
///   after them (11 MiB in three first starts of four).
///
/// All are inherited by the compile child.
pub fn tune_memory() {
    // SAFETY: a flag of this process's address space; no memory is touched.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        tracing::debug!(
            "transparent huge pages stay on: {}",
            std::io::Error::last_os_error()
        );
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: a glibc allocator setting, made before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Compiled components on disk, one file per content hash.
pub struct CompileCache {
    dir: PathBuf,
}

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the cache without compiling.
    Hit,
    /// Compiled now (and stored).
    Compiled,
}

/// Compiles the component in `input` for this host's engine into `output` (what
/// `wasm-mgr compile` does in a child process, so that the host's memory never
/// holds the compiler's working set for a large component).
pub fn compile_to_file(input: &Path, output: &Path) -> Result<()> {
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    let engine = new_engine()?;
    let compiled = engine
        .precompile_component(&bytes)
        .map_err(|e| anyhow::anyhow!("compiling {}: {e:#}", input.display()))?;
    let tmp = output.with_extension(format!("tmp{}", std::process::id()));
    store_file(&tmp, &compiled, output).with_context(|| format!("writing {}", output.display()))
}

/// Writes a compiled component to `tmp`, then renames it to `path`, leaving none
/// of it in the page cache. The kernel keeps a file just written in large folios
/// and maps a whole folio (here up to 1 MiB) wherever a process touches one
/// byte; read back from disk as the code runs, it maps what is touched (and its
/// read-ahead). So a runtime's mapped code and image cost what its instances use.
fn store_file(tmp: &Path, bytes: &[u8], path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let result = (|| {
        let mut file = std::fs::File::create(tmp)?;
        std::io::Write::write_all(&mut file, bytes)?;
        // Only clean pages can be dropped.
        file.sync_data()?;
        // SAFETY: advice on this open file's cached pages; no memory is touched.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        std::fs::rename(tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

impl CompileCache {
    /// Like [`CompileCache::component`], but a missing entry is compiled by
    /// `compiler compile INPUT OUTPUT` in a child process at low priority, and the
    /// result mapped from the cache file: the host's memory never holds the
    /// compiler's working set, and its own work keeps the CPU first.
    pub async fn component_out_of_process(
        &self,
        engine: &wasmtime::Engine,
        compiler: &Path,
        input: &Path,
        hash: &str,
    ) -> Result<(Component, CacheOutcome)> {
        let path = self.dir.join(format!("{hash}.cwasm"));
        let mut outcome = CacheOutcome::Hit;
        // SAFETY (both): files written by this host's own engine into its own
        // cache; wasmtime refuses a header of another engine or configuration.
        if !path.exists() || unsafe { Component::deserialize_file(engine, &path) }.is_err() {
            outcome = CacheOutcome::Compiled;
            let status = tokio::process::Command::new(compiler)
                .arg("compile")
                .arg(input)
                .arg(&path)
                .kill_on_drop(true)
                .status()
                .await
                .with_context(|| format!("running {} compile", compiler.display()))?;
            if !status.success() {
                anyhow::bail!(
                    "{} compile {} failed ({status})",
                    compiler.display(),
                    input.display()
                );
            }
        }
        let component = unsafe { Component::deserialize_file(engine, &path) }
            .map_err(|e| anyhow::anyhow!("loading {}: {e:#}", path.display()))?;
        Ok((component, outcome))
    }

    /// A cache in `dir` (created if missing).
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating compile cache {}", dir.display()))?;
        Ok(CompileCache {
            dir: dir.to_path_buf(),
        })
    }

    /// Compiles `bytes` as a component, or loads it from the cache when the same
    /// bytes were compiled before by a compatible engine; `hash` is `bytes`'
    /// [`content_hash`].
    pub fn component(
        &self,
        engine: &wasmtime::Engine,
        bytes: &[u8],
        hash: &str,
    ) -> Result<(Component, CacheOutcome)> {
        let path = self.dir.join(format!("{hash}.cwasm"));
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of this host
            // into its own state folder; wasmtime checks the engine version and
            // configuration in the header and refuses a mismatch, which then falls
            // back to compiling below.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => tracing::debug!("stale compile cache {}: {e}", path.display()),
            }
        }
        let component = Component::new(engine, bytes).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        match component.serialize() {
            Ok(compiled) => {
                let tmp = self.dir.join(format!("{hash}.tmp{}", std::process::id()));
                match store_file(&tmp, &compiled, &path) {
                    // Run the code mapped from the file just written, not the
                    // copy in anonymous memory: the page cache shares it.
                    // SAFETY: as above, a file this host wrote.
                    Ok(()) => match unsafe { Component::deserialize_file(engine, &path) } {
                        Ok(mapped) => return Ok((mapped, CacheOutcome::Compiled)),
                        Err(e) => tracing::warn!("could not map {}: {e}", path.display()),
                    },
                    Err(e) => tracing::warn!("could not cache compiled component: {e}"),
                }
            }
            Err(e) => tracing::warn!("could not serialise compiled component: {e}"),
        }
        Ok((component, CacheOutcome::Compiled))
    }
}
