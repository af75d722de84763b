//! User administration (administrators only until roles arrive): create, change role or
//! enabled state, reset a password (the user must choose a new one at next sign-in), reset
//! 2FA, delete, and the portal's second-factor policy. The actions live here once and are
//! offered both as `/api/v1/users` and as the "Users" pages. Each one is a security event,
//! and each that takes rights away revokes the user's credentials at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::access::routes::{Access, Routes};
use crate::access::{Authorized, Grants, Privilege, Target};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{ApiJson, AppError, Client};
use crate::identity::IdentityState;
use crate::identity::principal::Principal;
use crate::identity::random_token;
use crate::identity::second_factor::totp;
use crate::identity::sessions::guard::{self, TotpPolicy};
use crate::identity::signin::password;
use crate::identity::users::{self, User, UserError, Username};
use axum::extract::FromRef;

/// User-administration API routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new()
        .add(
            "/api/v1/users",
            &["GET", "POST"],
            Access::Privilege(Privilege::UserManage),
            get(list_api).post(create_api),
        )
        .add(
            "/api/v1/users/{id}",
            &["GET", "PATCH", "DELETE"],
            Access::Privilege(Privilege::UserManage),
            get(get_api).patch(update_api).delete(delete_api),
        )
        .add(
            "/api/v1/users/{id}/reset-password",
            &["POST"],
            Access::Privilege(Privilege::UserManage),
            post(reset_password_api),
        )
        .add(
            "/api/v1/users/{id}/reset-2fa",
            &["POST"],
            Access::Privilege(Privilege::UserManage),
            post(reset_totp_api),
        )
        .add(
            "/api/v1/security/totp-policy",
            &["GET", "PUT"],
            Access::Privilege(Privilege::UserManage),
            get(policy_api).put(set_policy_api),
        )
}

/// An administrator performing an action, and from where: built only by `Actor::admit`,
/// so every action below has passed the `user.manage` check on `/`.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    /// Who acts.
    pub user: &'a User,
    /// From where.
    pub client: &'a Client,
    _authorized: Authorized,
}

impl<'a> Actor<'a> {
    /// The actor, given the proof that they may manage users.
    pub fn admit(user: &'a User, client: &'a Client, authorized: Authorized) -> Self {
        Self {
            user,
            client,
            _authorized: authorized,
        }
    }
}

/// Checks `user.manage` on `/` for holders of `grants`.
pub fn may_manage_users(grants: &Grants) -> Result<Authorized, AppError> {
    grants
        .authorize(Privilege::UserManage, Target::Root)
        .map_err(|_| AppError::Forbidden("Only administrators manage users.".to_owned()))
}

fn user_error(e: UserError) -> AppError {
    match e {
        UserError::Taken => AppError::Conflict("A user with this name already exists.".to_owned()),
        UserError::LastAdmin => AppError::Conflict(format!("{e}.")),
        UserError::Db(e) => AppError::internal(e),
    }
}

async fn record(
    state: &IdentityState,
    actor: &Actor<'_>,
    kind: Kind,
    target: &User,
    what: &str,
) -> Result<(), AppError> {
    let detail = format!("{what} by {}", actor.user.username);
    events::record(
        &state.db,
        kind,
        Subject::user(&target.id, &target.username),
        actor.client,
        &detail,
    )
    .await
    .map_err(AppError::internal)
}

/// The user `id` (a UUID); not found for anything else.
pub async fn find(state: &IdentityState, id: &str) -> Result<User, AppError> {
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| AppError::NotFound)?
        .to_string();
    users::by_id(&state.db, &id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)
}

/// A strong temporary password the user replaces at first sign-in.
fn temporary_password() -> String {
    random_token().chars().take(20).collect()
}

