//! Test module: never returns from `describe` (a busy loop), so the host must give up
//! on it after its load time limit and still load the other modules.

use wasm_mgr_sdk::{Module, ModuleInfo, export_module};

#[derive(Default)]
struct DescribeHang;

impl Module for DescribeHang {
    fn describe(&self) -> ModuleInfo {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_module!(DescribeHang);
