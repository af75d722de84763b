//! The audit trail: security events in a hash chain (`chain`), an entry for every
//! state-changing request (`requests`), and the API that searches and exports them (`api`)
//! for holders of `audit.view`; `syslog` forwards the chain to a SIEM.

mod api;
mod chain;
pub mod events;
mod page;
pub mod requests;
pub mod syslog;

pub use chain::{Broken, Entry, append, verify};

/// Audit routes.
pub fn routes() -> crate::http::access::Routes {
    api::routes().merge(page::routes())
}
