//! Who people are, in sub-features: first-run `setup`, `signin` and passwords, browser
//! `sessions` (and the `Viewer` of a page), API `tokens` (access, refresh, personal),
//! `second_factor`, and `users` and their administration. `principal` says who calls the API,
//! whatever the credential.

pub mod principal;
pub mod second_factor;
pub mod sessions;
pub mod setup;
pub mod signin;
pub mod tokens;
pub mod users;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use std::sync::Arc;

use axum::extract::FromRef;

use crate::access::routes::Routes;
use crate::db::Db;
use crate::identity::sessions::SessionPolicy;
use crate::identity::tokens::jwt::TokenPolicy;
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
        .merge(tokens::routes())
        .merge(signin::routes())
        .merge(second_factor::routes())
        .merge(sessions::routes())
        .merge(users::routes())
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
