//! Ceph's wire protocol in Rust, on tokio: the encoding, messenger v2 (revision
//! 1, crc and secure modes), cephx client authentication, and a monitor client
//! that follows a cluster by subscription.
//!
//! Layers, each using only those above it: [`encoding`] and [`types`]
//! (bytes), [`crypto`] (keys and ciphers), [`frame`] (msgr2 frames), [`cephx`]
//! (tickets), [`message`] (what the daemons send), [`conn`] (a session),
//! [`monclient`] (hunting, subscriptions, commands), and [`conf`] (reading
//! `ceph.conf` and keyrings).
//!
//! Only the connecting side exists today; a session's frame and message layers
//! do not depend on which side opened it, so the accepting side (daemons
//! connecting to a manager) can grow beside [`conn`].

pub mod cephx;
pub mod conf;
pub mod conn;
pub mod crypto;
pub mod encoding;
pub mod frame;
pub mod message;
pub mod monclient;
pub mod types;

pub use monclient::{CommandError, Event, Feed, MonClient, MonClientConfig, Target};

/// An errno's symbolic name (`EPERM`), or its number.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        11 => "EAGAIN",
        13 => "EACCES",
        16 => "EBUSY",
        17 => "EEXIST",
        22 => "EINVAL",
        95 => "EOPNOTSUPP",
        110 => "ETIMEDOUT",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}
