//! What every source of cluster state shares: [`ClusterSource`], the command
//! answer ([`CommandOutput`]), where a command goes ([`CommandDest`]) and Ceph's
//! errno values. Each source feeds a [`crate::Cluster`] through
//! [`crate::Cluster::publish`]; the sources themselves live in crates of their own.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::command::CommandTable;

/// ceph-mgr's `(retval, outb, outs)`: what a command printed and returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// 0 or a negative errno.
    pub retval: i32,
    /// Output data (`outb`).
    pub stdout: String,
    /// Status text (`outs`).
    pub stderr: String,
}

impl CommandOutput {
    /// Success with output data and status text.
    pub fn ok(stdout: impl Into<String>, stderr: impl Into<String>) -> CommandOutput {
        CommandOutput {
            retval: 0,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    /// Failure with a negative errno and Ceph's message.
    pub fn err(retval: i32, stderr: impl Into<String>) -> CommandOutput {
        CommandOutput {
            retval,
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }
}

/// Negative errno values as Ceph returns them.
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i32 = -1;
    /// No such entity.
    pub const ENOENT: i32 = -2;
    /// I/O error.
    pub const EIO: i32 = -5;
    /// Try again.
    pub const EAGAIN: i32 = -11;
    /// Busy.
    pub const EBUSY: i32 = -16;
    /// Already exists.
    pub const EEXIST: i32 = -17;
    /// Invalid argument.
    pub const EINVAL: i32 = -22;
    /// Out of range.
    pub const ERANGE: i32 = -34;
    /// Not connected.
    pub const ENOTCONN: i32 = -107;
}

/// Where a cluster command goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandDest {
    /// The monitors.
    Mon,
    /// The cluster's active manager (a real cluster's ceph-mgr).
    Mgr,
    /// One OSD.
    Osd(i32),
}

/// OSD commands (`tell osd.N ...`) that only read; every other one changes
/// something and must be granted.
const OSD_READS: &[&str] = &[
    "perf dump",
    "perf schema",
    "perf histogram dump",
    "status",
    "version",
    "config show",
    "config get",
    "config diff",
    "dump_ops_in_flight",
    "dump_historic_ops",
    "dump_blocked_ops",
    "get_command_descriptions",
];

/// Where the cluster state comes from and where cluster commands go: the simulated
/// cluster or a real one. Each publishes into a [`crate::Cluster`] on its own; the
/// runtime and the API only send commands through this.
pub trait ClusterSource: Send + Sync + 'static {
    /// Runs a command given as Ceph's JSON dict (`{"prefix": "osd down", "ids":
    /// ["3"]}`) and answers as Ceph does.
    fn command<'a>(
        &'a self,
        dest: CommandDest,
        cmd: &'a Value,
        inbuf: &'a str,
    ) -> BoxFuture<'a, CommandOutput>;

    /// The commands the monitors (or the manager) take, with their permissions.
    fn commands(&self, dest: CommandDest) -> Arc<CommandTable>;

    /// Whether the cluster has a manager of its own that takes `mgr` commands no
    /// module here declares (a real cluster's ceph-mgr; the sim has none).
    fn has_manager(&self) -> bool;

    /// Stops moving or following the cluster (the last state stays published).
    fn stop(&self);

    /// Whether `cmd` only reads (Ceph's permission `r`), going by the commands the
    /// cluster declares; an unknown command counts as one that writes.
    fn is_read_only(&self, dest: CommandDest, cmd: &Value) -> bool {
        match dest {
            CommandDest::Osd(_) => cmd
                .get("prefix")
                .and_then(Value::as_str)
                .is_some_and(|p| OSD_READS.contains(&p)),
            _ => self.commands(dest).perm(cmd) == Some("r"),
        }
    }
}
