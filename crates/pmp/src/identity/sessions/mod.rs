//! Browser sessions: an opaque random id in an HttpOnly cookie (`__Host-pmp_session` over TLS),
//! stored only as its SHA-256, with idle and absolute expiry checked on every request, and a
//! per-session CSRF token for every state-changing form.

pub mod form;
pub mod guard;
mod page;

use std::convert::Infallible;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use crate::db::{Db, DbError};
use crate::db::{now, secs};
use crate::http::{AppError, cookie, is_same_origin};
use crate::identity::IdentityState;
use crate::identity::{digest as hash, random_token, secret_eq};
use crate::ui::PageError;
use crate::ui::Shell;
use crate::with_pool;

/// How long sessions live and how their cookie is sent.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Seconds without a request before a session ends.
    pub idle_secs: u64,
    /// Seconds after sign-in before a session ends, however active.
    pub absolute_secs: u64,
    /// Whether the cookie is marked Secure (and so may carry the `__Host-` prefix).
    pub secure: bool,
}

/// A signed-in person's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user's id.
    pub user_id: String,
    /// The user's name.
    pub username: String,
    /// Whether the user holds every privilege.
    pub is_admin: bool,
    /// The token every state-changing request of this session must carry.
    pub csrf: String,
    /// The session's public id, as the sessions page names it.
    pub id: String,
    token_hash: String,
}

/// One of a user's sessions, as the sessions page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionInfo {
    /// Public id.
    pub id: String,
    /// Unix time of sign-in.
    pub created_at: i64,
    /// Unix time of the last request.
    pub last_seen_at: i64,
    /// Address at sign-in.
    pub ip: String,
    /// Browser at sign-in.
    pub user_agent: String,
}

impl Session {
    /// The signed-in person as the page shell shows them.
    pub fn signed_in(&self) -> crate::ui::SignedIn {
        crate::ui::SignedIn {
            username: self.username.clone(),
            csrf: self.csrf.clone(),
            is_admin: self.is_admin,
        }
    }

    /// Lets a state-changing form through only from this site and with this session's CSRF
    /// token; `what` names the form in the log.
    pub fn check_form(
        &self,
        headers: &HeaderMap,
        presented_csrf: &str,
        shell: &Shell,
        what: &str,
    ) -> Result<(), PageError> {
        if is_same_origin(headers) && secret_eq(&self.csrf, presented_csrf) {
            return Ok(());
        }
        tracing::warn!(user_id = %self.user_id, form = what, "form without a valid CSRF token refused");
        Err(PageError::in_shell(
            AppError::Forbidden("This form has expired; reload the page and try again.".to_owned()),
            shell.clone(),
        ))
    }
}

impl SessionPolicy {
    /// The cookie's name: browsers accept the `__Host-` prefix only on Secure cookies.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-pmp_session"
        } else {
            "pmp_session"
        }
    }

    /// `Set-Cookie` for a new session.
    pub fn set_cookie(&self, token: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let value = format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.cookie_name(),
            self.absolute_secs
        );
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_cookie(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let value = format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.cookie_name()
        );
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The session token the request carries, if any.
    pub fn token_from(&self, headers: &HeaderMap) -> Option<String> {
        cookie(headers, self.cookie_name())
    }
}

/// Starts a session for `user_id`; returns the cookie token (shown to nobody else, stored hashed).
pub async fn create(
    db: &Db,
    policy: &SessionPolicy,
    user_id: &str,
    ip: &str,
    user_agent: &str,
) -> Result<String, DbError> {
    const SQL: &str = "INSERT INTO sessions \
        (token_hash, id, user_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent) \
        VALUES ($1, $8, $2, $3, $4, $4, $5, $6, $7)";
    let token = random_token();
    let now = now();
    let user_agent: String = user_agent.chars().take(256).collect();
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(hash(&token))
        .bind(user_id)
        .bind(random_token())
        .bind(now)
        .bind(now.saturating_add(secs(policy.absolute_secs)))
        .bind(ip)
        .bind(&user_agent)
        .bind(uuid::Uuid::new_v4().to_string())
        .execute(pool)
        .await?
        .rows_affected());
    Ok(token)
}

