//! Signing in and out in the browser. The password step and the TOTP step are checked by
//! `authenticate`; between them the browser holds only a short-lived, single-use pending
//! token (stored hashed), never a session. Signing in while signed in ends the old session.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::access::routes::{Access, Routes};
use crate::db::now;
use crate::db::{Db, DbError};
use crate::http::{AppError, Client, cookie};
use crate::identity::IdentityState;
use crate::identity::second_factor::totp;
use crate::identity::sessions::{self, MaybeSession, SessionPolicy};
use crate::identity::signin::authenticate::{self, Refusal};
use crate::identity::users::{self, User};
use crate::identity::{digest, random_token};
use crate::ui::{PageError, refuse_cross_site};
use crate::ui::{Shell, render};
use crate::with_pool;
use axum::extract::FromRef;

/// Sign-in routes; public, since they are how one becomes signed in.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new()
        .add(
            "/login",
            &["GET", "POST"],
            Access::Public,
            get(form).post(submit),
        )
        .add("/login/totp", &["POST"], Access::Public, post(submit_totp))
        .add("/logout", &["POST"], Access::Public, post(logout))
}

#[derive(Template)]
#[template(path = "identity/login.html")]
struct LoginPage {
    shell: Shell,
    username: String,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "identity/login_totp.html")]
struct TotpPage {
    shell: Shell,
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
struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

const WRONG: &str = "The username or password is wrong.";
const WRONG_CODE: &str =
    "That code is not valid. Codes change every 30 seconds, and each works once.";
const PENDING_COOKIE: &str = "pmp_pending_login";
/// The TOTP step must follow the password step within this many seconds.
const PENDING_SECS: i64 = 300;

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

fn refusal_page(
    refusal: Refusal,
    shell: Shell,
    page: impl FnOnce(Shell) -> Result<Response, PageError>,
) -> Result<Response, PageError> {
    match refusal {
        Refusal::Wrong => page(shell),
        Refusal::Locked(wait) => Err(PageError::in_shell(AppError::TooMany(wait), shell)),
        Refusal::Internal(e) => Err(PageError::in_shell(e, shell)),
    }
}

async fn submit(
    State(state): State<IdentityState>,
    MaybeSession(current): MaybeSession,
    client: Client,
    shell: Shell,
    headers: HeaderMap,
    Form(input): Form<LoginForm>,
) -> Result<Response, PageError> {
    refuse_cross_site(&headers, &shell, "sign-in")?;
    let user =
        match authenticate::password_step(&state, &client, &input.username, input.password).await {
            Ok(user) => user,
            Err(refusal) => {
                let username = input.username.chars().take(64).collect();
                return refusal_page(refusal, shell, |shell| {
                    render(
                        &LoginPage {
                            shell,
                            username,
                            error: Some(WRONG),
                        },
                        StatusCode::UNAUTHORIZED,
                    )
                });
            }
        };
    if let Some(old) = current {
        sessions::end(&state.db, &old)
            .await
            .map_err(AppError::internal)?;
    }
    if totp::is_enabled(&state.db, &user.id)
        .await
        .map_err(AppError::internal)?
    {
        let pending = start_pending(&state.db, &user.id)
            .await
            .map_err(AppError::internal)?;
        let mut response = render(&TotpPage { shell, error: None }, StatusCode::OK)?;
        response.headers_mut().append(
            header::SET_COOKIE,
            pending_cookie(&state.sessions, &pending, PENDING_SECS),
        );
        return Ok(response);
    }
    start_session(&state, &client, &user, "password").await
}

async fn submit_totp(
    State(state): State<IdentityState>,
    client: Client,
    shell: Shell,
    headers: HeaderMap,
    Form(input): Form<CodeForm>,
) -> Result<Response, PageError> {
    refuse_cross_site(&headers, &shell, "second factor")?;
    let expired = || Ok(Redirect::to("/login").into_response());
    let Some(pending) = cookie(&headers, PENDING_COOKIE) else {
        return expired();
    };
    let Some(user) = pending_user(&state.db, &pending)
        .await
        .map_err(AppError::internal)?
    else {
        return expired();
    };
    if let Err(refusal) = authenticate::totp_step(&state, &client, &user, &input.code).await {
        return refusal_page(refusal, shell, |shell| {
            render(
                &TotpPage {
                    shell,
                    error: Some(WRONG_CODE),
                },
                StatusCode::UNAUTHORIZED,
            )
        });
    }
    end_pending(&state.db, &pending)
        .await
        .map_err(AppError::internal)?;
    let mut response = start_session(&state, &client, &user, "password and TOTP").await?;
    response
        .headers_mut()
        .append(header::SET_COOKIE, pending_cookie(&state.sessions, "", 0));
    Ok(response)
}

/// Creates the session and sends the person where they must go first.
async fn start_session(
    state: &IdentityState,
    client: &Client,
    user: &User,
    how: &str,
) -> Result<Response, PageError> {
    let policy = &state.sessions;
    let token = sessions::create(
        &state.db,
        policy,
        &user.id,
        &client.ip.to_string(),
        &client.user_agent,
    )
    .await
    .map_err(AppError::internal)?;
    authenticate::succeeded(state, client, user, how).await?;
    let to = if user.must_change_password {
        "/account/password"
    } else {
        "/"
    };
    let mut response = Redirect::to(to).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, policy.set_cookie(&token));
    Ok(response)
}

fn pending_cookie(policy: &SessionPolicy, value: &str, max_age: i64) -> HeaderValue {
    let secure = if policy.secure { "; Secure" } else { "" };
    let value = format!(
        "{PENDING_COOKIE}={value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn start_pending(db: &Db, user_id: &str) -> Result<String, DbError> {
    const PURGE: &str = "DELETE FROM pending_logins WHERE expires_at <= $1";
    const SQL: &str =
        "INSERT INTO pending_logins (token_hash, user_id, expires_at) VALUES ($1, $2, $3)";
    let token = random_token();
    let now = now();
    with_pool!(db, pool => sqlx::query(PURGE).bind(now).execute(pool).await?.rows_affected());
    with_pool!(db, pool => sqlx::query(SQL).bind(digest(&token)).bind(user_id).bind(now + PENDING_SECS).execute(pool).await?.rows_affected());
    Ok(token)
}

/// The enabled user a live pending token belongs to.
async fn pending_user(db: &Db, token: &str) -> Result<Option<User>, DbError> {
    const SQL: &str =
        "SELECT user_id FROM pending_logins WHERE token_hash = $1 AND expires_at > $2";
    let user_id: Option<String> = with_pool!(db, pool => sqlx::query_scalar(SQL).bind(digest(token)).bind(now()).fetch_optional(pool).await?);
    match user_id {
        Some(id) => Ok(users::by_id(db, &id).await?.filter(|u| !u.disabled)),
        None => Ok(None),
    }
}

async fn end_pending(db: &Db, token: &str) -> Result<(), DbError> {
    const SQL: &str = "DELETE FROM pending_logins WHERE token_hash = $1";
    with_pool!(db, pool => sqlx::query(SQL).bind(digest(token)).execute(pool).await?.rows_affected());
    Ok(())
}

async fn logout(
    State(state): State<IdentityState>,
    MaybeSession(session): MaybeSession,
    shell: Shell,
    headers: HeaderMap,
    Form(input): Form<LogoutForm>,
) -> Result<Response, PageError> {
    let policy = &state.sessions;
    if let Some(session) = session {
        session.check_form(
            &headers,
            &input.csrf,
            &shell.for_session(Some(session.signed_in())),
            "sign-out",
        )?;
        sessions::end(&state.db, &session)
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
