//! Every value the database holds sealed with the data key (server credentials, TOTP seeds),
//! where each one lives and what it is bound to; the start-up check that the configured key
//! opens them (a missing or wrong key stops start-up instead of failing later, one server at a
//! time); and `pmp rotate-key`, which re-seals them all under a new key in one transaction.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;

use crate::db::{BeginWrite as _, Db, DbError};
use crate::ids::ServerId;
use crate::secrets::{KeyError, Keys};
use crate::with_pool;

/// One column of sealed values.
struct Site {
    select: &'static str,
    update: &'static str,
    purpose: fn(&str) -> String,
}

fn server_secret(id: &str) -> String {
    ServerId::parse(id).map_or_else(
        |_| String::new(),
        |id| crate::servers::store::purpose(&id, "secret"),
    )
}

fn server_totp(id: &str) -> String {
    ServerId::parse(id).map_or_else(
        |_| String::new(),
        |id| crate::servers::store::purpose(&id, "totp"),
    )
}

const SITES: [Site; 4] = [
    Site {
        select: "SELECT id, secret FROM servers ORDER BY id",
        update: "UPDATE servers SET secret = $2 WHERE id = $1",
        purpose: server_secret,
    },
    Site {
        select: "SELECT id, totp FROM servers WHERE totp IS NOT NULL ORDER BY id",
        update: "UPDATE servers SET totp = $2 WHERE id = $1",
        purpose: server_totp,
    },
    Site {
        select: "SELECT user_id, secret_enc FROM totp ORDER BY user_id",
        update: "UPDATE totp SET secret_enc = $2 WHERE user_id = $1",
        purpose: crate::identity::second_factor::totp::purpose,
    },
    Site {
        select: "SELECT id, secret FROM notification_channels WHERE secret IS NOT NULL ORDER BY id",
        update: "UPDATE notification_channels SET secret = $2 WHERE id = $1",
        purpose: crate::alerts::channels::purpose,
    },
];

/// Why the key could not be checked or rotated.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl From<sqlx::Error> for SealError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::from(e))
    }
}

/// Refuses a data key that does not open the stored secrets (one of each kind is tried).
pub async fn check(db: &Db, keys: &Keys) -> Result<(), SealError> {
    for site in &SITES {
        let rows: Vec<(String, String)> =
            with_pool!(db, pool => sqlx::query_as(site.select).fetch_all(pool).await?);
        if let Some((id, sealed)) = rows.first()
            && keys.open(&(site.purpose)(id), sealed).is_err()
        {
            return Err(KeyError::WrongDataKey.into());
        }
    }
    Ok(())
}

/// A new random data key, in the form key files hold.
pub fn new_key() -> ([u8; 32], String) {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let text = STANDARD.encode(key);
    (key, text)
}

/// Re-seals every stored secret from `old` to `new` in one transaction; returns how many.
/// Nothing changes if any value does not open with `old`.
pub async fn reseal(db: &Db, old: &Keys, new: &Keys) -> Result<usize, SealError> {
    let mut count = 0;
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        for site in &SITES {
            let rows: Vec<(String, String)> = sqlx::query_as(site.select).fetch_all(&mut *tx).await?;
            for (id, sealed) in rows {
                let purpose = (site.purpose)(&id);
                let plain = old.open(&purpose, &sealed).map_err(|_| KeyError::WrongDataKey)?;
                sqlx::query(site.update).bind(&id).bind(new.seal(&purpose, &plain)).execute(&mut *tx).await?;
                count += 1;
            }
        }
        tx.commit().await?;
    });
    Ok(count)
}
