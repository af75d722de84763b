//! The job engine: every long operation runs as a job that survives restarts and crashes.
//! `queue` is the durable store (claims, leases, retries, cancellation) on both engines;
//! `worker` runs claimed jobs with their kind's handler.

mod api;
pub mod bulk;
mod page;
pub mod queue;
pub mod visibility;
pub mod worker;

/// Job routes.
pub fn routes<S>() -> crate::access::routes::Routes<S>
where
    S: Clone + Send + Sync + 'static,
    crate::db::Db: axum::extract::FromRef<S>,
{
    api::routes().merge(page::routes())
}
