//! What the code `#[commands]` generates calls: argument types as ceph names them,
//! the signature string, and handler results. Not for use by hand.

use serde_json::Value;

#[cfg(test)]
use crate::Error;
use crate::{Command, CommandResult, errno};

/// How one argument appears in ceph's signature syntax.
#[derive(Clone, Copy, Debug)]
pub struct ArgSpec {
    /// `CephString`, `CephInt`, `CephFloat`, `CephBool`.
    pub ceph_type: &'static str,
    /// `req=false` when false.
    pub required: bool,
    /// `n=N`: every remaining word.
    pub many: bool,
}

impl ArgSpec {
    const fn scalar(ceph_type: &'static str) -> Self {
        Self {
            ceph_type,
            required: true,
            many: false,
        }
    }
}

/// A handler parameter taken from the command dict.
pub trait FromArg<'a>: Sized {
    /// The argument's type in the signature.
    const SPEC: ArgSpec;
    /// The value of argument `name` in `command`, or the answer saying why it is missing or bad.
    fn from_arg(command: &'a Command, name: &str) -> Result<Self, CommandResult>;
}

/// One value of an argument, from its JSON.
pub trait FromValue<'a>: Sized {
    /// `CephString`, `CephInt`, ...
    const CEPH_TYPE: &'static str;
    /// The value, if the JSON has the right type (numbers may come as strings).
    fn from_value(value: &'a Value) -> Option<Self>;
}

fn missing(name: &str) -> CommandResult {
    CommandResult::error(errno::EINVAL, format!("missing argument {name}"))
}

fn invalid(name: &str, ceph_type: &str, value: &Value) -> CommandResult {
    CommandResult::error(
        errno::EINVAL,
        format!("argument {name}: {value} is not a {ceph_type}"),
    )
}

/// The argument's JSON, none if absent or null.
fn present<'a>(command: &'a Command, name: &str) -> Option<&'a Value> {
    command.arg(name).filter(|v| !v.is_null())
}

fn scalar<'a, T: FromValue<'a>>(command: &'a Command, name: &str) -> Result<T, CommandResult> {
    let value = present(command, name).ok_or_else(|| missing(name))?;
    T::from_value(value).ok_or_else(|| invalid(name, T::CEPH_TYPE, value))
}

impl<'a> FromValue<'a> for &'a str {
    const CEPH_TYPE: &'static str = "CephString";
    fn from_value(value: &'a Value) -> Option<Self> {
        value.as_str()
    }
}

impl<'a> FromValue<'a> for String {
    const CEPH_TYPE: &'static str = "CephString";
    fn from_value(value: &'a Value) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
}

impl<'a> FromValue<'a> for f64 {
    const CEPH_TYPE: &'static str = "CephFloat";
    fn from_value(value: &'a Value) -> Option<Self> {
        match value {
            Value::String(s) => s.parse().ok(),
            value => value.as_f64(),
        }
    }
}

impl<'a> FromValue<'a> for bool {
    const CEPH_TYPE: &'static str = "CephBool";
    fn from_value(value: &'a Value) -> Option<Self> {
        match value {
            Value::String(s) => s.parse().ok(),
            value => value.as_bool(),
        }
    }
}

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl<'a> FromValue<'a> for $t {
            const CEPH_TYPE: &'static str = "CephInt";
            fn from_value(value: &'a Value) -> Option<Self> {
                let wide: i64 = match value {
                    Value::String(s) => s.parse().ok()?,
                    value => value.as_i64()?,
                };
                wide.try_into().ok()
            }
        }
    )*};
}
integer!(i64, i32, u32, u64, usize);

macro_rules! required_scalar {
    ($($t:ty),*) => {$(
        impl<'a> FromArg<'a> for $t {
            const SPEC: ArgSpec = ArgSpec::scalar(<$t as FromValue>::CEPH_TYPE);
            fn from_arg(command: &'a Command, name: &str) -> Result<Self, CommandResult> {
                scalar(command, name)
            }
        }
    )*};
}
required_scalar!(String, f64, i64, i32, u32, u64, usize);

impl<'a> FromArg<'a> for &'a str {
    const SPEC: ArgSpec = ArgSpec::scalar("CephString");
    fn from_arg(command: &'a Command, name: &str) -> Result<Self, CommandResult> {
        scalar(command, name)
    }
}

