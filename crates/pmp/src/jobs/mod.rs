//! The job engine: every long operation runs as a job that survives restarts and crashes.
//! `queue` is the durable store (claims, leases, retries, cancellation) on both engines.

pub mod queue;