/// Creates a user with a temporary password (returned once) that must be changed.
pub async fn create(
    state: &IdentityState,
    actor: &Actor<'_>,
    username: &str,
    is_admin: bool,
) -> Result<(User, String), AppError> {
    let name = Username::parse(username).map_err(|e| AppError::BadRequest(format!("{e}.")))?;
    let temporary = temporary_password();
    let hash = password::hash(temporary.clone())
        .await
        .map_err(AppError::internal)?;
    let user = users::create(&state.db, &name, &hash, is_admin, true)
        .await
        .map_err(user_error)?;
    record(
        state,
        actor,
        Kind::UserCreated,
        &user,
        if is_admin {
            "created as administrator"
        } else {
            "created"
        },
    )
    .await?;
    Ok((user, temporary))
}

/// Sets role and enabled state.
pub async fn update(
    state: &IdentityState,
    actor: &Actor<'_>,
    target: &User,
    is_admin: bool,
    disabled: bool,
) -> Result<(), AppError> {
    users::update(&state.db, &target.id, is_admin, disabled)
        .await
        .map_err(user_error)?;
    let what = format!(
        "set to {}, {}",
        if is_admin { "administrator" } else { "user" },
        if disabled { "disabled" } else { "enabled" }
    );
    record(state, actor, Kind::UserChanged, target, &what).await
}

/// Replaces the password with a temporary one (returned once) and revokes every credential.
pub async fn reset_password(
    state: &IdentityState,
    actor: &Actor<'_>,
    target: &User,
) -> Result<String, AppError> {
    let temporary = temporary_password();
    let hash = password::hash(temporary.clone())
        .await
        .map_err(AppError::internal)?;
    users::set_password(
        &state.db,
        &target.id,
        &hash,
        users::PasswordChange::Reset { must_change: true },
    )
    .await
    .map_err(AppError::internal)?;
    record(state, actor, Kind::PasswordReset, target, "password reset").await?;
    Ok(temporary)
}

/// Removes the user's second factor (a lost phone and no recovery codes).
pub async fn reset_totp(
    state: &IdentityState,
    actor: &Actor<'_>,
    target: &User,
) -> Result<(), AppError> {
    totp::disable(&state.db, &target.id)
        .await
        .map_err(AppError::internal)?;
    record(
        state,
        actor,
        Kind::TotpDisabled,
        target,
        "two-factor sign-in reset",
    )
    .await
}

/// Deletes the user.
pub async fn remove(
    state: &IdentityState,
    actor: &Actor<'_>,
    target: &User,
) -> Result<(), AppError> {
    users::delete(&state.db, &target.id)
        .await
        .map_err(user_error)?;
    record(state, actor, Kind::UserDeleted, target, "deleted").await
}

/// The policy named by `kind` (`optional`, `everyone`, `admins`, or `roles` with `roles`),
/// refusing unknown kinds and role ids that do not exist.
pub async fn policy_from(
    state: &IdentityState,
    kind: &str,
    roles: Vec<String>,
) -> Result<TotpPolicy, AppError> {
    let policy = match kind {
        "optional" => TotpPolicy::Optional,
        "everyone" => TotpPolicy::Everyone,
        "admins" => TotpPolicy::Roles(vec![crate::access::store::ADMINISTRATOR.to_owned()]),
        "roles" if !roles.is_empty() => TotpPolicy::Roles(roles),
        _ => {
            return Err(AppError::BadRequest(
                "require is optional, everyone, admins, or roles with a list of role ids."
                    .to_owned(),
            ));
        }
    };
    let known = crate::access::admin::roles(&state.db)
        .await
        .map_err(AppError::internal)?;
    if let Some(unknown) = policy
        .roles()
        .iter()
        .find(|r| !known.iter().any(|k| &k.id == *r))
    {
        let shown: String = unknown.chars().take(40).collect();
        return Err(AppError::BadRequest(format!("There is no role `{shown}`.")));
    }
    Ok(policy)
}

/// Sets who must use a second factor.
pub async fn set_policy(
    state: &IdentityState,
    actor: &Actor<'_>,
    policy: &TotpPolicy,
) -> Result<(), AppError> {
    guard::set_totp_policy(&state.db, policy)
        .await
        .map_err(AppError::internal)?;
    let detail = format!(
        "two-factor sign-in required for: {} (by {})",
        policy.to_stored(),
        actor.user.username
    );
    events::record(
        &state.db,
        Kind::UserChanged,
        Subject::default(),
        actor.client,
        &detail,
    )
    .await
    .map_err(AppError::internal)
}

