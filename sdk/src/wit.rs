//! Bindings generated from the `ceph:mgr` contract (`wit/`), `module` world.
//!
//! Hidden from authors: the crate root re-exports what a module needs.

// The generated lifting of `handle-http` takes one argument per flattened field.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../wit/0.1.0",
    world: "module",
    pub_export_macro: true,
    export_macro_name: "__export_module_world",
    default_bindings_module: "wasm_mgr_sdk::wit",
});
