//! The "Users" pages: the list with a create form and the second-factor policy, and one
//! page per user with role, enabled state, password reset, 2FA reset and deletion. The
//! actions themselves are `admin`'s; this module only renders and reads forms.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::access::Privilege;
use crate::access::routes::{Access, Routes};
use crate::http::{AppError, Client, FormFields, form_value};
use crate::identity::IdentityState;
use crate::identity::second_factor::totp;
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::guard::{self, TotpPolicy, Viewer};
use crate::identity::users::admin::{self, Actor};
use crate::identity::users::{self, User};
use crate::ui::PageError;
use crate::ui::{Shell, render, utc};
use axum::extract::FromRef;

/// User-administration pages.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new()
        .add(
            "/users",
            &["GET", "POST"],
            Access::Privilege(Privilege::UserManage),
            get(list_page).post(create_form),
        )
        .add(
            "/users/policy",
            &["POST"],
            Access::Privilege(Privilege::UserManage),
            post(policy_form),
        )
        .add(
            "/users/{id}",
            &["GET", "POST"],
            Access::Privilege(Privilege::UserManage),
            get(user_page).post(update_form),
        )
        .add(
            "/users/{id}/reset-password",
            &["POST"],
            Access::Privilege(Privilege::UserManage),
            post(reset_password_form),
        )
        .add(
            "/users/{id}/reset-2fa",
            &["POST"],
            Access::Privilege(Privilege::UserManage),
            post(reset_totp_form),
        )
        .add(
            "/users/{id}/delete",
            &["POST"],
            Access::Privilege(Privilege::UserManage),
            post(delete_form),
        )
}

struct Row {
    user: User,
    created: String,
    totp: bool,
}

#[derive(Template)]
#[template(path = "identity/users.html")]
struct ListPage {
    shell: Shell,
    rows: Vec<Row>,
    policy: TotpPolicy,
    roles: Vec<crate::access::admin::Role>,
    created: Option<(String, String)>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "identity/user.html")]
struct UserPage {
    shell: Shell,
    user: User,
    totp: bool,
    temporary: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
struct UpdateForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    state: String,
}

/// Admits an administrator (a form's CSRF token was checked by `PageForm`).
fn admit<'a>(viewer: &'a Viewer, client: &'a Client) -> Result<Actor<'a>, PageError> {
    let authorized = admin::may_manage_users(&viewer.grants)
        .map_err(|e| PageError::in_shell(e, viewer.shell.clone()))?;
    Ok(Actor::admit(&viewer.user, client, authorized))
}

async fn show_list(
    state: &IdentityState,
    viewer: &Viewer,
    created: Option<(String, String)>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let db = &state.db;
    let mut rows = Vec::new();
    for user in users::list(db)
        .await
        .map_err(|e| fail(AppError::internal(e)))?
    {
        let totp = totp::is_enabled(db, &user.id)
            .await
            .map_err(|e| fail(AppError::internal(e)))?;
        rows.push(Row {
            created: utc(user.created_at),
            totp,
            user,
        });
    }
    let policy = guard::totp_policy(db)
        .await
        .map_err(|e| fail(AppError::internal(e)))?;
    let roles = crate::access::admin::roles(db)
        .await
        .map_err(|e| fail(AppError::internal(e)))?;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        &ListPage {
            shell: viewer.shell.clone(),
            rows,
            policy,
            roles,
            created,
            error,
        },
        status,
    )
}

async fn list_page(
    State(state): State<IdentityState>,
    viewer: Viewer,
    client: Client,
) -> Result<Response, PageError> {
    admit(&viewer, &client)?;
    show_list(&state, &viewer, None, None).await
}

async fn create_form(
    State(state): State<IdentityState>,
    client: Client,
    PageForm { viewer, input }: PageForm<CreateForm>,
) -> Result<Response, PageError> {
    let actor = admit(&viewer, &client)?;
    match admin::create(&state, &actor, &input.username, input.role == "admin").await {
        Ok((user, temporary)) => {
            show_list(&state, &viewer, Some((user.username, temporary)), None).await
        }
        Err(AppError::BadRequest(why) | AppError::Conflict(why)) => {
            show_list(&state, &viewer, None, Some(why)).await
        }
        Err(e) => Err(PageError::in_shell(e, viewer.shell.clone())),
    }
}

