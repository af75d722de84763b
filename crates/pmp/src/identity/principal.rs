//! Who is calling the API: the user behind a bearer access token (JWT), a personal API token
//! (`Bearer pmp_...`), or a browser session cookie. The user is loaded on every request, so
//! disabling, deleting or demoting someone takes effect on their very next call.
//!
//! CSRF: a request carrying a live session cookie and an unsafe method must come from this
//! site and carry the session's token in `X-CSRF-Token`, whatever else it carries. An
//! `Authorization` header never exempts it: a cross-site page can make the browser send the
//! cookie together with a junk header, and the cookie is what would be ridden.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use crate::access::{self, Grants, Scope};
use crate::audit::events::{self, Kind, Subject};
use crate::db::{Db, now};
use crate::http::{AppError, Client, is_same_origin};
use crate::identity::IdentityState;
use crate::identity::secret_eq;
use crate::identity::sessions::guard;
use crate::identity::sessions::{self, Session};
use crate::identity::tokens::{api_tokens, jwt};
use crate::identity::users::{self, User};

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session (its public id).
    Session(String),
    /// A JWT access token.
    AccessToken,
    /// A personal API token (its id).
    ApiToken(String),
}

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user, as stored now.
    pub user: User,
    /// The credential used.
    pub via: Via,
    /// Where the request came from.
    pub client: Client,
    /// What the caller is granted, loaded for this request (a scoped token's, narrowed).
    pub grants: Grants,
}

/// The header a browser script sends the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, AppError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(AppError::unauthorized);
    Some(parsed)
}

/// Refuses a cookie-authenticated unsafe request that is cross-site or lacks the CSRF token.
async fn check_csrf(
    state: &IdentityState,
    parts: &Parts,
    session: &Session,
    client: &Client,
) -> Result<(), AppError> {
    if is_safe(&parts.method) {
        return Ok(());
    }
    let presented = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if is_same_origin(&parts.headers) && secret_eq(&session.csrf, presented) {
        return Ok(());
    }
    let subject = Subject::user(&session.user_id, &session.username);
    let detail = format!("{} {}", parts.method, parts.uri.path());
    events::record(&state.db, Kind::CsrfRefused, subject, client, &detail)
        .await
        .map_err(AppError::internal)?;
    Err(AppError::Forbidden(
        "This request lacks a valid CSRF token or comes from another site.".to_owned(),
    ))
}

/// The enabled user a bearer credential stands for, how, and the token's scope if any.
async fn from_bearer(
    state: &IdentityState,
    token: &str,
    client: &Client,
) -> Result<(User, Via, Option<Scope>), AppError> {
    let db = &state.db;
    let (user_id, via, epoch, scope) = if token.starts_with(api_tokens::PREFIX) {
        let presented = api_tokens::authenticate(db, token, &client.ip.to_string())
            .await
            .map_err(AppError::internal)?
            .ok_or_else(AppError::unauthorized)?;
        let scope = access::store::token_scope(
            db,
            presented.scope_role.as_deref(),
            presented.scope_path.as_deref(),
        )
        .await
        .map_err(AppError::internal)?;
        (presented.user_id, Via::ApiToken(presented.id), None, scope)
    } else {
        let claims = jwt::decode(state.keys.jwt(), token, now()).map_err(|e| {
            tracing::debug!(reason = %e, "access token refused");
            AppError::unauthorized()
        })?;
        (claims.sub, Via::AccessToken, Some(claims.epoch), None)
    };
    let user = users::by_id(db, &user_id)
        .await
        .map_err(AppError::internal)?
        .filter(|u| !u.disabled && epoch.is_none_or(|e| e == u.auth_epoch))
        .ok_or_else(AppError::unauthorized)?;
    Ok((user, via, scope))
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or_else(|| AppError::internal("a route that takes a principal declares no access"))
    }
}

impl Principal {
    /// Authenticates the API caller of a request (bearer token, API token or session cookie
    /// with its CSRF check), loads their grants, and refuses while a step is pending.
    pub async fn authenticate(parts: &mut Parts, state: &IdentityState) -> Result<Self, AppError> {
        let client = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        let policy = &state.sessions;
        let session = match policy.token_from(&parts.headers) {
            Some(token) => sessions::find(&state.db, policy, &token)
                .await
                .map_err(AppError::internal)?,
            None => None,
        };
        if let Some(session) = &session {
            check_csrf(state, parts, session, &client).await?;
        }
        let (user, via, scope) = match (bearer(&parts.headers), session) {
            (Some(token), _) => from_bearer(state, token?, &client).await?,
            (None, Some(session)) => {
                let user = users::by_id(&state.db, &session.user_id)
                    .await
                    .map_err(AppError::internal)?
                    .filter(|u| !u.disabled)
                    .ok_or_else(AppError::unauthorized)?;
                (user, Via::Session(session.id), None)
            }
            (None, None) => return Err(AppError::unauthorized()),
        };
        // While a step is pending, only the caller's own account endpoints (where the step is
        // taken) answer.
        // Grants are read on every request, so a demotion or a group removal applies to the
        // very next one, whatever the credential.
        let grants = access::store::grants_of(&state.db, &user.id)
            .await
            .map_err(AppError::internal)?;
        if let Some(step) = guard::gate(&state.db, &user, &grants)
            .await
            .map_err(AppError::internal)?
            && !parts.uri.path().starts_with("/api/v1/me")
        {
            return Err(step.api_error());
        }
        let grants = grants.scoped(scope);
        Ok(Self {
            user,
            via,
            client,
            grants,
        })
    }
}

/// Passes `result` through, recording a 404 or 403 that a handler decided after the guard
/// (an id in a body, a nested name) like the guard's own refusals.
pub async fn audited<T>(
    db: &Db,
    principal: &Principal,
    what: &str,
    result: Result<T, AppError>,
) -> Result<T, AppError> {
    if let Err(error @ (AppError::NotFound | AppError::Forbidden(_))) = &result {
        let why = if matches!(error, AppError::NotFound) {
            "not found or not visible"
        } else {
            "privilege missing"
        };
        let subject = Subject::user(&principal.user.id, &principal.user.username);
        let detail = format!("{what}: {why}");
        let _ = events::record(db, Kind::AccessDenied, subject, &principal.client, &detail).await;
    }
    result
}
