//! Sources of cluster state. Each feeds a [`crate::cluster::Cluster`] through
//! [`crate::cluster::Cluster::publish`].
//!
//! - [`sim`]: a deterministic, seeded simulated cluster that moves on its own and takes
//!   faults and commands.

pub mod sim;
mod sim_commands;
mod sim_perf;
mod sim_text;
