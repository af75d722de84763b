//! First run. There are no default credentials: until an administrator exists, each start-up
//! issues a fresh one-time setup token, prints the setup link with it, and stores only its
//! SHA-256 digest. The wizard at `/setup` accepts nothing without that token, creates exactly
//! one administrator even when several submissions race, and then closes for good. The same
//! step over the API is `api`.

mod api;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::access::routes::{Access, Routes};
use crate::access::store;
use crate::db::{BeginWrite as _, Db, DbError};
use crate::http::AppError;
use crate::identity::IdentityState;
use crate::identity::signin::password;
use crate::identity::users::Username;
use crate::identity::{digest, random_token, secret_eq};
use crate::settings::{self, Key};
use crate::ui::{PageError, refuse_cross_site};
use crate::ui::{Shell, render};
use crate::with_pool;
use axum::extract::FromRef;

const TOKEN_DIGEST: Key = Key("setup.token_sha256");
const COMPLETED_AT: Key = Key("setup.completed_at");

/// Setup routes; public, since they are guarded by the setup token itself.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new()
        .add(
            "/setup",
            &["GET", "POST"],
            Access::Public,
            get(form).post(submit),
        )
        .merge(api::routes())
}

/// True once the first administrator exists.
pub async fn is_complete(db: &Db) -> Result<bool, DbError> {
    Ok(settings::get(db, COMPLETED_AT).await?.is_some())
}

/// Issues a fresh setup token when setup is still open, replacing any earlier one.
pub async fn issue_token(db: &Db) -> Result<Option<String>, DbError> {
    if is_complete(db).await? {
        return Ok(None);
    }
    let token = random_token();
    settings::set(db, TOKEN_DIGEST, &digest(&token)).await?;
    Ok(Some(token))
}

/// The link a person opens to run the wizard.
pub fn link(base_url: &str, token: &str) -> String {
    format!("{}/setup?token={token}", base_url.trim_end_matches('/'))
}

/// Whether `token` is the one most recently issued; compares digests in constant time.
pub async fn token_matches(db: &Db, token: &str) -> Result<bool, DbError> {
    let Some(stored) = settings::get(db, TOKEN_DIGEST).await? else {
        return Ok(false);
    };
    Ok(secret_eq(&stored, &digest(token)))
}

/// Creates the first administrator, unless one already exists; true when this call did.
/// The `setup.completed_at` row is the lock: only one racing transaction can insert it.
pub async fn create_first_admin(
    db: &Db,
    username: &Username,
    password_hash: &str,
) -> Result<bool, DbError> {
    const CLAIM: &str = "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
        ON CONFLICT (key) DO NOTHING";
    const INSERT_USER: &str = "INSERT INTO users \
        (id, username, password_hash, disabled, created_at, must_change_password, auth_epoch) \
        VALUES ($1, $2, $3, FALSE, $4, FALSE, 0)";
    const FORGET_TOKEN: &str = "DELETE FROM settings WHERE key = $1";
    let now = crate::db::now();
    let id = uuid::Uuid::new_v4().to_string();
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let claimed = sqlx::query(CLAIM)
            .bind(COMPLETED_AT.0)
            .bind(now.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed != 1 {
            return Ok(false);
        }
        sqlx::query(INSERT_USER)
            .bind(&id)
            .bind(username.as_str())
            .bind(password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(store::GRANT_ROOT)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&id)
            .bind(store::ADMINISTRATOR)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(FORGET_TOKEN).bind(TOKEN_DIGEST.0).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(true)
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The wizard's fields; the password fields are never echoed back.
#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

#[derive(Template)]
#[template(path = "identity/setup.html")]
struct SetupPage {
    shell: Shell,
    token: String,
    username: String,
    errors: Vec<String>,
    min_length: usize,
}

#[derive(Template)]
#[template(path = "identity/setup_done.html")]
struct DonePage {
    shell: Shell,
    username: String,
}

const STALE_LINK: &str = "This setup link is not valid. Each start of the portal prints a \
    fresh link in its log; use the most recent one.";

/// Lets through only the holder of the current token. Completing setup deletes the token,
/// so once an administrator exists every request finds nothing here, as if the wizard had
/// never been there, including a submission that lost a race to the one that completed it.
async fn admit(db: &Db, token: &str, shell: &Shell) -> Result<(), PageError> {
    if token_matches(db, token).await.map_err(AppError::internal)? {
        return Ok(());
    }
    if is_complete(db).await.map_err(AppError::internal)? {
        return Err(PageError::in_shell(AppError::NotFound, shell.clone()));
    }
    tracing::warn!("setup attempted with an invalid token");
    Err(PageError::in_shell(
        AppError::Forbidden(STALE_LINK.to_owned()),
        shell.clone(),
    ))
}

async fn form(
    State(state): State<IdentityState>,
    shell: Shell,
    Query(query): Query<TokenQuery>,
) -> Result<Response, PageError> {
    admit(&state.db, &query.token, &shell).await?;
    let page = SetupPage {
        shell,
        token: query.token,
        username: String::new(),
        errors: Vec::new(),
        min_length: password::MIN_LENGTH,
    };
    render(&page, StatusCode::OK)
}

async fn submit(
    State(state): State<IdentityState>,
    shell: Shell,
    headers: HeaderMap,
    Form(input): Form<SetupForm>,
) -> Result<Response, PageError> {
    refuse_cross_site(&headers, &shell, "setup")?;
    let db = &state.db;
    admit(db, &input.token, &shell).await?;

    let mut errors = Vec::new();
    let username = Username::parse(&input.username).map_err(|e| errors.push(e.to_string()));
    if let Err(e) = password::check_policy(&input.password, input.username.trim()) {
        errors.push(e.to_string());
    }
    if input.password != input.password_confirm {
        errors.push("the two passwords differ".to_owned());
    }
    let username = match username {
        Ok(name) if errors.is_empty() => name,
        _ => {
            let page = SetupPage {
                shell,
                token: input.token,
                username: input.username.chars().take(64).collect(),
                errors,
                min_length: password::MIN_LENGTH,
            };
            return render(&page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let hash = password::hash(input.password)
        .await
        .map_err(AppError::internal)?;
    if !create_first_admin(db, &username, &hash)
        .await
        .map_err(AppError::internal)?
    {
        return Err(PageError::in_shell(AppError::NotFound, shell));
    }
    tracing::info!(username = %username, "first administrator created; setup is closed");
    let page = DonePage {
        shell,
        username: username.to_string(),
    };
    render(&page, StatusCode::OK)
}
