//! wasm-mgr: a Ceph manager host whose modules are sandboxed WebAssembly
//! components. This library is the host; the `wasm-mgr` binary is its command line.

pub mod auth;
pub mod cli;
pub mod cluster;
pub mod command;
pub mod config;
pub mod ha;
pub mod http;
pub mod metrics;
pub mod runtime;
pub mod scaffold;
pub mod serve;
pub mod source;
pub mod store;
pub mod watch;
