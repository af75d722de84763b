//! Signing in and out. Wrong username and wrong password get the same answer after the same
//! work (a password hash is always verified), so the form does not reveal who has an account.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::db::Db;
use crate::http::{AppError, AppState, PageError, refuse_cross_site};
use crate::identity::sessions::{self, MaybeSession};
use crate::identity::users::Username;
use crate::identity::{password, throttle};
use crate::web::{Shell, render};
use crate::with_pool;

/// Sign-in routes; public, since they are how one becomes signed in.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(form).post(submit))
        .route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "identity/login.html")]
struct LoginPage {
    shell: Shell,
    username: String,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

const WRONG: &str = "The username or password is wrong.";

async fn form(MaybeSession(session): MaybeSession, shell: Shell) -> Result<Response, PageError> {
    if session.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    let page = LoginPage {
        shell,
        username: String::new(),
        error: None,
    };
    render(&page, StatusCode::OK)
}

/// A hash to verify against when the user does not exist, so both failures cost the same.
async fn decoy_hash() -> Result<&'static String, AppError> {
    static DECOY: OnceCell<String> = OnceCell::const_new();
    DECOY
        .get_or_try_init(|| password::hash("decoy password never matches".to_owned()))
        .await
        .map_err(AppError::internal)
}

/// The id of the enabled user `username` whose password is `password`.
async fn check_credentials(
    db: &Db,
    username: &str,
    password: String,
) -> Result<Option<String>, AppError> {
    const FIND: &str =
        "SELECT id, password_hash FROM users WHERE username = $1 AND disabled = FALSE";
    let row: Option<(String, String)> = match Username::parse(username) {
        Ok(name) => with_pool!(db, pool => sqlx::query_as(FIND)
            .bind(name.as_str())
            .fetch_optional(pool)
            .await
            .map_err(AppError::internal)?),
        Err(_) => None,
    };
    let (id, stored) = match row {
        Some((id, stored)) => (Some(id), stored),
        None => (None, decoy_hash().await?.clone()),
    };
    let matches = password::verify(password, stored)
        .await
        .map_err(AppError::internal)?;
    Ok(id.filter(|_| matches))
}

async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    shell: Shell,
    headers: HeaderMap,
    Form(input): Form<LoginForm>,
) -> Result<Response, PageError> {
    refuse_cross_site(&headers, &shell, "sign-in")?;
    let db = state.db();
    let account = throttle::Key::account(&input.username);
    let address = throttle::Key::address(&peer.ip().to_string());
    for key in [&account, &address] {
        if let Some(wait) = throttle::locked_for(db, key)
            .await
            .map_err(AppError::internal)?
        {
            tracing::warn!(ip = %peer.ip(), "sign-in refused while locked");
            return Err(PageError::in_shell(AppError::TooMany(wait), shell));
        }
    }
    let password = if input.password.chars().count() > password::MAX_LENGTH {
        String::new()
    } else {
        input.password
    };
    let Some(user_id) = check_credentials(db, &input.username, password).await? else {
        tracing::warn!(ip = %peer.ip(), "sign-in failed");
        for (key, limit) in [(&account, throttle::ACCOUNT), (&address, throttle::ADDRESS)] {
            if throttle::fail(db, key, limit)
                .await
                .map_err(AppError::internal)?
            {
                tracing::warn!(ip = %peer.ip(), lock_secs = limit.lock_secs, "sign-in locked after repeated failures");
            }
        }
        let page = LoginPage {
            shell,
            username: input.username.chars().take(64).collect(),
            error: Some(WRONG),
        };
        return render(&page, StatusCode::UNAUTHORIZED);
    };
    throttle::clear(db, &account)
        .await
        .map_err(AppError::internal)?;
    let (ip, agent) = sessions::client(peer, &headers);
    let policy = state.sessions();
    let token = sessions::create(state.db(), policy, &user_id, &ip, &agent)
        .await
        .map_err(AppError::internal)?;
    tracing::info!(%user_id, %ip, "signed in");
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, policy.set_cookie(&token));
    Ok(response)
}

async fn logout(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
    shell: Shell,
    headers: HeaderMap,
    Form(input): Form<LogoutForm>,
) -> Result<Response, PageError> {
    let policy = state.sessions();
    if let Some(session) = session {
        session.check_form(
            &headers,
            &input.csrf,
            &shell.for_session(Some(&session)),
            "sign-out",
        )?;
        sessions::end(state.db(), &session)
            .await
            .map_err(AppError::internal)?;
        tracing::info!(user_id = %session.user_id, "signed out");
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, policy.clear_cookie());
    Ok(response)
}
