//! The `ceph:mgr` contract as the host sees it. Each released version has a
//! module of generated bindings of its own (`v0_1_0`, ...), frozen from
//! `wit/<version>/`, as Zed's extension host keeps `since_vX`. The newest
//! version's items are re-exported here and are the only shape the rest of the
//! runtime knows; an older version is adapted to it at this edge.
//!
//! Before a component is linked, [`contract_version`] reads the version it was
//! built against: the `ceph:mgr/api-version` custom section that the SDKs write,
//! or else the version of the `ceph:mgr` interfaces it imports (the newest, if
//! it imports none).

mod v0_1_0;
pub mod v0_2_0;

pub use v0_1_0::*;

use std::collections::BTreeSet;

use anyhow::{Result, anyhow, bail};

/// Every contract version this host links, oldest first.
pub const VERSIONS: &[&str] = &["0.1.0", "0.2.0"];
/// The newest contract version of the `module` worlds: what the SDKs build
/// components against. (0.2.0 adds the `runtime` world, which only the shared
/// language runtimes build against.)
pub const LATEST: &str = "0.1.0";
/// Name of the custom section in which a module names its contract version.
pub const VERSION_SECTION: &str = "ceph:mgr/api-version";

/// A contract version this host can link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractVersion {
    /// `ceph:mgr@0.1.0`.
    V0_1_0,
    /// `ceph:mgr@0.2.0`.
    V0_2_0,
}

