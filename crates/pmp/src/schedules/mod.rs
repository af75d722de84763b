//! Schedules: cron expressions with a time zone that fire power actions or snapshots (with
//! retention) over guests or pools as bulk jobs, exactly once per tick however many
//! instances run, with a preview of the next runs, and pause and resume.

mod api;
pub mod cron;
pub mod fire;
mod page;
pub mod store;

/// Schedule routes.
pub fn routes<S>() -> crate::access::routes::Routes<S>
where
    S: Clone + Send + Sync + 'static,
    crate::inventory::InventoryState: axum::extract::FromRef<S>,
{
    api::routes().merge(page::routes())
}