/// The live session for `token`: unknown, expired, idle or disabled-user sessions are none,
/// and expired ones are deleted on the way.
pub async fn find(
    db: &Db,
    policy: &SessionPolicy,
    token: &str,
) -> Result<Option<Session>, DbError> {
    const FIND: &str = "SELECT s.user_id, u.username, EXISTS (SELECT 1 FROM acl x \
        WHERE x.user_id = u.id AND x.path = '/' AND x.role_id = 'administrator'), s.csrf_token, s.id, \
        s.last_seen_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
        WHERE s.token_hash = $1 AND u.disabled = FALSE";
    const TOUCH: &str = "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1";
    let token_hash = hash(token);
    let row: Option<(String, String, bool, String, String, i64, i64)> =
        with_pool!(db, pool => sqlx::query_as(FIND).bind(&token_hash).fetch_optional(pool).await?);
    let Some((user_id, username, is_admin, csrf, id, last_seen, expires)) = row else {
        return Ok(None);
    };
    let now = now();
    if now >= expires || now.saturating_sub(last_seen) >= secs(policy.idle_secs) {
        revoke(db, &token_hash).await?;
        return Ok(None);
    }
    // One write a minute is enough to keep the idle clock honest.
    if now - last_seen >= 60 {
        with_pool!(db, pool => sqlx::query(TOUCH).bind(&token_hash).bind(now).execute(pool).await?.rows_affected());
    }
    Ok(Some(Session {
        user_id,
        username,
        is_admin,
        csrf,
        id,
        token_hash,
    }))
}

async fn revoke(db: &Db, token_hash: &str) -> Result<(), DbError> {
    const SQL: &str = "DELETE FROM sessions WHERE token_hash = $1";
    with_pool!(db, pool => sqlx::query(SQL).bind(token_hash).execute(pool).await?.rows_affected());
    Ok(())
}

/// The live sessions of `user_id`, most recently used first.
pub async fn list_for(
    db: &Db,
    policy: &SessionPolicy,
    user_id: &str,
) -> Result<Vec<SessionInfo>, DbError> {
    const SQL: &str = "SELECT id, created_at, last_seen_at, ip, user_agent FROM sessions \
        WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3 ORDER BY last_seen_at DESC";
    let now = now();
    let idle_since = now.saturating_sub(secs(policy.idle_secs));
    Ok(with_pool!(db, pool => sqlx::query_as(SQL)
        .bind(user_id)
        .bind(now)
        .bind(idle_since)
        .fetch_all(pool)
        .await?))
}

/// Ends the session `id` if it belongs to `user_id`; false when there is no such session of
/// theirs (another person's id included).
pub async fn revoke_own(db: &Db, user_id: &str, id: &str) -> Result<bool, DbError> {
    const SQL: &str = "DELETE FROM sessions WHERE id = $1 AND user_id = $2";
    let removed = with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(user_id).execute(pool).await?.rows_affected());
    Ok(removed == 1)
}

/// Ends `session`.
pub async fn end(db: &Db, session: &Session) -> Result<(), DbError> {
    revoke(db, &session.token_hash).await
}

/// The request's session, if it carries a live one. A database failure counts as signed out
/// (and is logged), so a broken database never grants anything.
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<Session>);

impl<S> FromRequestParts<S> for MaybeSession
where
    S: Send + Sync,
    IdentityState: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let state = &IdentityState::from_ref(state);
        let policy = &state.sessions;
        let Some(token) = policy.token_from(&parts.headers) else {
            return Ok(Self(None));
        };
        match find(&state.db, policy, &token).await {
            Ok(session) => Ok(Self(session)),
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                Ok(Self(None))
            }
        }
    }
}

/// Session routes (the "Sessions" page).
pub fn routes<S>() -> crate::access::routes::Routes<S>
where
    S: Clone + Send + Sync + 'static,
    crate::identity::IdentityState: axum::extract::FromRef<S>,
{
    page::routes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn cookies_are_hardened_and_host_prefixed_only_when_secure() {
        let mut policy = SessionPolicy {
            idle_secs: 1800,
            absolute_secs: 43200,
            secure: true,
        };
        let cookie = policy.set_cookie("abc");
        assert_eq!(
            cookie,
            "__Host-pmp_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200; Secure"
        );
        policy.secure = false;
        assert_eq!(
            policy.clear_cookie(),
            "pmp_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("pmp_theme=dark; pmp_session=t0k"),
        );
        assert_eq!(policy.token_from(&headers).as_deref(), Some("t0k"));
    }
}
