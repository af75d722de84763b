//! A simulated Proxmox VE cluster served over HTTPS with a self-signed certificate, speaking
//! PVE's `/api2/json` protocol closely enough that a client proven against it works against a
//! real cluster. Used by tests, `pmp demo` and benchmarks.

mod api;
mod auth;
mod control;
mod faults;
mod guests;
mod perms;
mod scenario;
mod servers;
mod state;
mod storage;
mod tasks;
mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub use api::{Check, Endpoint, endpoints};
pub use faults::Fault;
pub use guests::{Guest, GuestKind, Snapshot};
pub use perms::{AclEntry, PRIVILEGES, Privs};
pub use scenario::Scenario;
pub use servers::{NodeInfo, Simulator};
pub use state::{Cluster, Node, Seed};
pub use storage::Backup;
pub use tasks::{Task, Upid, UpidError};
pub use tls::{Certificate, fingerprint_of};

/// How to build the simulated cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address of the first node; the others take the next free ports (port 0: any free one).
    pub listen: SocketAddr,
    /// Address of the fault-injection control endpoint (plain HTTP; keep it on loopback).
    pub control_listen: SocketAddr,
    /// Cluster name, node count, guest count and generator seed.
    pub seed: Seed,
    /// API token accepted with full rights: `(token id "user@realm!name", secret UUID)`.
    pub token: (String, String),
    /// How long each task (start, stop, ...) runs before it ends.
    pub task_duration: Duration,
    /// `root@pam`'s password for ticket logins.
    pub root_password: String,
    /// How long a ticket (and CSRF token) stays valid; PVE's is two hours.
    pub ticket_lifetime: Duration,
}

/// `n` random bytes as hex.
fn random_hex(n: usize) -> String {
    use rand::RngCore as _;
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A random secret in the UUID layout PVE uses for token secrets.
fn random_uuid() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Credentials are random unless set: a simulator has no well-known password either.
impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            control_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Seed {
                name: "sim".to_owned(),
                nodes: 3,
                guests: 20,
                seed: 42,
            },
            token: ("root@pam!pmp".to_owned(), random_uuid()),
            task_duration: Duration::from_secs(2),
            root_password: random_hex(12),
            ticket_lifetime: Duration::from_secs(2 * 60 * 60),
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("cannot create the simulator's TLS certificate: {0}")]
    Tls(String),
    #[error("{0}")]
    Refused(String),
}

/// Lock helpers that survive a poisoned lock: a panicked request must not take the whole
/// simulated cluster down with it.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// State every node's listener and the control endpoint share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cluster: Arc<Cluster>,
    pub access: RwLock<perms::Access>,
    pub tickets: auth::Tickets,
    pub faults: Arc<faults::Faults>,
    pub task_duration: Duration,
    pub certificates: std::sync::Mutex<std::collections::BTreeMap<String, servers::NodeTls>>,
}
