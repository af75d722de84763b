//! The token part of the JSON API: access and refresh tokens, and `me`. Contract (kept
//! stable for scripts): `POST /api/v1/auth/token` 200 with `{access_token, token_type, expires_in, refresh_token}`, 401
//! `totp_required` when a second factor is due; `POST /api/v1/auth/refresh` rotates; a spent
//! refresh token revokes its family; `GET /api/v1/me` 200 or 401.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::access::routes::{Access, Routes};
use crate::audit::events::{self, Kind, Subject};
use crate::db::now;
use crate::http::{ApiJson, AppError, Client};
use crate::identity::IdentityState;
use crate::identity::principal::{Principal, Via};
use crate::identity::second_factor::totp;
use crate::identity::signin::authenticate::{self, Refusal};
use crate::identity::signin::throttle::{self, Key};
use crate::identity::tokens::jwt;
use crate::identity::tokens::refresh::{self, Rotation};
use crate::identity::users::{self, User};
use axum::extract::FromRef;

/// Token API routes. The token endpoints are public (they are how one gets a credential);
/// `me` needs one.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new()
        .add("/api/v1/auth/token", &["POST"], Access::Public, post(token))
        .add(
            "/api/v1/auth/refresh",
            &["POST"],
            Access::Public,
            post(refresh_token),
        )
        .add(
            "/api/v1/auth/revoke",
            &["POST"],
            Access::Public,
            post(revoke),
        )
        .add("/api/v1/me", &["GET"], Access::SignedIn, get(me))
}

#[derive(Deserialize)]
struct TokenBody {
    username: String,
    password: String,
    #[serde(default)]
    totp_code: Option<String>,
}

#[derive(Serialize)]
struct Tokens {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::Wrong => AppError::Unauthorized(
            "invalid_credentials",
            "The username, password or code is wrong.".to_owned(),
        ),
        Refusal::Locked(wait) => AppError::TooMany(wait),
        Refusal::Internal(e) => e,
    }
}

/// An access token for `user` plus a refresh token (continuing `family`'s successor `refresh`).
fn grant(state: &IdentityState, user: &User, refresh: String) -> Json<Tokens> {
    let policy = &state.tokens;
    let issued = now();
    let claims = jwt::Claims {
        sub: user.id.clone(),
        iat: issued,
        exp: issued.saturating_add(crate::db::secs(policy.access_secs)),
        epoch: user.auth_epoch,
    };
    Json(Tokens {
        access_token: jwt::encode(state.keys.jwt(), &claims),
        token_type: "Bearer",
        expires_in: policy.access_secs,
        refresh_token: refresh,
    })
}

async fn token(
    State(state): State<IdentityState>,
    client: Client,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Json<Tokens>, AppError> {
    let user = authenticate::password_step(&state, &client, &body.username, body.password)
        .await
        .map_err(refused)?;
    if totp::is_enabled(&state.db, &user.id)
        .await
        .map_err(AppError::internal)?
    {
        let Some(code) = body.totp_code.filter(|c| !c.trim().is_empty()) else {
            return Err(AppError::Unauthorized(
                "totp_required",
                "This account uses two-factor sign-in; send totp_code too.".to_owned(),
            ));
        };
        authenticate::totp_step(&state, &client, &user, &code)
            .await
            .map_err(refused)?;
    }
    let refresh = refresh::issue(&state.db, &user.id, None, state.tokens.refresh_secs)
        .await
        .map_err(AppError::internal)?;
    authenticate::succeeded(&state, &client, &user, "API token").await?;
    Ok(grant(&state, &user, refresh))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh_token(
    State(state): State<IdentityState>,
    client: Client,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Json<Tokens>, AppError> {
    let db = &state.db;
    let address = Key::address(&client.ip.to_string());
    if let Some(wait) = throttle::locked_for(db, &address)
        .await
        .map_err(AppError::internal)?
    {
        return Err(AppError::TooMany(wait));
    }
    let spent = || {
        AppError::Unauthorized(
            "invalid_refresh_token",
            "The refresh token is not valid; request a new token with your credentials.".to_owned(),
        )
    };
    let rotation = refresh::rotate(db, &body.refresh_token, state.tokens.refresh_secs)
        .await
        .map_err(AppError::internal)?;
    let (user_id, successor) = match rotation {
        Rotation::Rotated { user_id, token } => (user_id, token),
        Rotation::Reused { user_id } => {
            let user = users::by_id(db, &user_id)
                .await
                .map_err(AppError::internal)?;
            let subject = Subject {
                user_id: Some(&user_id),
                username: user.as_ref().map(|u| u.username.as_str()),
            };
            let detail = "a spent refresh token was presented again; its family is revoked";
            events::record(db, Kind::RefreshReused, subject, &client, detail)
                .await
                .map_err(AppError::internal)?;
            return Err(spent());
        }
        Rotation::Invalid => {
            throttle::fail(db, &address, throttle::ADDRESS)
                .await
                .map_err(AppError::internal)?;
            return Err(spent());
        }
    };
    let user = users::by_id(db, &user_id)
        .await
        .map_err(AppError::internal)?
        .filter(|u| !u.disabled)
        .ok_or_else(spent)?;
    Ok(grant(&state, &user, successor))
}

async fn revoke(
    State(state): State<IdentityState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<StatusCode, AppError> {
    // Revoking is answered the same whether or not the token existed: it reveals nothing.
    refresh::revoke_family_of(&state.db, &body.refresh_token)
        .await
        .map_err(AppError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct Me {
    id: String,
    username: String,
    is_admin: bool,
    must_change_password: bool,
    totp_enabled: bool,
    authenticated_by: &'static str,
}

async fn me(
    State(state): State<IdentityState>,
    principal: Principal,
) -> Result<Json<Me>, AppError> {
    let totp_enabled = totp::is_enabled(&state.db, &principal.user.id)
        .await
        .map_err(AppError::internal)?;
    let authenticated_by = match principal.via {
        Via::Session(_) => "session",
        Via::AccessToken => "access_token",
        Via::ApiToken(_) => "api_token",
    };
    let user = principal.user;
    Ok(Json(Me {
        id: user.id,
        username: user.username,
        is_admin: user.is_admin,
        must_change_password: user.must_change_password,
        totp_enabled,
        authenticated_by,
    }))
}
