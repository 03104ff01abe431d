//! The module's health checks (ceph's `set_health_checks`): they show in the cluster
//! health every module and operator sees.

use crate::wit::ceph::mgr::mgr;
use crate::{HealthCheck, HealthStatus, Result};

/// Replace all of this module's health checks with `checks`.
pub fn set(checks: Vec<HealthCheck>) -> Result<()> {
    mgr::set_health_checks(&checks)
}

/// Remove all of this module's health checks.
pub fn clear() -> Result<()> {
    mgr::set_health_checks(&[])
}

impl HealthCheck {
    /// A check with an upper-case `code` (`MGR_PROBE_FAILED`), severity and summary; count 1.
    pub fn new(code: &str, severity: HealthStatus, summary: &str) -> Self {
        Self {
            code: code.to_owned(),
            severity,
            summary: summary.to_owned(),
            detail: Vec::new(),
            count: 1,
        }
    }

    /// A `HEALTH_WARN` check.
    pub fn warn(code: &str, summary: &str) -> Self {
        Self::new(code, HealthStatus::Warn, summary)
    }

    /// A `HEALTH_ERR` check.
    pub fn error(code: &str, summary: &str) -> Self {
        Self::new(code, HealthStatus::Err, summary)
    }

    /// Add one line of detail (`ceph health detail`).
    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.detail.push(line.into());
        self
    }

    /// How many things the check is about (OSDs down, PGs stuck, ...).
    pub fn count(mut self, count: u64) -> Self {
        self.count = count;
        self
    }
}
