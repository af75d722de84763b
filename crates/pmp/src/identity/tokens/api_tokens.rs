//! Personal API tokens: named, optionally expiring, shown once at creation (`pmp_...`) and
//! stored only as a SHA-256, listed with their last use, revocable by their owner. A token
//! acts as its owner, re-checked on every request, so it never outlives or outranks them.

use serde::Serialize;

use crate::access::AclPath;
use crate::db::now;
use crate::db::{Db, DbError};
use crate::identity::{digest, random_token};
use crate::with_pool;

/// The prefix that marks a personal API token (and lets secret scanners find leaked ones).
pub const PREFIX: &str = "pmp_";
/// Longest token name, in characters.
pub const MAX_NAME: usize = 64;
/// Most tokens one user may hold.
pub const MAX_PER_USER: i64 = 50;

/// A token as its owner sees it in the list (never the secret).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TokenInfo {
    /// The token's id.
    pub id: String,
    /// The owner's name for it.
    pub name: String,
    /// Unix time of creation.
    pub created_at: i64,
    /// Unix time after which it no longer works, if any.
    pub expires_at: Option<i64>,
    /// Unix time of its last use.
    pub last_used_at: Option<i64>,
    /// Address of its last use.
    pub last_used_ip: Option<String>,
    /// The role it is limited to, if scoped.
    pub scope_role_id: Option<String>,
    /// The path it is limited to, if scoped.
    pub scope_path: Option<String>,
}

/// Why a token could not be created.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("a token name is 1 to {MAX_NAME} printable characters")]
    Name,
    #[error("a token's lifetime is 1 to 3650 days, or none for no expiry")]
    Lifetime,
    #[error("you hold {MAX_PER_USER} tokens already; revoke one first")]
    TooMany,
    #[error("a token's scope names an existing role and a valid ACL path")]
    Scope,
}

/// Validates a token name (see `ids::printable_name`).
pub fn check_name(raw: &str) -> Result<String, TokenError> {
    crate::ids::printable_name(raw, MAX_NAME).ok_or(TokenError::Name)
}

/// Creates a token for `user_id` valid for `days` (none: no expiry); returns its id and the
/// secret, which is never shown again.
pub async fn create(
    db: &Db,
    user_id: &str,
    name: &str,
    days: Option<u32>,
    scope: Option<(&str, &AclPath)>,
) -> Result<Result<(String, String), TokenError>, DbError> {
    const COUNT: &str = "SELECT COUNT(*) FROM api_tokens WHERE user_id = $1";
    const ROLE: &str = "SELECT COUNT(*) FROM roles WHERE id = $1";
    // The scope is written with the token, so a token never exists wider than asked for.
    const INSERT: &str = "INSERT INTO api_tokens (id, user_id, name, secret_hash, created_at, \
        expires_at, scope_role_id, scope_path) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let name = match check_name(name) {
        Ok(name) => name,
        Err(e) => return Ok(Err(e)),
    };
    if days.is_some_and(|d| !(1..=3650).contains(&d)) {
        return Ok(Err(TokenError::Lifetime));
    }
    if let Some((role, _)) = scope {
        let found: i64 =
            with_pool!(db, pool => sqlx::query_scalar(ROLE).bind(role).fetch_one(pool).await?);
        if found == 0 {
            return Ok(Err(TokenError::Scope));
        }
    }
    let held: i64 =
        with_pool!(db, pool => sqlx::query_scalar(COUNT).bind(user_id).fetch_one(pool).await?);
    if held >= MAX_PER_USER {
        return Ok(Err(TokenError::TooMany));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let secret = format!("{PREFIX}{}", random_token());
    let now = now();
    let expires = days.map(|d| now + i64::from(d) * 86_400);
    with_pool!(db, pool => sqlx::query(INSERT)
        .bind(&id)
        .bind(user_id)
        .bind(&name)
        .bind(digest(&secret))
        .bind(now)
        .bind(expires)
        .bind(scope.map(|(role, _)| role))
        .bind(scope.map(|(_, path)| path.to_string()))
        .execute(pool)
        .await?
        .rows_affected());
    Ok(Ok((id, secret)))
}

/// A live token presented on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The token's id.
    pub id: String,
    /// Its owner.
    pub user_id: String,
    /// The role it is limited to, if scoped.
    pub scope_role: Option<String>,
    /// The path it is limited to, if scoped.
    pub scope_path: Option<String>,
}

/// The live token `secret`, recording this use.
pub async fn authenticate(db: &Db, secret: &str, ip: &str) -> Result<Option<Presented>, DbError> {
    const FIND: &str = "SELECT id, user_id, last_used_at, scope_role_id, scope_path FROM api_tokens \
        WHERE secret_hash = $1 AND (expires_at IS NULL OR expires_at > $2)";
    const TOUCH: &str = "UPDATE api_tokens SET last_used_at = $2, last_used_ip = $3 WHERE id = $1";
    let now = now();
    type Row = (String, String, Option<i64>, Option<String>, Option<String>);
    let row: Option<Row> = with_pool!(db, pool => sqlx::query_as(FIND)
        .bind(digest(secret))
        .bind(now)
        .fetch_optional(pool)
        .await?);
    let Some((id, user_id, last_used, scope_role, scope_path)) = row else {
        return Ok(None);
    };
    // One write a minute is enough for "last used"; a busy script should not write on every call.
    if last_used.is_none_or(|t| now - t >= 60) {
        with_pool!(db, pool => sqlx::query(TOUCH).bind(&id).bind(now).bind(ip).execute(pool).await?.rows_affected());
    }
    Ok(Some(Presented {
        id,
        user_id,
        scope_role,
        scope_path,
    }))
}

/// `user_id`'s tokens, newest first.
pub async fn list(db: &Db, user_id: &str) -> Result<Vec<TokenInfo>, DbError> {
    const SQL: &str = "SELECT id, name, created_at, expires_at, last_used_at, last_used_ip, \
        scope_role_id, scope_path FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id";
    Ok(with_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await?))
}

/// Revokes `user_id`'s token `id`, returning its name; none when they hold no such token
/// (another person's token included).
pub async fn revoke(db: &Db, user_id: &str, id: &str) -> Result<Option<String>, DbError> {
    const SQL: &str = "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING name";
    Ok(
        with_pool!(db, pool => sqlx::query_scalar(SQL).bind(id).bind(user_id).fetch_optional(pool).await?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_printable_and_bounded() {
        assert_eq!(check_name("  ci deploy "), Ok("ci deploy".to_owned()));
        assert_eq!(
            check_name("<script>x</script>"),
            Ok("<script>x</script>".to_owned())
        );
        for bad in ["", "   ", "a\u{0}b", "bad\u{202e}name", &"x".repeat(65)] {
            assert_eq!(check_name(bad), Err(TokenError::Name), "{bad:?}");
        }
    }
}