/// A flag: `--name` sets it; absent is false.
impl<'a> FromArg<'a> for bool {
    const SPEC: ArgSpec = ArgSpec {
        ceph_type: "CephBool",
        required: false,
        many: false,
    };
    fn from_arg(command: &'a Command, name: &str) -> Result<Self, CommandResult> {
        match present(command, name) {
            None => Ok(false),
            Some(_) => scalar(command, name),
        }
    }
}

/// `n=N`: the argument takes every remaining word.
impl<'a, T: FromValue<'a>> FromArg<'a> for Vec<T> {
    const SPEC: ArgSpec = ArgSpec {
        ceph_type: T::CEPH_TYPE,
        required: true,
        many: true,
    };
    fn from_arg(command: &'a Command, name: &str) -> Result<Self, CommandResult> {
        let value = present(command, name).ok_or_else(|| missing(name))?;
        match value {
            Value::Array(items) => items
                .iter()
                .map(|item| T::from_value(item).ok_or_else(|| invalid(name, T::CEPH_TYPE, item)))
                .collect(),
            single => Ok(vec![
                T::from_value(single).ok_or_else(|| invalid(name, T::CEPH_TYPE, single))?,
            ]),
        }
    }
}

/// `req=false`: none when the operator left it out.
impl<'a, T: FromArg<'a>> FromArg<'a> for Option<T> {
    const SPEC: ArgSpec = ArgSpec {
        required: false,
        ..T::SPEC
    };
    fn from_arg(command: &'a Command, name: &str) -> Result<Self, CommandResult> {
        match present(command, name) {
            None => Ok(None),
            Some(_) => T::from_arg(command, name).map(Some),
        }
    }
}

/// The command's signature in ceph's syntax: `prefix name=x,type=CephString,req=false ...`.
pub fn signature(prefix: &str, args: &[(&str, ArgSpec, &[&str])]) -> String {
    let mut text = prefix.to_owned();
    for (name, spec, choices) in args {
        text.push_str(&format!(" name={name},type="));
        if choices.is_empty() {
            text.push_str(spec.ceph_type);
        } else {
            text.push_str(&format!("CephChoices,strings={}", choices.join("|")));
        }
        if spec.many {
            text.push_str(",n=N");
        }
        if !spec.required {
            text.push_str(",req=false");
        }
    }
    text
}

/// What a command handler may return: a [`CommandResult`], text (success), or a
/// `Result` whose error converts into one (a host [`Error`](crate::Error) answers its errno).
pub trait IntoCommandResult {
    /// The answer the host gets.
    fn into_command_result(self) -> CommandResult;
}

impl IntoCommandResult for CommandResult {
    fn into_command_result(self) -> CommandResult {
        self
    }
}

impl IntoCommandResult for String {
    fn into_command_result(self) -> CommandResult {
        CommandResult::ok(self)
    }
}

impl IntoCommandResult for &str {
    fn into_command_result(self) -> CommandResult {
        CommandResult::ok(self)
    }
}

impl<T: IntoCommandResult, E: Into<CommandResult>> IntoCommandResult for Result<T, E> {
    fn into_command_result(self) -> CommandResult {
        match self {
            Ok(answer) => answer.into_command_result(),
            Err(failure) => failure.into(),
        }
    }
}

