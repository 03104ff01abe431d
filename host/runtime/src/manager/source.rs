//! Modules given as source, run on shared language runtimes: what a modules
//! folder entry is (a component, a Python file or package in Ceph's layout, a
//! JavaScript file), reading and hashing a source module, and compiling each
//! runtime once, in the background, so that the host and its other modules never
//! wait for it. Until its runtime is ready a source module shows `loading`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use super::ModuleManager;
use crate::bindings::{self, ContractVersion, v0_2_0};
use crate::ctx::ModuleCtx;

/// Most bytes of source one module may have (all its files together).
pub const MAX_SOURCE_BYTES: u64 = 64 << 20;
/// Most files one Python package may have.
pub const MAX_SOURCE_FILES: usize = 10_000;

/// What an entry of the modules folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// A WebAssembly component (`NAME.wasm`).
    Component,
    /// Python source: `NAME.py`, or a package folder `NAME/__init__.py` as Ceph's
    /// own modules are laid out.
    Python,
    /// JavaScript source (`NAME.js`).
    JavaScript,
}

impl ModuleKind {
    /// The runtime a source module runs on, by name.
    pub fn runtime(self) -> Option<Language> {
        match self {
            ModuleKind::Component => None,
            ModuleKind::Python => Some(Language::Python),
            ModuleKind::JavaScript => Some(Language::JavaScript),
        }
    }
}

/// A language with a shared runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Language {
    /// CPython (componentize-py).
    Python,
    /// A JavaScript engine (componentize-js).
    JavaScript,
}

impl Language {
    /// Its name in logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
        }
    }
}

/// What `path` is as a modules-folder entry, if it is one: an existing `.wasm`,
/// `.py` or `.js` file, or a folder with an `__init__.py`. Hidden names (editors'
/// and copy tools' temporary files), `__pycache__` and anything gone are not.
pub fn module_kind(path: &Path) -> Option<ModuleKind> {
    let name = path.file_name()?.to_string_lossy();
    if name.starts_with('.') || name == "__pycache__" {
        return None;
    }
    if path.is_dir() {
        return path
            .join("__init__.py")
            .is_file()
            .then_some(ModuleKind::Python);
    }
    if !path.is_file() {
        return None;
    }
    match path.extension()?.to_str()? {
        "wasm" => Some(ModuleKind::Component),
        "py" => Some(ModuleKind::Python),
        "js" => Some(ModuleKind::JavaScript),
        _ => None,
    }
}

/// Whether `path` names a modules-folder entry by its name alone (it may be gone
/// already): a `.wasm`, `.py` or `.js` file or a folder, not hidden.
fn is_module_file(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return false;
    };
    if name.starts_with('.') || name == "__pycache__" {
        return false;
    }
    match path.extension().and_then(|x| x.to_str()) {
        Some("wasm" | "py" | "js") => true,
        Some(_) => path.is_dir(),
        None => !path.is_file(),
    }
}

/// The modules-folder entry that a change at `changed` (somewhere under `dir`)
/// belongs to: the entry itself, or the package folder a file inside it is in.
pub fn entry_of(dir: &Path, changed: &Path) -> Option<PathBuf> {
    let rest = changed.strip_prefix(dir).ok()?;
    let mut parts = rest.components();
    let first = parts.next()?;
    let entry = dir.join(first);
    let inner: Vec<String> = parts
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    // Inside a package only its source counts: not bytecode caches, not hidden
    // temporary files.
    if inner
        .iter()
        .any(|p| p.starts_with('.') || p == "__pycache__")
    {
        return None;
    }
    if inner.is_empty() {
        is_module_file(&entry).then_some(entry)
    } else {
        Some(entry)
    }
}

/// A source module as read from the modules folder: its text when it is one
/// file, and the hash of everything in it.
pub struct SourceFile {
    /// The text of a single-file module; `None` for a package (the runtime reads
    /// its folder).
    pub text: Option<String>,
    /// SHA-256 over every file's relative path and content, in path order.
    pub hash: String,
}

