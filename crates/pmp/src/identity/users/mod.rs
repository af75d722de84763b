//! The `users` table: usernames are validated once, here, so nothing else handles raw names,
//! and every change that takes rights away (disable, delete, demote, password reset) revokes
//! the user's sessions, refresh tokens and API tokens in the same transaction.

pub mod admin;
pub mod cli;
mod page;

use std::fmt;

use serde::Serialize;

use crate::access::store;
use crate::db::now;
use crate::db::{BeginWrite as _, Db, DbError};
use crate::with_pool;

/// A validated username: 3 to 64 characters of `a-z 0-9 . _ -`, starting with a letter or
/// digit. Lower-case ASCII only, so look-alike and mixed-case names cannot collide visually.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// Why a username was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "a username is 3 to 64 characters of lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
)]
pub struct UsernameError;

impl Username {
    /// Validates `raw` (surrounding spaces are ignored, upper case is folded to lower).
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let name = raw.trim().to_ascii_lowercase();
        let valid_chars = name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        let starts_well = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if (3..=64).contains(&name.len()) && valid_chars && starts_well {
            Ok(Self(name))
        } else {
            Err(UsernameError)
        }
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A portal user as the rest of the code sees it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    /// Stable id (a UUID).
    pub id: String,
    /// The username.
    pub username: String,
    /// Holds the Administrator role on `/` directly (the shorthand user administration
    /// manages; finer grants are ACL entries).
    pub is_admin: bool,
    /// May not sign in.
    pub disabled: bool,
    /// Must choose a new password before doing anything else.
    pub must_change_password: bool,
    /// Bumped to void every access token issued before.
    #[serde(skip)]
    pub auth_epoch: i64,
    /// Unix time of creation.
    pub created_at: i64,
}

const COLUMNS: &str = "id, username, EXISTS (SELECT 1 FROM acl x WHERE x.user_id = users.id \
    AND x.path = '/' AND x.role_id = 'administrator') AS is_admin, disabled, \
    must_change_password, auth_epoch, created_at";

/// Why a user change was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a user with this name already exists")]
    Taken,
    #[error("the last enabled administrator cannot be disabled, demoted or deleted")]
    LastAdmin,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for UserError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => Self::Taken,
            _ => Self::Db(e.into()),
        }
    }
}

/// The user with id `id`, enabled or not.
pub async fn by_id(db: &Db, id: &str) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?),
    )
}

/// The user named `name`, enabled or not.
pub async fn by_name(db: &Db, name: &Username) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(name.as_str()).fetch_optional(pool).await?),
    )
}

/// Every user, by name.
pub async fn list(db: &Db) -> Result<Vec<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY username");
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(pool).await?),
    )
}

/// The stored password hash of an enabled user, with the user.
pub async fn credentials(db: &Db, name: &Username) -> Result<Option<(User, String)>, DbError> {
    /// A user row with its hash, read in the one query sign-in needs.
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: String,
    }
    let sql = format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE username = $1 AND disabled = FALSE"
    );
    let row: Option<Row> = with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(name.as_str()).fetch_optional(pool).await?);
    Ok(row.map(|r| (r.user, r.password_hash)))
}

