//! Who people are: the first-run setup token and wizard, users, passwords, sign-in and
//! browser sessions.

pub mod admin_cli;
mod login;
pub mod password;
pub mod sessions;
mod sessions_page;
pub mod setup;
pub mod throttle;
pub mod users;

use axum::Router;

use crate::http::AppState;

/// Identity routes.
pub fn routes() -> Router<AppState> {
    setup::routes()
        .merge(login::routes())
        .merge(sessions_page::routes())
}

/// Compares two secrets in constant time (the length is not secret).
pub fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
