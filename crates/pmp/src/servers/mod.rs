//! Proxmox VE servers: onboarding with certificate pinning (trust on first use of the entry
//! node only; every other member's certificate comes from the cluster over that trusted
//! connection), credentials sealed at rest, the permission self-test, and re-pinning after
//! a certificate rotation.

pub mod address;
mod api;
pub mod connect;
mod onboarding;
mod page;
pub mod storage;
pub mod store;

mod poller;

use std::sync::Arc;

use crate::db::Db;
use crate::inventory::Inventory;
use crate::secrets::Keys;
use crate::ui::chart::RrdCache;

pub use api::{client, record, upstream};
pub use poller::{start, supervise};

/// What the features that reach Proxmox VE use (servers, and guests on them): the database,
/// the key that opens the sealed credentials, the live inventory and the shared graph cache.
#[derive(Debug, Clone)]
pub struct ServersState {
    /// The database.
    pub db: Db,
    /// The data key.
    pub keys: Arc<Keys>,
    /// The live inventory of every server.
    pub inventory: Inventory,
    /// Graph data shared by every viewer for a short while.
    pub rrd: Arc<RrdCache>,
}

/// Server routes.
pub fn routes<S>() -> crate::access::routes::Routes<S>
where
    S: Clone + Send + Sync + 'static,
    ServersState: axum::extract::FromRef<S>,
{
    api::routes().merge(page::routes()).merge(storage::routes())
}