/// Creates a user; with `must_change_password` they choose their own at first sign-in.
pub async fn create(
    db: &Db,
    name: &Username,
    password_hash: &str,
    is_admin: bool,
    must_change_password: bool,
) -> Result<User, UserError> {
    const SQL: &str = "INSERT INTO users (id, username, password_hash, disabled, created_at, \
        must_change_password, auth_epoch) VALUES ($1, $2, $3, FALSE, $4, $5, 0)";
    let id = uuid::Uuid::new_v4().to_string();
    let now = now();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(SQL)
            .bind(&id)
            .bind(name.as_str())
            .bind(password_hash)
            .bind(now)
            .bind(must_change_password)
            .execute(&mut *tx)
            .await?;
        if is_admin {
            sqlx::query(store::GRANT_ROOT).bind(uuid::Uuid::new_v4().to_string()).bind(&id).bind(store::ADMINISTRATOR).bind(now).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(by_id(db, &id)
        .await?
        .ok_or(DbError::Query(sqlx::Error::RowNotFound))?)
}

/// Statements that end every credential a user holds, run in one transaction with the change
/// that calls for it. The epoch bump voids outstanding JWTs.
const REVOKE_ALL: [&str; 4] = [
    "DELETE FROM sessions WHERE user_id = $1",
    "DELETE FROM refresh_tokens WHERE user_id = $1",
    "DELETE FROM api_tokens WHERE user_id = $1",
    "UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = $1",
];

/// Counts enabled administrators other than `id`, inside the caller's transaction.
const OTHER_ADMINS: &str = "SELECT COUNT(*) FROM users WHERE disabled = FALSE AND id <> $1 \
    AND EXISTS (SELECT 1 FROM acl x WHERE x.user_id = users.id AND x.path = '/' \
    AND x.role_id = 'administrator')";

/// Sets a user's role and enabled flag. Taking rights away (disable, demote) revokes every
/// credential at once. The last enabled administrator cannot lose that standing.
pub async fn update(db: &Db, id: &str, is_admin: bool, disabled: bool) -> Result<(), UserError> {
    const UPDATE: &str = "UPDATE users SET disabled = $2 WHERE id = $1";
    let Some(before) = by_id(db, id).await? else {
        return Err(UserError::Db(DbError::Query(sqlx::Error::RowNotFound)));
    };
    let loses_rights = (before.is_admin && !is_admin) || (!before.disabled && disabled);
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if before.is_admin && (!is_admin || disabled) {
            let others: i64 = sqlx::query_scalar(OTHER_ADMINS).bind(id).fetch_one(&mut *tx).await?;
            if others == 0 {
                return Err(UserError::LastAdmin);
            }
        }
        sqlx::query(UPDATE).bind(id).bind(disabled).execute(&mut *tx).await?;
        if is_admin && !before.is_admin {
            sqlx::query(store::GRANT_ROOT).bind(uuid::Uuid::new_v4().to_string()).bind(id).bind(store::ADMINISTRATOR).bind(now()).execute(&mut *tx).await?;
        } else if !is_admin && before.is_admin {
            sqlx::query(store::REVOKE_ROOT).bind(id).bind(store::ADMINISTRATOR).execute(&mut *tx).await?;
        }
        if loses_rights {
            for sql in REVOKE_ALL {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Deletes a user (their sessions and tokens go with them by cascade); never the last admin.
pub async fn delete(db: &Db, id: &str) -> Result<bool, UserError> {
    const DELETE: &str = "DELETE FROM users WHERE id = $1";
    let Some(before) = by_id(db, id).await? else {
        return Ok(false);
    };
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if before.is_admin {
            let others: i64 = sqlx::query_scalar(OTHER_ADMINS).bind(id).fetch_one(&mut *tx).await?;
            if others == 0 {
                return Err(UserError::LastAdmin);
            }
        }
        sqlx::query(DELETE).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(true)
}

/// Who set a new password, which decides what else ends.
#[derive(Debug, Clone, Copy)]
pub enum PasswordChange<'a> {
    /// Someone else reset it (an administrator, or the operator on the command line): every
    /// credential of the user is revoked; with `must_change` they choose a new one at sign-in.
    Reset { must_change: bool },
    /// The user changed it: their other sessions, refresh tokens and access tokens end, the
    /// session they are using (if any) and their named API tokens stay.
    Own { keep_session: Option<&'a str> },
}

/// Stores a new password hash and revokes what `change` says, in one transaction.
pub async fn set_password(
    db: &Db,
    id: &str,
    password_hash: &str,
    change: PasswordChange<'_>,
) -> Result<(), DbError> {
    const UPDATE: &str =
        "UPDATE users SET password_hash = $2, must_change_password = $3 WHERE id = $1";
    const OTHER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1 AND id <> $2";
    let [_, refresh, _, bump] = REVOKE_ALL;
    let must_change = matches!(change, PasswordChange::Reset { must_change: true });
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(UPDATE).bind(id).bind(password_hash).bind(must_change).execute(&mut *tx).await?;
        match change {
            PasswordChange::Reset { .. } => {
                for sql in REVOKE_ALL {
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
            }
            PasswordChange::Own { keep_session } => {
                sqlx::query(OTHER_SESSIONS).bind(id).bind(keep_session.unwrap_or("")).execute(&mut *tx).await?;
                for sql in [refresh, bump] {
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Replaces a password hash with a stronger one of the same password (after sign-in, when the
/// hashing parameters have changed); nothing is revoked.
pub async fn upgrade_hash(db: &Db, id: &str, password_hash: &str) -> Result<(), DbError> {
    const SQL: &str = "UPDATE users SET password_hash = $2 WHERE id = $1";
    with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(password_hash).execute(pool).await?.rows_affected());
    Ok(())
}

/// User-administration routes.
pub fn routes<S>() -> crate::access::routes::Routes<S>
where
    S: Clone + Send + Sync + 'static,
    crate::identity::IdentityState: axum::extract::FromRef<S>,
{
    admin::routes().merge(page::routes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_plain_lower_case_ascii() {
        assert_eq!(
            Username::parse(" Alice.Admin ").unwrap().as_str(),
            "alice.admin"
        );
        for bad in [
            "ab",
            "-lead",
            "<script>",
            "admin'--",
            "аdmin",
            "a b",
            "../etc",
            &"a".repeat(65),
        ] {
            assert_eq!(Username::parse(bad), Err(UsernameError), "{bad}");
        }
    }
}
