//! Test module: fits the contract but traps in `describe`, so the host must report
//! it and keep the other modules running.

use wasm_mgr_sdk::{Module, ModuleInfo, export_module};

#[derive(Default)]
struct DescribeTrap;

impl Module for DescribeTrap {
    fn describe(&self) -> ModuleInfo {
        panic!("describe-trap always panics in describe");
    }
}

export_module!(DescribeTrap);
