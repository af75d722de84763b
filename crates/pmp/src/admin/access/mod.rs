//! Access administration: the roles, groups and ACL API (`api`) and the "Access" page
//! (`page`), both changing things through `access::admin` and recording security events.

mod api;
mod page;

use axum::extract::FromRef;

use crate::access::routes::Routes;
use crate::inventory::InventoryState;

/// Access-administration routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    InventoryState: FromRef<S>,
{
    api::routes().merge(page::routes())
}
