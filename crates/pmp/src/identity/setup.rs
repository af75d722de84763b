//! First run. There are no default credentials: until an administrator exists, each start-up
//! issues a fresh one-time setup token, prints the setup link with it, and stores only its
//! SHA-256 digest. The wizard at `/setup` accepts nothing without that token and closes for
//! good once the first administrator is created.

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use crate::db::{Db, DbError};
use crate::http::AppState;
use crate::settings::{self, Key};

const TOKEN_DIGEST: Key = Key("setup.token_sha256");
const COMPLETED_AT: Key = Key("setup.completed_at");

/// Setup routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// True once the first administrator exists.
pub async fn is_complete(db: &Db) -> Result<bool, DbError> {
    Ok(settings::get(db, COMPLETED_AT).await?.is_some())
}

/// Issues a fresh setup token when setup is still open, replacing any earlier one.
pub async fn issue_token(db: &Db) -> Result<Option<String>, DbError> {
    if is_complete(db).await? {
        return Ok(None);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    settings::set(db, TOKEN_DIGEST, &digest(&token)).await?;
    Ok(Some(token))
}

/// The link a person opens to run the wizard.
pub fn link(base_url: &str, token: &str) -> String {
    format!("{}/setup?token={token}", base_url.trim_end_matches('/'))
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` is the one most recently issued; compares digests in constant time.
pub async fn token_matches(db: &Db, token: &str) -> Result<bool, DbError> {
    let Some(stored) = settings::get(db, TOKEN_DIGEST).await? else {
        return Ok(false);
    };
    let given = digest(token);
    Ok(stored.len() == given.len()
        && stored
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0)
}
