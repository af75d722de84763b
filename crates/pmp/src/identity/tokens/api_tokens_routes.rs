//! Personal API tokens over HTTP: the "API tokens" page and `/api/v1/tokens`. A token's
//! secret appears exactly once, in the answer that created it. Only one's own tokens are
//! listed or revocable; another person's token id answers 404 like one that does not exist.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

use crate::access::AclPath;
use crate::access::routes::{Access, Routes};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{ApiJson, AppError, Client};
use crate::identity::IdentityState;
use crate::identity::principal::Principal;
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::guard::Viewer;
use crate::identity::tokens::api_tokens::{self, TokenInfo};
use crate::identity::users::User;
use crate::ui::PageError;
use crate::ui::{Shell, render, utc};
use axum::extract::FromRef;

/// Token routes: each needs a signed-in person or a bearer credential.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new()
        .add(
            "/account/tokens",
            &["GET", "POST"],
            Access::SignedIn,
            get(page).post(create_form),
        )
        .add(
            "/account/tokens/{id}/revoke",
            &["POST"],
            Access::SignedIn,
            post(revoke_form),
        )
        .add(
            "/api/v1/tokens",
            &["GET", "POST"],
            Access::SignedIn,
            get(list_api).post(create_api),
        )
        .add(
            "/api/v1/tokens/{id}",
            &["DELETE"],
            Access::SignedIn,
            delete(revoke_api),
        )
}

async fn create(
    state: &IdentityState,
    client: &Client,
    user: &User,
    name: &str,
    days: Option<u32>,
    scope: Option<(&str, &AclPath)>,
) -> Result<(String, String), AppError> {
    let (id, secret) = api_tokens::create(&state.db, &user.id, name, days, scope)
        .await
        .map_err(AppError::internal)?
        .map_err(|e| AppError::BadRequest(format!("{e}.")))?;
    let subject = Subject::user(&user.id, &user.username);
    let detail = format!("token {id}");
    events::record(&state.db, Kind::ApiTokenCreated, subject, client, &detail)
        .await
        .map_err(AppError::internal)?;
    Ok((id, secret))
}

/// Revokes one of `user`'s tokens; not found when the id is malformed or not theirs.
async fn revoke(
    state: &IdentityState,
    client: &Client,
    user: &User,
    id: &str,
) -> Result<(), AppError> {
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| AppError::NotFound)?
        .to_string();
    api_tokens::revoke(&state.db, &user.id, &id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    let subject = Subject::user(&user.id, &user.username);
    events::record(
        &state.db,
        Kind::ApiTokenRevoked,
        subject,
        client,
        &format!("token {id}"),
    )
    .await
    .map_err(AppError::internal)
}

struct Row {
    id: String,
    name: String,
    created: String,
    expires: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "identity/tokens.html")]
struct TokensPage {
    shell: Shell,
    rows: Vec<Row>,
    created: Option<String>,
    error: Option<String>,
}

async fn show(
    state: &IdentityState,
    viewer: Viewer,
    created: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let tokens = api_tokens::list(&state.db, &viewer.user.id)
        .await
        .map_err(|e| PageError::in_shell(AppError::internal(e), viewer.shell.clone()))?;
    let rows = tokens
        .into_iter()
        .map(|t| Row {
            created: utc(t.created_at),
            expires: t.expires_at.map_or_else(|| "never".to_owned(), utc),
            last_used: match (t.last_used_at, t.last_used_ip) {
                (Some(at), Some(ip)) => format!("{} from {ip}", utc(at)),
                _ => "never".to_owned(),
            },
            id: t.id,
            name: t.name,
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        &TokensPage {
            shell: viewer.shell,
            rows,
            created,
            error,
        },
        status,
    )
}

async fn page(State(state): State<IdentityState>, viewer: Viewer) -> Result<Response, PageError> {
    show(&state, viewer, None, None).await
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    days: String,
}

async fn create_form(
    State(state): State<IdentityState>,
    client: Client,
    PageForm { viewer, input }: PageForm<CreateForm>,
) -> Result<Response, PageError> {
    let days = match input.days.trim() {
        "" | "0" => Ok(None),
        n => n
            .parse::<u32>()
            .map(Some)
            .map_err(|_| "The lifetime is a whole number of days.".to_owned()),
    };
    let result = match days {
        Ok(days) => create(&state, &client, &viewer.user, &input.name, days, None).await,
        Err(why) => Err(AppError::BadRequest(why)),
    };
    match result {
        Ok((_, secret)) => show(&state, viewer, Some(secret), None).await,
        Err(AppError::BadRequest(why)) => show(&state, viewer, None, Some(why)).await,
        Err(e) => Err(PageError::in_shell(e, viewer.shell)),
    }
}

async fn revoke_form(
    State(state): State<IdentityState>,
    client: Client,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    revoke(&state, &client, &viewer.user, &id)
        .await
        .map_err(|e| PageError::in_shell(e, viewer.shell.clone()))?;
    Ok(Redirect::to("/account/tokens").into_response())
}

async fn list_api(
    State(state): State<IdentityState>,
    principal: Principal,
) -> Result<Json<Vec<TokenInfo>>, AppError> {
    let tokens = api_tokens::list(&state.db, &principal.user.id)
        .await
        .map_err(AppError::internal)?;
    Ok(Json(tokens))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    #[serde(default)]
    expires_in_days: Option<u32>,
    #[serde(default)]
    scope: Option<ScopeBody>,
}

/// Limits a token to one role's privileges on one path (and below).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeBody {
    role_id: String,
    path: String,
}

#[derive(Serialize)]
struct Created {
    id: String,
    name: String,
    token: String,
}

async fn create_api(
    State(state): State<IdentityState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, AppError> {
    let path = match &body.scope {
        Some(scope) => {
            Some(AclPath::parse(&scope.path).map_err(|e| AppError::BadRequest(format!("{e}.")))?)
        }
        None => None,
    };
    let scope = body
        .scope
        .as_ref()
        .zip(path.as_ref())
        .map(|(s, p)| (s.role_id.as_str(), p));
    let (id, token) = create(
        &state,
        &principal.client,
        &principal.user,
        &body.name,
        body.expires_in_days,
        scope,
    )
    .await?;
    let name = api_tokens::check_name(&body.name).unwrap_or_default();
    Ok((StatusCode::CREATED, Json(Created { id, name, token })).into_response())
}

async fn revoke_api(
    State(state): State<IdentityState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    revoke(&state, &principal.client, &principal.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
