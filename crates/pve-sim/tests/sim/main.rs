//! The simulator's integration tests, over real HTTPS: schema conformance and tasks.

// Test helpers fail loudly on purpose; a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cli;
mod conformance;
mod inventory;
mod offshelf;
mod support;
mod tasks;
