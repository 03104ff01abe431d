//! Sources of cluster state. Each feeds a [`crate::cluster::Cluster`] through
//! [`crate::cluster::Cluster::publish`] and takes the commands modules and operators
//! send to the cluster.
//!
//! - [`sim`]: a deterministic, seeded simulated cluster that moves on its own and takes
//!   faults and commands.
//! - [`ceph`]: a real cluster through librados.

pub mod ceph;
pub mod sim;
mod sim_commands;
mod sim_perf;
mod sim_text;

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::command::CommandTable;

use ceph::CephHandle;
use ceph::rados::Target;
use sim::SimHandle;

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

/// Where the cluster state comes from, and where cluster commands go.
#[derive(Debug)]
pub enum Source {
    /// The simulated cluster.
    Sim(SimHandle),
    /// A real cluster.
    Ceph(CephHandle),
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

impl Source {
    /// Run a command given as Ceph's JSON dict (`{"prefix": "osd down", "ids":
    /// ["3"]}`) and answer as Ceph does.
    pub async fn command(&self, dest: CommandDest, cmd: &Value, inbuf: &str) -> CommandOutput {
        match (self, dest) {
            (Source::Sim(sim), CommandDest::Mon) => sim.command(cmd, inbuf).await,
            (Source::Sim(_), CommandDest::Mgr) => CommandOutput::err(
                errno::ENOENT,
                "the simulated cluster has no manager of its own",
            ),
            (Source::Ceph(c), CommandDest::Mgr) => c.command(Target::Mgr, cmd, inbuf).await,
            (Source::Sim(sim), CommandDest::Osd(id)) => {
                let mut cmd = cmd.clone();
                cmd["target"] = Value::String(format!("osd.{id}"));
                sim.command(&cmd, inbuf).await
            }
            (Source::Ceph(c), CommandDest::Mon) => c.command(Target::Mon, cmd, inbuf).await,
            (Source::Ceph(c), CommandDest::Osd(id)) => c.command(Target::Osd(id), cmd, inbuf).await,
        }
    }

    /// Whether `cmd` only reads (Ceph's permission `r`), going by the commands the
    /// cluster (or the sim) declares; an unknown command counts as one that writes.
    pub fn is_read_only(&self, dest: CommandDest, cmd: &Value) -> bool {
        match dest {
            CommandDest::Osd(_) => cmd
                .get("prefix")
                .and_then(Value::as_str)
                .is_some_and(|p| OSD_READS.contains(&p)),
            _ => self.commands(dest).perm(cmd) == Some("r"),
        }
    }

    /// The commands the monitors (or the manager) take, with their permissions.
    pub fn commands(&self, dest: CommandDest) -> Arc<CommandTable> {
        static SIM: OnceLock<Arc<CommandTable>> = OnceLock::new();
        match (self, dest) {
            (Source::Sim(_), CommandDest::Mgr) => Arc::default(),
            (Source::Sim(_), _) => Arc::clone(SIM.get_or_init(|| Arc::new(sim::command_table()))),
            (Source::Ceph(c), CommandDest::Mgr) => c.mgr_commands(),
            (Source::Ceph(c), _) => c.mon_commands(),
        }
    }

    /// Stop moving or following the cluster (the last state stays published).
    pub fn stop(&self) {
        match self {
            Source::Sim(sim) => sim.stop(),
            Source::Ceph(c) => c.stop(),
        }
    }
}
