//! Host bindings of `ceph:mgr@0.2.0`, generated from `wit/0.2.0`: the `runtime`
//! world, in which a shared language runtime (CPython, a JavaScript engine) runs
//! one module given as plain source. Its types are 0.1.0's, unchanged, so the
//! rest of the host handles both versions alike; its interfaces delegate to
//! 0.1.0's implementations and add `mgr.set-option` and `inbox`.

wasmtime::component::bindgen!({
    path: "../../wit/0.2.0",
    world: "ceph:mgr/runtime",
    imports: {
        // Blocking to the guest, awaited on the host.
        "ceph:mgr/mgr-blocking.send-command": async | store,
        "ceph:mgr/mgr-blocking.call-module": async | store,
        "ceph:mgr/inbox.wait": async | store,
    },
    exports: { default: async },
    with: {
        "ceph:mgr/types": super::v0_1_0::ceph::mgr::types,
    },
});
