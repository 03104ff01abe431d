//! The gate: whether this host may act on the cluster and run its modules now.

use std::sync::Mutex;
use std::time::Instant;

/// Whether this host may act: always for a host alone, for an HA host only
/// until its lease deadline.
#[derive(Debug, Default)]
pub struct Gate {
    alone: bool,
    until: Mutex<Option<Instant>>,
}

impl Gate {
    /// The gate of a host without HA: always open.
    pub fn alone() -> Gate {
        Gate {
            alone: true,
            until: Mutex::new(None),
        }
    }

    /// Whether this is the gate of a host without HA.
    pub fn is_alone(&self) -> bool {
        self.alone
    }

    /// Whether this host is the active one right now.
    pub fn is_open(&self) -> bool {
        self.alone || self.deadline().is_some_and(|u| Instant::now() < u)
    }

    /// Until when the gate is open (for an HA host).
    pub fn deadline(&self) -> Option<Instant> {
        *self.until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the gate until `until`, or with `None` shuts it.
    pub fn set(&self, until: Option<Instant>) {
        *self.until.lock().unwrap_or_else(|e| e.into_inner()) = until;
    }
}
