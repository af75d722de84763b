//! The job engine: every long operation runs as a job that survives restarts and crashes.
//! `queue` is the durable store (claims, leases, retries, cancellation) on both engines;
//! `worker` runs claimed jobs with their kind's handler.

pub mod queue;
pub mod worker;
