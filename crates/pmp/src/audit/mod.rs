//! The audit trail: security events in a hash chain (`chain`), and the API that searches and
//! exports them (`api`) for holders of `audit.view`.

mod api;
mod chain;

pub use chain::{Broken, Entry, append, verify};

/// Audit routes.
pub fn routes() -> crate::http::access::Routes {
    api::routes()
}
