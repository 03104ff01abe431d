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

use serde_json::Value;

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
    /// One OSD.
    Osd(i32),
}

impl Source {
    /// Run a command given as Ceph's JSON dict (`{"prefix": "osd down", "ids":
    /// ["3"]}`) and answer as Ceph does.
    pub async fn command(&self, dest: CommandDest, cmd: &Value, inbuf: &str) -> CommandOutput {
        match (self, dest) {
            (Source::Sim(sim), CommandDest::Mon) => sim.command(cmd, inbuf).await,
            (Source::Sim(sim), CommandDest::Osd(id)) => {
                let mut cmd = cmd.clone();
                cmd["target"] = Value::String(format!("osd.{id}"));
                sim.command(&cmd, inbuf).await
            }
            (Source::Ceph(c), CommandDest::Mon) => c.command(Target::Mon, cmd, inbuf).await,
            (Source::Ceph(c), CommandDest::Osd(id)) => c.command(Target::Osd(id), cmd, inbuf).await,
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
