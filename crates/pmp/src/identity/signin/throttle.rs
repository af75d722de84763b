//! Throttling of everything that checks a secret (sign-in, TOTP, refresh, password change),
//! per account and per client address, counted in the database so every instance agrees.
//! Too many failures within the window lock that key; each lock lasts twice as long as the
//! one before (up to 64 times the first) until a success clears the key. The address limit
//! is looser than the account limit, so one office behind a single address is not locked out
//! by one person's typos.

use sha2::{Digest, Sha256};

use crate::db::now;
use crate::db::{Db, DbError};
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

/// Five failures on one account from one address in 15 minutes lock that pair (the person
/// typing there) for 15 minutes; the account still works from everywhere else.
pub const PAIR: Limit = Limit {
    failures: 5,
    window_secs: 15 * 60,
    lock_secs: 15 * 60,
};

/// Fifty failures on one account in 15 minutes, from wherever, lock the account: that many
/// can only come from several addresses at once, since each address is stopped at thirty.
pub const ACCOUNT: Limit = Limit {
    failures: 50,
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

    /// The key for an account name tried from one address.
    pub fn account_at(username: &str, ip: &str) -> Self {
        let Key(account) = Self::account(username);
        Self(format!("{account}@{ip}"))
    }

    /// The key for a client address.
    pub fn address(ip: &str) -> Self {
        Self(format!("address:{ip}"))
    }

    /// The key for one kind of check on one user (`totp`, `password`), by user id.
    pub fn user(scope: &'static str, user_id: &str) -> Self {
        Self(format!("{scope}:{user_id}"))
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

/// Counts a failure for `key`; when this failure locks it, returns for how many seconds.
pub async fn fail(db: &Db, key: &Key, limit: Limit) -> Result<Option<i64>, DbError> {
    // One statement counts, so concurrent failures from several instances all count.
    const COUNT: &str = "INSERT INTO throttle (key, failures, window_start, locked_until, locks) \
        VALUES ($1, 1, $2, 0, 0) \
        ON CONFLICT (key) DO UPDATE SET \
          failures = CASE WHEN throttle.window_start <= $2 - $3 THEN 1 ELSE throttle.failures + 1 END, \
          window_start = CASE WHEN throttle.window_start <= $2 - $3 THEN $2 ELSE throttle.window_start END \
        RETURNING failures, locks";
    // Only one of several racing failures takes the lock, so `locks` grows by one per lock.
    const LOCK: &str = "UPDATE throttle SET locked_until = $2, locks = locks + 1, failures = 0, \
        window_start = $3 WHERE key = $1 AND locked_until <= $3";
    let now = now();
    let (failures, locks): (i64, i64) = with_pool!(db, pool => sqlx::query_as(COUNT)
        .bind(&key.0)
        .bind(now)
        .bind(limit.window_secs)
        .fetch_one(pool)
        .await?);
    if failures < limit.failures {
        return Ok(None);
    }
    let lock_secs = limit.lock_secs.saturating_mul(1 << locks.clamp(0, 6));
    let locked = with_pool!(db, pool => sqlx::query(LOCK)
        .bind(&key.0)
        .bind(now.saturating_add(lock_secs))
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
    Ok((locked == 1).then_some(lock_secs))
}

/// Forgets `key`'s failures (after a successful sign-in).
pub async fn clear(db: &Db, key: &Key) -> Result<(), DbError> {
    const SQL: &str = "DELETE FROM throttle WHERE key = $1";
    with_pool!(db, pool => sqlx::query(SQL).bind(&key.0).execute(pool).await?.rows_affected());
    Ok(())
}

/// Lifts every lock and count on an account (all addresses), for an operator's reset.
pub async fn clear_account(db: &Db, username: &str) -> Result<(), DbError> {
    const SQL: &str = "DELETE FROM throttle WHERE key = $1 OR key LIKE $2";
    let Key(account) = Key::account(username);
    let pattern = format!("{account}@%");
    with_pool!(db, pool => sqlx::query(SQL).bind(&account).bind(&pattern).execute(pool).await?.rows_affected());
    Ok(())
}