impl ContractVersion {
    /// The version as written in WIT (`0.1.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1_0 => "0.1.0",
            ContractVersion::V0_2_0 => "0.2.0",
        }
    }

    fn parse(version: &str) -> Result<ContractVersion> {
        match version {
            "0.1.0" => Ok(ContractVersion::V0_1_0),
            "0.2.0" => Ok(ContractVersion::V0_2_0),
            other => bail!(
                "built against ceph:mgr@{other}, which this host does not know; it links {}",
                VERSIONS
                    .iter()
                    .map(|v| format!("ceph:mgr@{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The contract version component `bytes` was built against, read before it is
/// compiled or linked.
pub fn contract_version(bytes: &[u8]) -> Result<ContractVersion> {
    let mut declared = BTreeSet::new();
    let mut imported = BTreeSet::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| anyhow!("reading the component: {e}"))? {
            wasmparser::Payload::CustomSection(c) if c.name() == VERSION_SECTION => {
                let text = std::str::from_utf8(c.data())
                    .map_err(|_| anyhow!("its {VERSION_SECTION} section is not UTF-8"))?;
                declared.insert(text.trim().to_string());
            }
            wasmparser::Payload::ComponentImportSection(imports) => {
                for import in imports {
                    let import = import.map_err(|e| anyhow!("reading the component: {e}"))?;
                    if let Some((_, version)) = import
                        .name
                        .name
                        .strip_prefix("ceph:mgr/")
                        .and_then(|i| i.split_once('@'))
                    {
                        imported.insert(version.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let version = match (declared.len(), imported.len()) {
        // A module that uses no import says nothing: it gets the newest version,
        // whose world then tells whether its exports fit.
        (0, 0) => Some(LATEST.to_string()),
        (1, _) => declared.pop_first(),
        (0, 1) => imported.pop_first(),
        (0, _) => bail!(
            "imports several ceph:mgr versions ({})",
            imported.into_iter().collect::<Vec<_>>().join(", ")
        ),
        _ => bail!(
            "declares several contract versions in {VERSION_SECTION} ({})",
            declared.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    let version = version.unwrap_or_default();
    if let Some(other) = imported.iter().find(|v| **v != version) {
        bail!("declares ceph:mgr@{version} but imports ceph:mgr@{other}");
    }
    ContractVersion::parse(&version)
}

use crate::ctx::ModuleCtx;

/// A module given as source, for a shared runtime's `load`.
#[derive(Debug)]
pub struct Script {
    /// The source text, for runtimes that take it so (JavaScript, a single
    /// Python file); `None` when the runtime reads the module's read-only folder.
    pub source: Option<String>,
}

/// A component linked against one of the worlds, ready to instantiate.
#[derive(Clone)]
pub enum GuestPre {
    /// The `module` world.
    Async(ModulePre<ModuleCtx>),
    /// The `module-sync` world.
    Sync(sync_world::ModuleSyncPre<ModuleCtx>),
    /// A shared runtime (0.2.0 `runtime` world) with the module it runs.
    Runtime(v0_2_0::RuntimePre<ModuleCtx>, std::sync::Arc<Script>),
}

/// An instance's exports, of either world.
pub enum Guest {
    /// The `module` world: `serve` and concurrent calls.
    Async(Module),
    /// The `module-sync` world: `tick` and one call at a time.
    Sync(sync_world::ModuleSync),
    /// A shared runtime with its module loaded: a blocking `serve` that gets the
    /// other calls inside `inbox.wait`, then one export call at a time.
    Runtime(v0_2_0::Runtime),
}

impl GuestPre {
    /// Instantiates the component in `store`; a runtime then loads its module,
    /// and a module that fails to load (a syntax error, an import that fails)
    /// fails here with the language's report.
    pub async fn instantiate_async(
        &self,
        store: &mut wasmtime::Store<ModuleCtx>,
    ) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestPre::Async(pre) => Guest::Async(pre.instantiate_async(store).await?),
            GuestPre::Sync(pre) => Guest::Sync(pre.instantiate_async(store).await?),
            GuestPre::Runtime(pre, script) => {
                let (handover, finished) = crate::handover::Handover::new();
                store.data_mut().handover = Some(std::sync::Arc::new(handover));
                store.data_mut().finished = Some(finished);
                let started = std::time::Instant::now();
                let runtime = pre.instantiate_async(&mut *store).await?;
                let instantiated = started.elapsed();
                let name = store.data().name.clone();
                runtime
                    .call_load(&mut *store, &name, script.source.as_deref())
                    .await?
                    .map_err(|report| wasmtime::format_err!("{}", report.trim_end()))?;
                tracing::debug!(
                    module = %name,
                    "runtime instance {instantiated:?}, its source loaded in {:?}",
                    started.elapsed() - instantiated
                );
                Guest::Runtime(runtime)
            }
        })
    }
}

impl Guest {
    /// Calls `describe`.
    pub async fn describe(
        &self,
        store: &mut wasmtime::Store<ModuleCtx>,
    ) -> wasmtime::Result<ModuleInfo> {
        let (info,) = match self {
            Guest::Async(m) => m.func_describe().call_async(store, ()).await?,
            Guest::Sync(m) => m.func_describe().call_async(store, ()).await?,
            Guest::Runtime(m) => (m.call_describe(store).await?,),
        };
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty component with a `ceph:mgr/api-version` section per version.
    fn component(versions: &[&str]) -> Vec<u8> {
        let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        for v in versions {
            let mut payload = vec![VERSION_SECTION.len() as u8];
            payload.extend_from_slice(VERSION_SECTION.as_bytes());
            payload.extend_from_slice(v.as_bytes());
            bytes.push(0);
            bytes.push(payload.len() as u8);
            bytes.extend_from_slice(&payload);
        }
        bytes
    }

    #[test]
    fn the_declared_version_is_read_and_checked() {
        assert_eq!(
            contract_version(&component(&["0.1.0"])).unwrap(),
            ContractVersion::V0_1_0
        );
        assert_eq!(contract_version(&component(&[])).unwrap().as_str(), LATEST);
        let unknown = contract_version(&component(&["7.0.0"])).unwrap_err();
        assert!(
            unknown.to_string().contains("ceph:mgr@7.0.0")
                && unknown.to_string().contains("ceph:mgr@0.1.0"),
            "{unknown}"
        );
        assert!(contract_version(&component(&["0.1.0", "0.2.0"])).is_err());
        assert!(contract_version(b"\0asm\x0d\x00\x01\x00\x07").is_err());
    }
}
