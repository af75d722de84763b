//! Refresh tokens: opaque, single-use, stored hashed, grouped in families. Each refresh
//! spends the presented token and issues its successor in the same family. A spent token
//! presented again means two parties hold the family (one of them stole it), so the whole
//! family is revoked and the caller records a security event.

use crate::db::{Db, DbError};
use crate::db::{now, secs};
use crate::identity::{digest, random_token};
use crate::with_pool;

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: here is its owner and the successor to hand back.
    Rotated { user_id: String, token: String },
    /// The token had already been spent: its family is now revoked.
    Reused { user_id: String },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Issues a token for `user_id`, starting a new family unless `family` continues one.
pub async fn issue(
    db: &Db,
    user_id: &str,
    family: Option<&str>,
    ttl_secs: u64,
) -> Result<String, DbError> {
    const SQL: &str = "INSERT INTO refresh_tokens \
        (token_hash, family_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
    let token = format!("pmr_{}", random_token());
    let family = family.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let now = now();
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(digest(&token))
        .bind(&family)
        .bind(user_id)
        .bind(now)
        .bind(now.saturating_add(secs(ttl_secs)))
        .execute(pool)
        .await?
        .rows_affected());
    Ok(token)
}

/// Spends `presented` and issues its successor, or revokes its family if it was spent before.
pub async fn rotate(db: &Db, presented: &str, ttl_secs: u64) -> Result<Rotation, DbError> {
    // One statement claims the token, so two concurrent refreshes cannot both succeed.
    const SPEND: &str = "UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1 \
        AND spent_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
        RETURNING user_id, family_id";
    const LOOKUP: &str = "SELECT user_id, family_id, spent_at FROM refresh_tokens \
        WHERE token_hash = $1";
    const REVOKE_FAMILY: &str = "UPDATE refresh_tokens SET revoked_at = $2 \
        WHERE family_id = $1 AND revoked_at IS NULL";
    let hash = digest(presented);
    let now = now();
    let spent: Option<(String, String)> = with_pool!(db, pool => sqlx::query_as(SPEND)
        .bind(&hash)
        .bind(now)
        .fetch_optional(pool)
        .await?);
    if let Some((user_id, family)) = spent {
        let token = issue(db, &user_id, Some(&family), ttl_secs).await?;
        return Ok(Rotation::Rotated { user_id, token });
    }
    let known: Option<(String, String, Option<i64>)> =
        with_pool!(db, pool => sqlx::query_as(LOOKUP).bind(&hash).fetch_optional(pool).await?);
    match known {
        Some((user_id, family, Some(_spent))) => {
            with_pool!(db, pool => sqlx::query(REVOKE_FAMILY).bind(&family).bind(now).execute(pool).await?.rows_affected());
            Ok(Rotation::Reused { user_id })
        }
        _ => Ok(Rotation::Invalid),
    }
}

/// Revokes the family `presented` belongs to (sign-out of an API client); false if unknown.
pub async fn revoke_family_of(db: &Db, presented: &str) -> Result<bool, DbError> {
    const SQL: &str = "UPDATE refresh_tokens SET revoked_at = $2 WHERE revoked_at IS NULL \
        AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)";
    let revoked = with_pool!(db, pool => sqlx::query(SQL).bind(digest(presented)).bind(now()).execute(pool).await?.rows_affected());
    Ok(revoked > 0)
}
