//! Guests (QEMU VMs and LXC containers) across every server: the permission-filtered list
//! from the live inventory, one guest's details, and every operation as a job that follows
//! its PVE task.

mod actions;
mod api;
mod bulk;
pub mod jobs;
pub mod list;
pub mod ops;
mod page;

/// Guest routes.
pub fn routes<S>() -> crate::access::routes::Routes<S>
where
    S: Clone + Send + Sync + 'static,
    crate::servers::ServersState: axum::extract::FromRef<S>,
{
    api::routes().merge(actions::routes()).merge(page::routes())
}
