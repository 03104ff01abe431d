//! `{{name}}`: a wasm-mgr module. Build it with
//! `cargo build --release --target wasm32-wasip2`, then copy
//! `target/wasm32-wasip2/release/{{crate}}.wasm` into the host's modules folder.

use std::cell::Cell;
use std::time::Duration;

use wasm_mgr_sdk::{
    Module, ModuleInfo, Notification, NotifyKind, cluster, commands, export_module, mgr_info,
    sleep,
};

#[derive(Default)]
struct Plugin {
    notifies: Cell<u64>,
}

#[commands]
impl Module for Plugin {
    fn describe(&self) -> ModuleInfo {
        ModuleInfo::new("{{name}}", env!("CARGO_PKG_VERSION"))
            .description("A new module")
            .notify(&[NotifyKind::OsdMap])
    }

    async fn serve(&self) {
        mgr_info!("serving");
        while sleep(Duration::from_secs(5)).await {}
    }

    async fn notify(&self, _notification: Notification) {
        self.notifies.set(self.notifies.get() + 1);
    }

    /// What the module has seen
    #[read_command("{{name}} status")]
    fn status(&self) -> String {
        format!(
            "osd map epoch {}, {} notifies",
            cluster::epochs().osd_map,
            self.notifies.get()
        )
    }
}

export_module!(Plugin);
