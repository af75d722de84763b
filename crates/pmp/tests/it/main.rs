//! The portal's integration tests: one binary, each test starting the real app on a random
//! port against a fresh SQLite file or a fresh PostgreSQL database.

mod browser;
mod cli;
mod headers;
mod schema;
mod store;
mod support;