/// The answer to a prefix no handler serves.
pub fn unknown_command(command: &Command) -> CommandResult {
    CommandResult::error(
        errno::EINVAL,
        format!("unknown command: {}", command.prefix()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn spec<'a, T: FromArg<'a>>() -> ArgSpec {
        T::SPEC
    }

    #[test]
    fn signatures_follow_the_parameter_types() {
        let sig = signature(
            "probe store",
            &[
                ("key", spec::<&str>(), &[]),
                ("n", spec::<Option<i64>>(), &[]),
                ("ratio", spec::<f64>(), &[]),
                ("verbose", spec::<bool>(), &[]),
                ("ids", spec::<Vec<String>>(), &[]),
                ("detail", spec::<Option<String>>(), &["detail"]),
            ],
        );
        assert_eq!(
            sig,
            "probe store name=key,type=CephString name=n,type=CephInt,req=false \
             name=ratio,type=CephFloat name=verbose,type=CephBool,req=false \
             name=ids,type=CephString,n=N \
             name=detail,type=CephChoices,strings=detail,req=false"
        );
    }

    #[test]
    fn arguments_come_from_the_command_dict() {
        let cmd = Command::parse(
            r#"{"prefix": "x", "s": "a", "n": 3, "m": "4", "f": true, "ids": ["1", "2"]}"#,
        )
        .unwrap();
        assert_eq!(<&str>::from_arg(&cmd, "s").unwrap(), "a");
        assert_eq!(i64::from_arg(&cmd, "n").unwrap(), 3);
        assert_eq!(u32::from_arg(&cmd, "m").unwrap(), 4);
        assert!(bool::from_arg(&cmd, "f").unwrap());
        assert!(!bool::from_arg(&cmd, "absent").unwrap());
        assert_eq!(Option::<i64>::from_arg(&cmd, "absent").unwrap(), None);
        assert_eq!(Vec::<String>::from_arg(&cmd, "ids").unwrap(), ["1", "2"]);
        let missing = String::from_arg(&cmd, "absent").unwrap_err();
        assert_eq!(missing.retval, -errno::EINVAL);
        let wrong = i64::from_arg(&cmd, "s").unwrap_err();
        assert_eq!(wrong.retval, -errno::EINVAL);
    }

    #[test]
    fn results_convert() {
        assert_eq!("pong".into_command_result().stdout, "pong");
        let failed: Result<String, Error> = Err(Error::NotFound("gone".into()));
        assert_eq!(failed.into_command_result().retval, -errno::ENOENT);
    }

    /// A module declared the derived way, as an author writes one.
    #[derive(Default)]
    struct Demo;

    #[crate::commands]
    impl crate::Module for Demo {
        fn describe(&self) -> crate::ModuleInfo {
            crate::ModuleInfo::new("demo", "0.1.0").command("demo old", "By hand", "r")
        }

        /// Say hello
        /// to someone.
        #[read_command("demo hello")]
        fn hello(&self, who: Option<&str>, #[choices("loud")] mode: Option<String>) -> String {
            let text = format!("hello {}", who.unwrap_or("world"));
            if mode.is_some() {
                text.to_uppercase()
            } else {
                text
            }
        }

        /// Add numbers
        #[write_command("demo add")]
        async fn add(
            &self,
            n: Vec<i64>,
            inbuf: &str,
            format: Option<crate::Format>,
        ) -> CommandResult {
            let sum: i64 = n.iter().sum();
            CommandResult::ok(format!("{sum} {inbuf} {format:?}"))
        }

        /// Fail as the host would
        #[command("demo fail", perm = "r")]
        fn fail(&self, command: &Command) -> crate::Result<String> {
            Err(Error::NotFound(command.prefix().to_owned()))
        }

        async fn handle_command(&self, command: &Command, _inbuf: &str) -> CommandResult {
            CommandResult::ok(format!("by hand: {}", command.prefix()))
        }
    }

    fn run(json: &str, inbuf: &str) -> CommandResult {
        use crate::Module;
        let command = Command::parse(json).unwrap();
        let future = std::pin::pin!(Demo.handle_command(&command, inbuf));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.poll(&mut context) {
            std::task::Poll::Ready(result) => result,
            std::task::Poll::Pending => panic!("a handler waited"),
        }
    }

    #[test]
    fn commands_are_derived_from_handlers() {
        use crate::Module;
        let info = Demo.describe();
        let commands: Vec<(&str, &str, &str)> = info
            .commands
            .iter()
            .map(|c| (c.cmd.as_str(), c.desc.as_str(), c.perm.as_str()))
            .collect();
        assert_eq!(
            commands,
            [
                ("demo old", "By hand", "r"),
                (
                    "demo hello name=who,type=CephString,req=false \
                     name=mode,type=CephChoices,strings=loud,req=false",
                    "Say hello to someone.",
                    "r"
                ),
                ("demo add name=n,type=CephInt,n=N", "Add numbers", "rw"),
                ("demo fail", "Fail as the host would", "r"),
            ]
        );
        assert_eq!(run(r#"{"prefix": "demo hello"}"#, "").stdout, "hello world");
        let loud = run(
            r#"{"prefix": "demo hello", "who": "osd", "mode": "loud"}"#,
            "",
        );
        assert_eq!(loud.stdout, "HELLO OSD");
        let sum = run(
            r#"{"prefix": "demo add", "n": [1, 2], "format": "json"}"#,
            "in",
        );
        assert_eq!(sum.stdout, "3 in Some(Json)");
        assert_eq!(run(r#"{"prefix": "demo add"}"#, "").retval, -errno::EINVAL);
        let failed = run(r#"{"prefix": "demo fail"}"#, "");
        assert_eq!(
            (failed.retval, failed.stderr.as_str()),
            (-errno::ENOENT, "demo fail")
        );
        assert_eq!(
            run(r#"{"prefix": "demo old"}"#, "").stdout,
            "by hand: demo old"
        );
    }
}
