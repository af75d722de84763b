//! Who people are: the first-run setup token and wizard, and (as the identity work lands)
//! users, passwords and sessions.

pub mod password;
pub mod setup;
pub mod users;

use axum::Router;

use crate::http::AppState;

/// Identity routes.
pub fn routes() -> Router<AppState> {
    setup::routes()
}
