//! Notify fan-out: every cluster change to the modules that want its kind.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use wasm_mgr_cluster::model::{Change, NotifyKind};

use crate::Services;

/// Delivers every cluster change to the modules that want its kind, until the
/// cluster goes away. A lagging subscription re-announces every map.
pub async fn fan_out(services: Arc<Services>) {
    let mut changes = services.cluster.subscribe();
    loop {
        match changes.recv().await {
            Ok(_) if !services.gate.is_open() => {}
            Ok(change) => {
                for m in services.registry.all() {
                    m.notify(&change);
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("notify fan-out lagged by {n} changes; re-announcing all maps");
                for kind in NotifyKind::ALL {
                    if matches!(kind, NotifyKind::Clog | NotifyKind::Command) {
                        continue;
                    }
                    let change = Change {
                        kind,
                        id: String::new(),
                    };
                    for m in services.registry.all() {
                        m.notify(&change);
                    }
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}
