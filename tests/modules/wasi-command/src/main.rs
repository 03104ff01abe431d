//! Test component of the wrong world: a plain WASI command (`wasi:cli/run`), not a
//! `ceph:mgr` module. The host must refuse it with a clear reason.

fn main() {
    println!("a WASI command, not a wasm-mgr module");
}
