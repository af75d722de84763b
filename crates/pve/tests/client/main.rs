//! The client against the simulator over real HTTPS: trust, authentication, clusters, tasks,
//! faults and the permission self-test.

// Test helpers fail loudly on purpose; a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cluster;
mod faults;
mod inventory;
mod support;
mod tasks;
mod trust;
