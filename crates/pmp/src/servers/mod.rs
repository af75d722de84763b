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

pub use api::{client, record, upstream};

/// Server routes.
pub fn routes() -> crate::http::access::Routes {
    api::routes().merge(page::routes()).merge(storage::routes())
}
