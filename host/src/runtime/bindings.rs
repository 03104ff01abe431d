//! Host bindings of the `ceph:mgr` contract, generated from `wit/`: the `module`
//! world (async exports) and, sharing its interfaces, the `module-sync` world.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "ceph:mgr/module",
});

/// The `module-sync` world, for toolchains that cannot build async exports
/// (componentize-js): the host drives it with `tick` and one call at a time.
pub mod sync_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "ceph:mgr/module-sync",
        imports: {
            // Blocking to the guest, awaited on the host.
            "ceph:mgr/mgr-blocking.send-command": async | store,
            "ceph:mgr/mgr-blocking.call-module": async | store,
        },
        with: {
            "ceph:mgr/types": super::ceph::mgr::types,
            "ceph:mgr/cluster": super::ceph::mgr::cluster,
            "ceph:mgr/mgr": super::ceph::mgr::mgr,
        },
    });
}

use super::ctx::ModuleCtx;

/// A component linked against one of the two worlds, ready to instantiate.
#[derive(Clone)]
pub enum GuestPre {
    /// The `module` world.
    Async(ModulePre<ModuleCtx>),
    /// The `module-sync` world.
    Sync(sync_world::ModuleSyncPre<ModuleCtx>),
}

/// An instance's exports, of either world.
pub enum Guest {
    /// The `module` world: `serve` and concurrent calls.
    Async(Module),
    /// The `module-sync` world: `tick` and one call at a time.
    Sync(sync_world::ModuleSync),
}

impl GuestPre {
    /// Instantiates the component in `store`.
    pub async fn instantiate_async(
        &self,
        store: &mut wasmtime::Store<ModuleCtx>,
    ) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestPre::Async(pre) => Guest::Async(pre.instantiate_async(store).await?),
            GuestPre::Sync(pre) => Guest::Sync(pre.instantiate_async(store).await?),
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
        };
        Ok(info)
    }
}
