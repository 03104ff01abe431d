//! wasm-mgr: a Ceph manager host whose modules are sandboxed WebAssembly
//! components. This crate is the host's outer shell: the command line, the HTTP
//! API, the wiring of `serve`, the modules-folder watcher and high availability.
//! The cluster state, its sources and the module runtime are crates of their own
//! (`wasm-mgr-cluster`, `wasm-mgr-sim`, `wasm-mgr-ceph`, `wasm-mgr-runtime`).

pub mod auth;
pub mod cli;
pub mod ha;
pub mod http;
pub mod listen;
pub mod scaffold;
pub mod serve;
pub mod watch;
