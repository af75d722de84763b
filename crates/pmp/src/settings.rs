//! The `settings` table: portal-wide values and one-off state, one row per key. Keys are
//! constants owned by the feature that uses them, so no stray string reaches the table.

use crate::db::{Db, DbError, now};
use crate::with_pool;

/// A settings key; features declare theirs as constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(pub &'static str);

/// The value stored under `key`, if any.
pub async fn get(db: &Db, key: Key) -> Result<Option<String>, DbError> {
    const SQL: &str = "SELECT value FROM settings WHERE key = $1";
    Ok(with_pool!(db, pool => sqlx::query_scalar(SQL).bind(key.0).fetch_optional(pool).await?))
}

/// Stores `value` under `key`, replacing what was there.
pub async fn set(db: &Db, key: Key, value: &str) -> Result<(), DbError> {
    const SQL: &str = "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
    with_pool!(db, pool => sqlx::query(SQL).bind(key.0).bind(value).bind(now()).execute(pool).await?.rows_affected());
    Ok(())
}

/// Compare-and-set: stores `new` under `key` only if the stored value is still `expected`
/// (`None`: only if there is none yet). Says whether it stored, so that of several instances
/// racing to move the same value exactly one wins.
pub async fn swap(db: &Db, key: Key, expected: Option<&str>, new: &str) -> Result<bool, DbError> {
    const INIT: &str = "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
        ON CONFLICT (key) DO NOTHING";
    const UPDATE: &str =
        "UPDATE settings SET value = $2, updated_at = $3 WHERE key = $1 AND value = $4";
    let changed = match expected {
        None => {
            with_pool!(db, pool => sqlx::query(INIT).bind(key.0).bind(new).bind(now()).execute(pool).await?.rows_affected())
        }
        Some(old) => {
            with_pool!(db, pool => sqlx::query(UPDATE).bind(key.0).bind(new).bind(now()).bind(old).execute(pool).await?.rows_affected())
        }
    };
    Ok(changed == 1)
}
