//! Builders for what a module declares in `describe`, as ceph's `MODULE_OPTIONS`
//! and `COMMANDS`.

use crate::{
    CommandDesc, HealthStatus, ModuleInfo, ModuleOption, NotifyKind, OptionType, OptionValue,
};

impl ModuleInfo {
    /// A module with a name and version (`env!("CARGO_PKG_VERSION")`) and nothing else.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            description: String::new(),
            options: Vec::new(),
            commands: Vec::new(),
            notify: Vec::new(),
            http: false,
            tick_interval_ms: None,
        }
    }

    /// One line saying what the module does.
    pub fn description(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    /// Declare an option.
    pub fn option(mut self, option: ModuleOption) -> Self {
        self.options.push(option);
        self
    }

    /// Declare a command in ceph's signature syntax
    /// (`osd status name=bucket,type=CephString,req=false`), with help and `r`/`rw`.
    pub fn command(mut self, cmd: &str, desc: &str, perm: &str) -> Self {
        self.commands.push(CommandDesc {
            cmd: cmd.to_owned(),
            desc: desc.to_owned(),
            perm: perm.to_owned(),
        });
        self
    }

    /// Subscribe to these notifications.
    pub fn notify(mut self, kinds: &[NotifyKind]) -> Self {
        self.notify.extend_from_slice(kinds);
        self
    }

    /// Serve HTTP under `/modules/<name>/`.
    pub fn http(mut self) -> Self {
        self.http = true;
        self
    }
}

impl ModuleOption {
    /// An option of the given type with no default, bounds or description.
    pub fn new(name: &str, kind: OptionType) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            default: None,
            description: String::new(),
            min: None,
            max: None,
            allowed: Vec::new(),
        }
    }

    /// A string option.
    pub fn str(name: &str) -> Self {
        Self::new(name, OptionType::Str)
    }

    /// A signed integer option.
    pub fn int(name: &str) -> Self {
        Self::new(name, OptionType::Int)
    }

    /// An unsigned integer option.
    pub fn uint(name: &str) -> Self {
        Self::new(name, OptionType::Uint)
    }

    /// A floating-point option.
    pub fn float(name: &str) -> Self {
        Self::new(name, OptionType::Float)
    }

    /// A boolean option.
    pub fn bool(name: &str) -> Self {
        Self::new(name, OptionType::Bool)
    }

    /// A duration in seconds.
    pub fn secs(name: &str) -> Self {
        Self::new(name, OptionType::Secs)
    }

    /// A size in bytes.
    pub fn size(name: &str) -> Self {
        Self::new(name, OptionType::Size)
    }

    /// The value when the operator set none.
    pub fn default(mut self, value: impl Into<OptionValue>) -> Self {
        self.default = Some(value.into());
        self
    }

    /// What the option does (ceph's `desc`).
    pub fn desc(mut self, desc: &str) -> Self {
        self.description = desc.to_owned();
        self
    }

    /// Lower bound of a numeric option.
    pub fn min(mut self, min: impl Into<f64>) -> Self {
        self.min = Some(min.into());
        self
    }

    /// Upper bound of a numeric option.
    pub fn max(mut self, max: impl Into<f64>) -> Self {
        self.max = Some(max.into());
        self
    }

    /// The values a string option may take (ceph's `enum_allowed`).
    pub fn enum_allowed(mut self, values: &[&str]) -> Self {
        self.allowed = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }
}

impl From<&str> for OptionValue {
    fn from(value: &str) -> Self {
        Self::Str(value.to_owned())
    }
}

impl From<String> for OptionValue {
    fn from(value: String) -> Self {
        Self::Str(value)
    }
}

impl From<i32> for OptionValue {
    fn from(value: i32) -> Self {
        Self::Int(value.into())
    }
}

impl From<i64> for OptionValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<f64> for OptionValue {
    fn from(value: f64) -> Self {
        Self::Float(value)
    }
}

impl From<bool> for OptionValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl NotifyKind {
    /// Every kind, for a module that wants all notifications.
    pub const ALL: [NotifyKind; 10] = [
        NotifyKind::MonMap,
        NotifyKind::OsdMap,
        NotifyKind::FsMap,
        NotifyKind::MgrMap,
        NotifyKind::PgSummary,
        NotifyKind::Health,
        NotifyKind::ServiceMap,
        NotifyKind::Clog,
        NotifyKind::Command,
        NotifyKind::Config,
    ];

    /// The contract's name of the kind: `osd-map`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::MonMap => "mon-map",
            NotifyKind::OsdMap => "osd-map",
            NotifyKind::FsMap => "fs-map",
            NotifyKind::MgrMap => "mgr-map",
            NotifyKind::PgSummary => "pg-summary",
            NotifyKind::Health => "health",
            NotifyKind::ServiceMap => "service-map",
            NotifyKind::Clog => "clog",
            NotifyKind::Command => "command",
            NotifyKind::Config => "config",
        }
    }
}

impl HealthStatus {
    /// Ceph's name: `HEALTH_OK`, `HEALTH_WARN`, `HEALTH_ERR`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ok => "HEALTH_OK",
            HealthStatus::Warn => "HEALTH_WARN",
            HealthStatus::Err => "HEALTH_ERR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_module_description() {
        let info = ModuleInfo::new("status", "0.1.0")
            .option(ModuleOption::int("interval").default(5).min(1).max(3600))
            .option(
                ModuleOption::str("mode")
                    .default("fast")
                    .enum_allowed(&["fast", "slow"]),
            )
            .command(
                "osd status name=bucket,type=CephString,req=false",
                "Show OSDs",
                "r",
            )
            .notify(&[NotifyKind::OsdMap])
            .http();
        assert!(matches!(info.options[0].default, Some(OptionValue::Int(5))));
        assert_eq!(info.options[0].min, Some(1.0));
        assert_eq!(info.options[1].allowed, ["fast", "slow"]);
        assert_eq!(info.commands[0].perm, "r");
        assert!(info.http);
    }
}
