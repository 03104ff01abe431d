//! Host bindings of `ceph:mgr@0.1.0`, generated from `wit/0.1.0`: the `module`
//! world (async exports) and, sharing its interfaces, the `module-sync` world.
//! This version is frozen: modules built against it keep loading unchanged.

wasmtime::component::bindgen!({
    path: "../../wit/0.1.0",
    world: "ceph:mgr/module",
});

/// The `module-sync` world, for toolchains that cannot build async exports
/// (componentize-js): the host drives it with `tick` and one call at a time.
pub mod sync_world {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
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
