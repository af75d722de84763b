//! Proxmox VE API client, the only way the portal reaches PVE: TLS trust per node (pinned
//! fingerprint, CA bundle or system roots; never "accept anything"), API-token or ticket
//! authentication with renewal and the TOTP step, fail-over between cluster members, bounded
//! retries for reads, typed models, guests found where they are now, tasks followed to the
//! end, a permission self-test, and errors that say in one sentence what happened.
//! Knows nothing of the portal.

mod auth;
mod client;
mod cluster;
mod console;
mod de;
mod error;
mod guests;
mod metrics;
mod models;
mod permissions;
mod provision;
mod storage;
mod tasks;
mod tls;

pub use auth::Auth;
pub use client::{Client, Member, Observer, Options};
pub use cluster::{DiscoveredMember, probe_fingerprint};
pub use console::{ConsoleKind, ConsoleTicket};
pub use error::Error;
pub use guests::{GuestKind, GuestLocation, PowerAction, valid_node, valid_snapshot_name};
pub use metrics::{RrdPoint, Timeframe};
pub use models::{
    ClusterStatusEntry, GuestConfig, GuestStatus, LogLine, Resource, ResourceKind, SnapshotEntry,
    TaskStatus, Version,
};
pub use permissions::{Feature, Missing, SelfTest, grant_commands};
pub use provision::{CloneRequest, ConfigEdit};
pub use storage::{BackupMode, ContentKind, Pool, StorageContent, StorageStatus};
pub use tasks::{Outcome, Upid, UpidError};
pub use tls::{Fingerprint, FingerprintError, Trust};
