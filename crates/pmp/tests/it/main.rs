//! The portal's integration tests: one binary, each test starting the real app on a random
//! port against a fresh SQLite file or a fresh PostgreSQL database.

// Test helpers fail loudly on purpose; a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod account;
mod alerts;
mod alerts_inventory;
mod alerts_page;
mod api_auth;
mod audit;
mod audit_coverage;
mod audit_secrets;
mod backup;
mod browser;
mod browser_audit;
mod browser_guests;
mod browser_jobs;
mod browser_totp;
mod cli;
mod cli_keys;
mod cli_users;
mod forms;
mod guests;
mod headers;
mod jobs;
mod jobs_api;
mod layers;
mod login;
mod matrix;
mod metrics;
mod openapi;
mod pve;
mod pve_jobs;
mod routes;
mod schedules;
mod schema;
mod servers;
mod setup;
mod store;
mod support;
mod syslog;
mod throttle;
mod users_admin;
mod worker;
