//! Sign-in throttling, per account and per client address, counted in the database so every
//! instance agrees. Too many failures within the window lock that key for a while; the lock
//! is temporary, and the address limit is looser than the account limit so that one office
//! behind a single address is not locked out by one person's typos.

use sha2::{Digest, Sha256};

use crate::db::{Db, DbError};
use crate::settings::now;
use crate::with_pool;

/// How many failures a key may have in a window before it is locked, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Failures allowed within `window_secs`.
    pub failures: i64,
    /// Length of the counting window.
    pub window_secs: i64,
    /// How long the key stays locked once over the limit.
    pub lock_secs: i64,
}

/// Five failures in 15 minutes lock an account for 15 minutes.
pub const ACCOUNT: Limit = Limit {
    failures: 5,
    window_secs: 15 * 60,
    lock_secs: 15 * 60,
};

/// Thirty failures in 15 minutes lock an address for 15 minutes.
pub const ADDRESS: Limit = Limit {
    failures: 30,
    window_secs: 15 * 60,
    lock_secs: 15 * 60,
};

/// A throttled key: an account or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// The key for an account name as typed (so unknown names are throttled too). It is
    /// hashed: whatever was typed, NUL bytes and megabytes included, becomes 64 hex digits.
    pub fn account(username: &str) -> Self {
        let name = username.trim().to_lowercase();
        Self(format!(
            "account:{}",
            hex::encode(Sha256::digest(name.as_bytes()))
        ))
    }

    /// The key for a client address.
    pub fn address(ip: &str) -> Self {
        Self(format!("address:{ip}"))
    }
}

/// Seconds until `key` may try again, if it is locked now.
pub async fn locked_for(db: &Db, key: &Key) -> Result<Option<i64>, DbError> {
    const SQL: &str = "SELECT locked_until FROM throttle WHERE key = $1";
    let until: Option<i64> =
        with_pool!(db, pool => sqlx::query_scalar(SQL).bind(&key.0).fetch_optional(pool).await?);
    let now = now();
    Ok(until.filter(|u| *u > now).map(|u| u - now))
}

/// Counts a failure for `key`; true when this failure locked it.
pub async fn fail(db: &Db, key: &Key, limit: Limit) -> Result<bool, DbError> {
    // One statement, so concurrent failures from several instances all count.
    const SQL: &str = "INSERT INTO throttle (key, failures, window_start, locked_until) \
        VALUES ($1, 1, $2, 0) \
        ON CONFLICT (key) DO UPDATE SET \
          failures = CASE WHEN throttle.window_start <= $2 - $3 THEN 1 ELSE throttle.failures + 1 END, \
          window_start = CASE WHEN throttle.window_start <= $2 - $3 THEN $2 ELSE throttle.window_start END, \
          locked_until = CASE WHEN throttle.window_start > $2 - $3 AND throttle.failures + 1 >= $4 \
                              THEN $2 + $5 ELSE throttle.locked_until END \
        RETURNING locked_until";
    let now = now();
    let until: i64 = with_pool!(db, pool => sqlx::query_scalar(SQL)
        .bind(&key.0)
        .bind(now)
        .bind(limit.window_secs)
        .bind(limit.failures)
        .bind(limit.lock_secs)
        .fetch_one(pool)
        .await?);
    Ok(until == now + limit.lock_secs)
}

/// Forgets `key`'s failures (after a successful sign-in).
pub async fn clear(db: &Db, key: &Key) -> Result<(), DbError> {
    const SQL: &str = "DELETE FROM throttle WHERE key = $1";
    with_pool!(db, pool => sqlx::query(SQL).bind(&key.0).execute(pool).await?.rows_affected());
    Ok(())
}
