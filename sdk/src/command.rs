//! Commands: the JSON command dict a module receives and the result it returns.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{CommandResult, Error};

/// Error numbers for [`CommandResult::error`], as ceph-mgr modules return them: a
/// command answers retval 0 or the negative errno.
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// No such entity.
    pub const ENOENT: i32 = 2;
    /// I/O error; also "a check failed".
    pub const EIO: i32 = 5;
    /// Try again: the cluster or a module cannot answer now.
    pub const EAGAIN: i32 = 11;
    /// Permission denied.
    pub const EACCES: i32 = 13;
    /// Already exists.
    pub const EEXIST: i32 = 17;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// Value out of range.
    pub const ERANGE: i32 = 34;
    /// Operation not supported.
    pub const EOPNOTSUPP: i32 = 95;
    /// Timed out.
    pub const ETIMEDOUT: i32 = 110;
}

/// Output format an operator asked for with `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `plain`: text for a terminal.
    Plain,
    /// `json`: compact JSON.
    Json,
    /// `json-pretty`: indented JSON.
    JsonPretty,
}

/// A command as ceph's JSON command dict: `{"prefix": "osd status", "bucket": "host-1"}`.
#[derive(Clone, Debug)]
pub struct Command {
    args: Map<String, Value>,
}

impl Command {
    /// Parse a command dict; it must be a JSON object with a string `prefix`.
    pub fn parse(json: &str) -> Result<Self, String> {
        let args: Map<String, Value> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if !args.get("prefix").is_some_and(Value::is_string) {
            return Err("no \"prefix\" string".to_owned());
        }
        Ok(Self { args })
    }

    /// The command's words without arguments: `osd status`.
    pub fn prefix(&self) -> &str {
        self.args
            .get("prefix")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// An argument as JSON, if given.
    pub fn arg(&self, name: &str) -> Option<&Value> {
        self.args.get(name)
    }

    /// A string argument (`CephString`, `CephChoices`, ...), if given.
    pub fn str_arg(&self, name: &str) -> Option<&str> {
        self.arg(name).and_then(Value::as_str)
    }

    /// An integer argument (`CephInt`), given as a number or a numeric string.
    pub fn int_arg(&self, name: &str) -> Option<i64> {
        match self.arg(name)? {
            Value::String(s) => s.parse().ok(),
            value => value.as_i64(),
        }
    }

    /// A float argument (`CephFloat`), given as a number or a numeric string.
    pub fn float_arg(&self, name: &str) -> Option<f64> {
        match self.arg(name)? {
            Value::String(s) => s.parse().ok(),
            value => value.as_f64(),
        }
    }

    /// A boolean argument (`CephBool`), given as a boolean or `"true"`/`"false"`.
    pub fn bool_arg(&self, name: &str) -> Option<bool> {
        match self.arg(name)? {
            Value::String(s) => s.parse().ok(),
            value => value.as_bool(),
        }
    }

    /// The `--format` asked for: none if absent or not one of [`Format`]'s.
    pub fn format(&self) -> Option<Format> {
        match self.str_arg("format")? {
            "plain" => Some(Format::Plain),
            "json" => Some(Format::Json),
            "json-pretty" => Some(Format::JsonPretty),
            _ => None,
        }
    }

    /// Whether the operator asked for `json` or `json-pretty`.
    pub fn wants_json(&self) -> bool {
        matches!(self.format(), Some(Format::Json | Format::JsonPretty))
    }

    /// The whole command dict.
    pub fn json(&self) -> &Map<String, Value> {
        &self.args
    }
}

impl CommandResult {
    /// Success with `stdout` as output.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Self {
            retval: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// Success with `value` as compact JSON.
    pub fn json(value: &impl Serialize) -> Self {
        match serde_json::to_string(value) {
            Ok(json) => Self::ok(json),
            Err(e) => Self::error(crate::errno::EIO, format!("cannot encode JSON: {e}")),
        }
    }

    /// Success with `value` as JSON in the command's format (`json-pretty` indents).
    pub fn json_for(command: &Command, value: &impl Serialize) -> Self {
        if command.format() != Some(Format::JsonPretty) {
            return Self::json(value);
        }
        match serde_json::to_string_pretty(value) {
            Ok(json) => Self::ok(json),
            Err(e) => Self::error(crate::errno::EIO, format!("cannot encode JSON: {e}")),
        }
    }

    /// Failure: `retval` is `-errno` (pass [`errno`] constants), `message` goes to stderr.
    pub fn error(errno: i32, message: impl Into<String>) -> Self {
        Self {
            retval: -errno.abs(),
            stdout: String::new(),
            stderr: message.into(),
        }
    }

    /// The same result with `message` on stderr.
    pub fn with_stderr(mut self, message: impl Into<String>) -> Self {
        self.stderr = message.into();
        self
    }

    /// Whether `retval` is 0.
    pub fn is_ok(&self) -> bool {
        self.retval == 0
    }
}

impl From<Error> for CommandResult {
    fn from(error: Error) -> Self {
        Self::error(error.errno(), error.message())
    }
}

impl Error {
    /// The message without the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound(m)
            | Error::Invalid(m)
            | Error::Denied(m)
            | Error::Unavailable(m)
            | Error::Internal(m) => m,
        }
    }

    /// The kind, spelled the same in every SDK: `not_found`, `invalid`, `denied`,
    /// `unavailable`, `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not_found",
            Error::Invalid(_) => "invalid",
            Error::Denied(_) => "denied",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The errno a command answers this error with: ENOENT, EINVAL, EACCES, EAGAIN, EIO.
    pub fn errno(&self) -> i32 {
        use crate::errno::*;
        match self {
            Error::NotFound(_) => ENOENT,
            Error::Invalid(_) => EINVAL,
            Error::Denied(_) => EACCES,
            Error::Unavailable(_) => EAGAIN,
            Error::Internal(_) => EIO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ceph_command_dicts() {
        let cmd = Command::parse(
            r#"{"prefix": "osd status", "bucket": "host-1", "n": "3", "format": "json"}"#,
        )
        .unwrap();
        assert_eq!(cmd.prefix(), "osd status");
        assert_eq!(cmd.str_arg("bucket"), Some("host-1"));
        assert_eq!(cmd.int_arg("n"), Some(3));
        assert_eq!(cmd.format(), Some(Format::Json));
        assert!(cmd.wants_json());
        assert!(Command::parse(r#"{"bucket": "x"}"#).is_err());
        assert!(Command::parse("[]").is_err());
    }

    #[test]
    fn errors_are_negative_errno() {
        assert_eq!(CommandResult::error(errno::EINVAL, "bad").retval, -22);
        assert_eq!(CommandResult::error(-errno::ENOENT, "gone").retval, -2);
        let from: CommandResult = Error::NotFound("x".into()).into();
        assert_eq!((from.retval, from.stderr.as_str()), (-2, "x"));
    }
}