/// Reads a source module: one file, or every file of a package (within
/// [`MAX_SOURCE_BYTES`] and [`MAX_SOURCE_FILES`]).
pub fn read_source(path: &Path) -> Result<SourceFile> {
    if path.is_dir() {
        let mut files = Vec::new();
        collect(path, path, &mut files)?;
        files.sort();
        let mut total = 0u64;
        let mut hasher = Sha256::new();
        for rel in &files {
            let bytes = std::fs::read(path.join(rel))
                .with_context(|| format!("reading {}", path.join(rel).display()))?;
            total += bytes.len() as u64;
            if total > MAX_SOURCE_BYTES {
                bail!("is over {MAX_SOURCE_BYTES} bytes of source");
            }
            hasher.update(rel.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
        return Ok(SourceFile {
            text: None,
            hash: hex::encode(hasher.finalize()),
        });
    }
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MAX_SOURCE_BYTES {
        bail!("is over {MAX_SOURCE_BYTES} bytes of source");
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let hash = crate::engine::content_hash(&bytes);
    let text = String::from_utf8(bytes).map_err(|_| anyhow!("is not UTF-8 text"))?;
    Ok(SourceFile {
        text: Some(text),
        hash,
    })
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            collect(root, &path, files)?;
        } else if kind.is_file() {
            if files.len() >= MAX_SOURCE_FILES {
                bail!("has over {MAX_SOURCE_FILES} files");
            }
            files.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// Where one runtime is in its compile.
#[derive(Clone)]
pub(super) enum RuntimeState {
    /// Not asked for yet.
    Idle,
    /// Compiling in the background.
    Compiling,
    /// Compiled and linked.
    Ready(v0_2_0::RuntimePre<ModuleCtx>),
    /// It cannot be used; why.
    Failed(String),
}

/// The shared runtimes of one host and the source modules waiting for theirs.
#[derive(Default)]
pub(super) struct Runtimes {
    states: std::sync::Mutex<BTreeMap<Language, RuntimeState>>,
    /// Source modules waiting for their runtime, by path.
    pub(super) loading: std::sync::Mutex<BTreeMap<PathBuf, Language>>,
    /// Held while a runtime compiles, and while the modules folder is first
    /// loaded: a runtime's compile (tens of seconds) waits for the components',
    /// so that those serve as soon as they can.
    pub(super) compiling: tokio::sync::Mutex<()>,
    /// The program that compiles runtimes in a child process, if any.
    compiler: std::sync::OnceLock<PathBuf>,
}

impl Runtimes {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Language, RuntimeState>> {
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_loading(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, Language>> {
        self.loading.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a source module did not load now.
#[derive(Debug)]
pub struct RuntimeLoading(pub Language);

impl std::fmt::Display for RuntimeLoading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} runtime is being compiled; the module starts when it is ready",
            self.0.as_str()
        )
    }
}

impl std::error::Error for RuntimeLoading {}

impl ModuleManager {
    /// The runtime component file for `language`.
    pub fn runtime_file(&self, language: Language) -> PathBuf {
        let configured = match language {
            Language::Python => self.config.runtimes.python.clone(),
            Language::JavaScript => self.config.runtimes.javascript.clone(),
        };
        configured.unwrap_or_else(|| {
            let file = format!("{}.wasm", language.as_str());
            std::env::current_exe()
                .ok()
                .and_then(|exe| {
                    exe.parent()?
                        .parent()
                        .map(|d| d.join("runtimes").join(&file))
                })
                .unwrap_or_else(|| PathBuf::from("runtimes").join(file))
        })
    }

    /// The folders a Python module may import from, read-only, with the guest
    /// path of each (`/python/0`, ...).
    pub(super) fn python_path(&self) -> Vec<(PathBuf, String)> {
        let dirs = self.config.runtimes.python_path.clone().unwrap_or_else(|| {
            ["/usr/share/ceph/mgr", "/usr/lib/python3/dist-packages"]
                .iter()
                .map(PathBuf::from)
                .filter(|d| d.is_dir())
                .collect()
        });
        dirs.into_iter()
            .enumerate()
            .map(|(i, d)| (d, format!("/python/{i}")))
            .collect()
    }

    /// The linked runtime for `language`, if it is compiled; otherwise starts
    /// compiling it in the background (once) and answers [`RuntimeLoading`].
    pub(super) fn runtime(
        self: &Arc<Self>,
        language: Language,
    ) -> Result<v0_2_0::RuntimePre<ModuleCtx>> {
        let mut states = self.runtimes.lock();
        match states.get(&language).cloned().unwrap_or(RuntimeState::Idle) {
            RuntimeState::Ready(pre) => Ok(pre),
            RuntimeState::Failed(why) => Err(anyhow!(why)),
            RuntimeState::Compiling => Err(RuntimeLoading(language).into()),
            RuntimeState::Idle => {
                states.insert(language, RuntimeState::Compiling);
                drop(states);
                let manager = self.clone();
                tokio::spawn(async move { manager.compile_runtime(language).await });
                Err(RuntimeLoading(language).into())
            }
        }
    }

    /// Whether module `name` waits for its runtime to be compiled, and for which.
    pub fn loading(&self, name: &str) -> Option<Language> {
        self.runtimes
            .lock_loading()
            .iter()
            .find(|(path, _)| super::file_stem(path) == name)
            .map(|(_, language)| *language)
    }

    async fn compile_runtime(self: Arc<Self>, language: Language) {
        let file = self.runtime_file(language);
        let compiled = {
            // One runtime compile at a time: each takes every core it can get.
            let _one = self.runtimes.compiling.lock().await;
            self.prepare_runtime(&file).await
        };
        super::load::release_compile_memory();
        let state = match compiled {
            Ok(pre) => {
                tracing::info!(
                    "the {} runtime is ready ({})",
                    language.as_str(),
                    file.display()
                );
                RuntimeState::Ready(pre)
            }
            Err(e) => {
                let why = format!(
                    "the {} runtime {} cannot be used: {e:#}",
                    language.as_str(),
                    file.display()
                );
                tracing::error!("{why}");
                RuntimeState::Failed(why)
            }
        };
        self.runtimes.lock().insert(language, state);
        let waiting: Vec<PathBuf> = {
            let mut loading = self.runtimes.lock_loading();
            let paths: Vec<PathBuf> = loading
                .iter()
                .filter(|(_, l)| **l == language)
                .map(|(p, _)| p.clone())
                .collect();
            for p in &paths {
                loading.remove(p);
            }
            paths
        };
        for path in waiting {
            if !self.runs_modules() {
                continue;
            }
            if let Err(e) = self.install(&path, false).await {
                tracing::error!("{} not loaded: {e:#}", path.display());
            }
        }
    }

    /// Has runtimes compiled by `compiler compile` in a child process (the host's
    /// own binary) instead of in this process.
    pub fn compile_out_of_process(&self, compiler: PathBuf) {
        let _ = self.runtimes.compiler.set(compiler);
    }

    /// Compiles (or takes from the cache) and links a runtime component.
    async fn prepare_runtime(&self, path: &Path) -> Result<v0_2_0::RuntimePre<ModuleCtx>> {
        let bytes = std::fs::read(path).context("reading it (build it with `make runtimes`)")?;
        let version = bindings::contract_version(&bytes)?;
        if version != ContractVersion::V0_2_0 {
            bail!(
                "it is built against ceph:mgr@{}; a runtime builds against the 0.2.0 runtime world",
                version.as_str()
            );
        }
        let hash = crate::engine::content_hash(&bytes);
        let (component, _) = match self.runtimes.compiler.get() {
            Some(compiler) => {
                drop(bytes);
                self.cache
                    .component_out_of_process(&self.engine, compiler, path, &hash)
                    .await
            }
            None => self.cache.component(&self.engine, &bytes, &hash),
        }
        .context("compiling")?;
        let pre = self
            .runtime_linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("does not fit the ceph:mgr@0.2.0 runtime world: {e:#}"))?;
        v0_2_0::RuntimePre::new(pre)
            .map_err(|e| anyhow!("does not export the ceph:mgr@0.2.0 runtime world: {e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("status")).unwrap();
        std::fs::write(root.join("status/__init__.py"), "").unwrap();
        std::fs::write(root.join("status/module.py"), "x = 1").unwrap();
        std::fs::create_dir(root.join("notes")).unwrap();
        std::fs::write(root.join("hello.py"), "").unwrap();
        std::fs::write(root.join("osdwatch.js"), "").unwrap();
        std::fs::write(root.join("probe.wasm"), "").unwrap();
        std::fs::write(root.join(".hello.py.swp"), "").unwrap();
        assert_eq!(module_kind(&root.join("status")), Some(ModuleKind::Python));
        assert_eq!(module_kind(&root.join("notes")), None);
        assert_eq!(
            module_kind(&root.join("hello.py")),
            Some(ModuleKind::Python)
        );
        assert_eq!(
            module_kind(&root.join("osdwatch.js")),
            Some(ModuleKind::JavaScript)
        );
        assert_eq!(
            module_kind(&root.join("probe.wasm")),
            Some(ModuleKind::Component)
        );
        assert_eq!(module_kind(&root.join(".hello.py.swp")), None);
        // A removed file is no entry any more (the watcher then stops its module).
        assert_eq!(module_kind(&root.join("gone.wasm")), None);
        assert_eq!(
            entry_of(root, &root.join("status/module.py")),
            Some(root.join("status"))
        );
        assert_eq!(
            entry_of(root, &root.join("status/__pycache__/module.pyc")),
            None
        );
        assert_eq!(
            entry_of(root, &root.join("hello.py")),
            Some(root.join("hello.py"))
        );
        assert_eq!(entry_of(root, &root.join(".hello.py.swp")), None);
    }

    #[test]
    fn a_package_hash_covers_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("crash");
        std::fs::create_dir(&pkg).unwrap();
        std::fs::write(pkg.join("__init__.py"), "from .module import Module").unwrap();
        std::fs::write(pkg.join("module.py"), "A = 1").unwrap();
        let first = read_source(&pkg).unwrap();
        assert!(first.text.is_none());
        std::fs::create_dir(pkg.join("__pycache__")).unwrap();
        std::fs::write(pkg.join("__pycache__/module.pyc"), "junk").unwrap();
        assert_eq!(read_source(&pkg).unwrap().hash, first.hash);
        std::fs::write(pkg.join("module.py"), "A = 2").unwrap();
        assert_ne!(read_source(&pkg).unwrap().hash, first.hash);
    }
}
