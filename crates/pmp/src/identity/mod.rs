//! Who people are: the first-run setup token and wizard, users, passwords, sign-in and
//! browser sessions.

mod account;
mod account_totp;
pub mod admin_cli;
mod api;
pub mod api_tokens;
mod api_tokens_routes;
mod authenticate;
pub mod guard;
pub mod jwt;
mod login;
pub mod password;
pub mod principal;
pub mod refresh;
pub mod sessions;
mod sessions_page;
pub mod setup;
pub mod throttle;
pub mod totp;
pub mod users;
pub mod users_admin;
mod users_page;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use std::sync::Arc;

use axum::extract::FromRef;

use crate::access::routes::Routes;
use crate::db::Db;
use crate::identity::jwt::TokenPolicy;
use crate::identity::sessions::SessionPolicy;
use crate::secrets::Keys;

/// What identity's handlers and extractors use: the database, the keys (JWT, sealed TOTP
/// seeds) and how sessions and tokens live.
#[derive(Debug, Clone)]
pub struct IdentityState {
    /// The database.
    pub db: Db,
    /// The JWT secret and the data key.
    pub keys: Arc<Keys>,
    /// How browser sessions live and are sent.
    pub sessions: SessionPolicy,
    /// How long API tokens live.
    pub tokens: TokenPolicy,
}

/// Identity routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    setup::routes()
        .merge(api::routes())
        .merge(account::routes())
        .merge(account_totp::routes())
        .merge(api_tokens_routes::routes())
        .merge(users_admin::routes())
        .merge(users_page::routes())
        .merge(login::routes())
        .merge(sessions_page::routes())
}

/// 32 random bytes in URL-safe base64: session ids, refresh tokens, setup tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a random token, as stored: tokens are stored only this way, so a copy of
/// the database opens nothing. (Random tokens need no slow hash; passwords do.)
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in constant time (the length is not secret).
pub fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