async fn policy_form(
    State(state): State<IdentityState>,
    client: Client,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let field = |name: &str| form_value(&fields, name);
    let actor = admit(&viewer, &client)?;
    let roles = fields
        .iter()
        .filter(|(k, _)| k == "role")
        .map(|(_, v)| v.clone())
        .collect();
    let policy = match admin::policy_from(&state, field("require"), roles).await {
        Ok(policy) => policy,
        Err(AppError::BadRequest(why)) => return show_list(&state, &viewer, None, Some(why)).await,
        Err(e) => return Err(PageError::in_shell(e, viewer.shell.clone())),
    };
    admin::set_policy(&state, &actor, &policy)
        .await
        .map_err(|e| PageError::in_shell(e, viewer.shell.clone()))?;
    Ok(Redirect::to("/users").into_response())
}

async fn show_user(
    state: &IdentityState,
    viewer: &Viewer,
    id: &str,
    temporary: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let user = admin::find(state, id).await.map_err(fail)?;
    let totp = totp::is_enabled(&state.db, &user.id)
        .await
        .map_err(|e| fail(AppError::internal(e)))?;
    let status = if error.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    render(
        &UserPage {
            shell: viewer.shell.clone(),
            user,
            totp,
            temporary,
            error,
        },
        status,
    )
}

async fn user_page(
    State(state): State<IdentityState>,
    viewer: Viewer,
    client: Client,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    admit(&viewer, &client)?;
    show_user(&state, &viewer, &id, None, None).await
}

/// One change to a user from their page.
enum Action {
    Update { is_admin: bool, disabled: bool },
    ResetPassword,
    ResetTotp,
}

/// Runs one action on the user `id` and shows their page again.
async fn act(
    state: &IdentityState,
    viewer: &Viewer,
    client: &Client,
    id: &str,
    action: Action,
) -> Result<Response, PageError> {
    let actor = admit(viewer, client)?;
    let target = admin::find(state, id)
        .await
        .map_err(|e| PageError::in_shell(e, viewer.shell.clone()))?;
    let outcome = match action {
        Action::Update { is_admin, disabled } => {
            admin::update(state, &actor, &target, is_admin, disabled)
                .await
                .map(|()| None)
        }
        Action::ResetPassword => admin::reset_password(state, &actor, &target)
            .await
            .map(Some),
        Action::ResetTotp => admin::reset_totp(state, &actor, &target)
            .await
            .map(|()| None),
    };
    match outcome {
        Ok(temporary) => show_user(state, viewer, id, temporary, None).await,
        Err(AppError::Conflict(why)) => show_user(state, viewer, id, None, Some(why)).await,
        Err(e) => Err(PageError::in_shell(e, viewer.shell.clone())),
    }
}

async fn update_form(
    State(state): State<IdentityState>,
    client: Client,
    Path(id): Path<String>,
    PageForm { viewer, input }: PageForm<UpdateForm>,
) -> Result<Response, PageError> {
    let action = Action::Update {
        is_admin: input.role == "admin",
        disabled: input.state == "disabled",
    };
    act(&state, &viewer, &client, &id, action).await
}

async fn reset_password_form(
    State(state): State<IdentityState>,
    client: Client,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let action = Action::ResetPassword;
    act(&state, &viewer, &client, &id, action).await
}

async fn reset_totp_form(
    State(state): State<IdentityState>,
    client: Client,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let action = Action::ResetTotp;
    act(&state, &viewer, &client, &id, action).await
}

async fn delete_form(
    State(state): State<IdentityState>,
    client: Client,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let actor = admit(&viewer, &client)?;
    let target = admin::find(&state, &id)
        .await
        .map_err(|e| PageError::in_shell(e, viewer.shell.clone()))?;
    match admin::remove(&state, &actor, &target).await {
        Ok(()) => Ok(Redirect::to("/users").into_response()),
        Err(AppError::Conflict(why)) => show_user(&state, &viewer, &id, None, Some(why)).await,
        Err(e) => Err(PageError::in_shell(e, viewer.shell.clone())),
    }
}