fn actor(principal: &Principal) -> Result<Actor<'_>, AppError> {
    let authorized = may_manage_users(&principal.grants)?;
    Ok(Actor::admit(&principal.user, &principal.client, authorized))
}

#[derive(Serialize)]
struct UserBody {
    #[serde(flatten)]
    user: User,
    totp_enabled: bool,
}

async fn describe(state: &IdentityState, user: User) -> Result<UserBody, AppError> {
    let totp_enabled = totp::is_enabled(&state.db, &user.id)
        .await
        .map_err(AppError::internal)?;
    Ok(UserBody { user, totp_enabled })
}

async fn list_api(
    State(state): State<IdentityState>,
    principal: Principal,
) -> Result<Json<Vec<UserBody>>, AppError> {
    actor(&principal)?;
    let mut out = Vec::new();
    for user in users::list(&state.db).await.map_err(AppError::internal)? {
        out.push(describe(&state, user).await?);
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct CreateBody {
    username: String,
    #[serde(default)]
    is_admin: bool,
}

#[derive(Serialize)]
struct CreatedBody {
    #[serde(flatten)]
    user: User,
    temporary_password: String,
}

async fn create_api(
    State(state): State<IdentityState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, AppError> {
    let (user, temporary_password) =
        create(&state, &actor(&principal)?, &body.username, body.is_admin).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedBody {
            user,
            temporary_password,
        }),
    )
        .into_response())
}

async fn get_api(
    State(state): State<IdentityState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserBody>, AppError> {
    actor(&principal)?;
    let user = find(&state, &id).await?;
    Ok(Json(describe(&state, user).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    is_admin: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
}

async fn update_api(
    State(state): State<IdentityState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Json<UserBody>, AppError> {
    let actor = actor(&principal)?;
    let target = find(&state, &id).await?;
    let is_admin = body.is_admin.unwrap_or(target.is_admin);
    let disabled = body.disabled.unwrap_or(target.disabled);
    update(&state, &actor, &target, is_admin, disabled).await?;
    Ok(Json(describe(&state, find(&state, &id).await?).await?))
}

async fn delete_api(
    State(state): State<IdentityState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let actor = actor(&principal)?;
    let target = find(&state, &id).await?;
    remove(&state, &actor, &target).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct TemporaryBody {
    temporary_password: String,
}

async fn reset_password_api(
    State(state): State<IdentityState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<TemporaryBody>, AppError> {
    let actor = actor(&principal)?;
    let target = find(&state, &id).await?;
    let temporary_password = reset_password(&state, &actor, &target).await?;
    Ok(Json(TemporaryBody { temporary_password }))
}

async fn reset_totp_api(
    State(state): State<IdentityState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let actor = actor(&principal)?;
    let target = find(&state, &id).await?;
    reset_totp(&state, &actor, &target).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize)]
struct PolicyBody {
    require: String,
    #[serde(default)]
    roles: Vec<String>,
}

impl From<&TotpPolicy> for PolicyBody {
    fn from(policy: &TotpPolicy) -> Self {
        Self {
            require: policy.kind().to_owned(),
            roles: policy.roles().to_vec(),
        }
    }
}

async fn policy_api(
    State(state): State<IdentityState>,
    principal: Principal,
) -> Result<Json<PolicyBody>, AppError> {
    actor(&principal)?;
    let policy = guard::totp_policy(&state.db)
        .await
        .map_err(AppError::internal)?;
    Ok(Json(PolicyBody::from(&policy)))
}

async fn set_policy_api(
    State(state): State<IdentityState>,
    principal: Principal,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Result<Json<PolicyBody>, AppError> {
    let actor = actor(&principal)?;
    let policy = policy_from(&state, &body.require, body.roles).await?;
    set_policy(&state, &actor, &policy).await?;
    Ok(Json(PolicyBody::from(&policy)))
}
