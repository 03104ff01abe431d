//! Host bindings of the `ceph:mgr` contract, generated from `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "ceph:mgr/module",
});
