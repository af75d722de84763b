//! The audit trail for holders of `audit.view`: the API that searches and exports it (`api`)
//! and the page (`page`).

mod api;
mod page;

use axum::extract::FromRef;

use crate::access::routes::Routes;
use crate::inventory::InventoryState;

/// Audit routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    InventoryState: FromRef<S>,
{
    api::routes().merge(page::routes())
}
