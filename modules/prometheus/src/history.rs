//! Health check history, as ceph-mgr's prometheus module keeps it: every check ever
//! seen stays in `ceph_health_detail` (1 while active, 0 after it cleared), and the
//! history survives restarts in the module's store under [`STORE_KEY`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Store key of the history, the same name ceph uses (`mgr/prometheus/health_history`).
pub const STORE_KEY: &str = "health_history";

/// What is known of one health check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The check's code (`OSD_DOWN`).
    pub name: String,
    /// `HEALTH_WARN` or `HEALTH_ERR`, as last seen.
    pub severity: String,
    /// Unix time it was first seen.
    pub first_seen: f64,
    /// Unix time it last became active.
    pub last_seen: f64,
    /// How many times it became active.
    pub count: u64,
    /// Whether it is active now.
    pub active: bool,
}

/// Every health check seen, by code.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    checks: BTreeMap<String, Event>,
}

impl History {
    /// The history as stored; empty if nothing is stored or it does not parse.
    pub fn from_json(json: Option<&str>) -> Self {
        let checks = json
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        History { checks }
    }

    /// The history as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.checks).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Mark `current` checks (code, severity) active at unix time `now` and every
    /// other check inactive; true if anything changed.
    pub fn update<'a>(
        &mut self,
        current: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: f64,
    ) -> bool {
        let current: BTreeMap<&str, &str> = current.into_iter().collect();
        let mut changed = false;
        for (name, event) in self.checks.iter_mut() {
            if event.active && !current.contains_key(name.as_str()) {
                event.active = false;
                changed = true;
            }
        }
        for (name, severity) in current {
            match self.checks.get_mut(name) {
                Some(event) => {
                    if !event.active {
                        event.active = true;
                        event.last_seen = now;
                        event.count += 1;
                        changed = true;
                    }
                    if event.severity != severity {
                        event.severity = severity.to_owned();
                        changed = true;
                    }
                }
                None => {
                    self.checks.insert(
                        name.to_owned(),
                        Event {
                            name: name.to_owned(),
                            severity: severity.to_owned(),
                            first_seen: now,
                            last_seen: now,
                            count: 1,
                            active: true,
                        },
                    );
                    changed = true;
                }
            }
        }
        changed
    }

    /// Every check seen, by code.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.checks.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_cleared_checks_as_inactive() {
        let mut h = History::default();
        assert!(h.update([("OSD_DOWN", "HEALTH_WARN")], 1.0));
        assert!(!h.update([("OSD_DOWN", "HEALTH_WARN")], 2.0));
        assert!(h.update([], 3.0));
        let e: Vec<_> = h.events().collect();
        assert_eq!(e.len(), 1);
        assert!(!e[0].active);
        assert!(h.update([("OSD_DOWN", "HEALTH_ERR")], 4.0));
        let e = h.events().next().unwrap();
        assert!(e.active);
        assert_eq!((e.count, e.first_seen, e.last_seen), (2, 1.0, 4.0));
        assert_eq!(e.severity, "HEALTH_ERR");
    }

    #[test]
    fn round_trips_through_the_store() {
        let mut h = History::default();
        h.update([("MON_DISK_LOW", "HEALTH_WARN")], 5.0);
        let back = History::from_json(Some(&h.to_json()));
        assert_eq!(back, h);
        assert_eq!(History::from_json(Some("not json")), History::default());
        assert_eq!(History::from_json(None), History::default());
    }
}
