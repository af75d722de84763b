//! `/api/v1/roles`, `/api/v1/groups`, `/api/v1/acl` and the "effective permissions" answer
//! (`/api/v1/users/{id}/permissions?path=...`): what a user may do on a path, and which ACL
//! entry grants each privilege. All need `user.manage`; every change is a security event.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, put};
use serde::{Deserialize, Serialize};

use crate::access::admin::{self, AdminError, Entry, Group, Role};
use crate::access::routes::{Access, Routes};
use crate::access::{AclPath, Privilege, Target, store};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{ApiJson, AppError};
use crate::identity::principal::Principal;
use crate::identity::users;
use crate::inventory::InventoryState;
use axum::extract::FromRef;

const MANAGE: Access = Access::Privilege(Privilege::UserManage);

/// Access-administration API routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    InventoryState: FromRef<S>,
{
    Routes::new()
        .add(
            "/api/v1/roles",
            &["GET", "POST"],
            MANAGE,
            get(list_roles).post(create_role),
        )
        .add(
            "/api/v1/roles/{id}",
            &["PATCH", "DELETE"],
            MANAGE,
            patch(update_role).delete(delete_role),
        )
        .add(
            "/api/v1/groups",
            &["GET", "POST"],
            MANAGE,
            get(list_groups).post(create_group),
        )
        .add(
            "/api/v1/groups/{id}",
            &["DELETE"],
            MANAGE,
            delete(delete_group),
        )
        .add(
            "/api/v1/groups/{id}/members/{user_id}",
            &["PUT", "DELETE"],
            MANAGE,
            put(add_member).delete(remove_member),
        )
        .add(
            "/api/v1/acl",
            &["GET", "POST"],
            MANAGE,
            get(list_acl).post(add_entry),
        )
        .add(
            "/api/v1/acl/{id}",
            &["DELETE"],
            MANAGE,
            delete(remove_entry),
        )
        .add(
            "/api/v1/users/{id}/permissions",
            &["GET"],
            MANAGE,
            get(effective),
        )
}

/// Maps a refusal to the API's answer; unknown ids are 404 like everywhere else.
pub fn admin_error(e: AdminError) -> AppError {
    match e {
        AdminError::Missing(_) => AppError::NotFound,
        AdminError::Builtin | AdminError::Taken | AdminError::LastAdmin => {
            AppError::Conflict(format!("{e}."))
        }
        AdminError::Db(e) => AppError::internal(e),
        other => AppError::BadRequest(format!("{other}.")),
    }
}

async fn record(
    state: &InventoryState,
    principal: &Principal,
    detail: String,
) -> Result<(), AppError> {
    let subject = Subject::user(&principal.user.id, &principal.user.username);
    events::record(
        &state.db,
        Kind::AccessChanged,
        subject,
        &principal.client,
        &detail,
    )
    .await
    .map_err(AppError::internal)
}

#[derive(Serialize)]
struct Id {
    id: String,
}

fn created(id: String) -> Response {
    (StatusCode::CREATED, Json(Id { id })).into_response()
}

async fn list_roles(State(state): State<InventoryState>) -> Result<Json<Vec<Role>>, AppError> {
    Ok(Json(
        admin::roles(&state.db).await.map_err(AppError::internal)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    name: String,
    privileges: Vec<String>,
}

async fn create_role(
    State(state): State<InventoryState>,
    principal: Principal,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Response, AppError> {
    let id = admin::create_role(&state.db, &body.name, &body.privileges.join(","))
        .await
        .map_err(admin_error)?;
    record(&state, &principal, format!("role {id} created")).await?;
    Ok(created(id))
}

async fn update_role(
    State(state): State<InventoryState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<StatusCode, AppError> {
    admin::update_role(&state.db, &id, &body.name, &body.privileges.join(","))
        .await
        .map_err(admin_error)?;
    record(&state, &principal, format!("role {id} changed")).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_role(
    State(state): State<InventoryState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    admin::delete_role(&state.db, &id)
        .await
        .map_err(admin_error)?;
    record(&state, &principal, format!("role {id} deleted")).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_groups(State(state): State<InventoryState>) -> Result<Json<Vec<Group>>, AppError> {
    Ok(Json(
        admin::groups(&state.db).await.map_err(AppError::internal)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    name: String,
}

async fn create_group(
    State(state): State<InventoryState>,
    principal: Principal,
    ApiJson(body): ApiJson<GroupBody>,
) -> Result<Response, AppError> {
    let id = admin::create_group(&state.db, &body.name)
        .await
        .map_err(admin_error)?;
    record(&state, &principal, format!("group {id} created")).await?;
    Ok(created(id))
}

async fn delete_group(
    State(state): State<InventoryState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    admin::delete_group(&state.db, &id)
        .await
        .map_err(admin_error)?;
    record(&state, &principal, format!("group {id} deleted")).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_member(
    state: &InventoryState,
    principal: &Principal,
    group: &str,
    user: &str,
    member: bool,
) -> Result<StatusCode, AppError> {
    admin::set_member(&state.db, group, user, member)
        .await
        .map_err(admin_error)?;
    let verb = if member { "added to" } else { "removed from" };
    record(
        state,
        principal,
        format!("user {user} {verb} group {group}"),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_member(
    State(state): State<InventoryState>,
    principal: Principal,
    Path((group, user)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    set_member(&state, &principal, &group, &user, true).await
}

async fn remove_member(
    State(state): State<InventoryState>,
    principal: Principal,
    Path((group, user)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    set_member(&state, &principal, &group, &user, false).await
}

async fn list_acl(State(state): State<InventoryState>) -> Result<Json<Vec<Entry>>, AppError> {
    Ok(Json(
        admin::entries(&state.db)
            .await
            .map_err(AppError::internal)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryBody {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    group_id: Option<String>,
    path: String,
    role_id: String,
    #[serde(default = "yes")]
    propagate: bool,
}

fn yes() -> bool {
    true
}

async fn add_entry(
    State(state): State<InventoryState>,
    principal: Principal,
    ApiJson(body): ApiJson<EntryBody>,
) -> Result<Response, AppError> {
    let who = match (&body.user_id, &body.group_id) {
        (Some(user), None) => admin::Principal::User(user),
        (None, Some(group)) => admin::Principal::Group(group),
        _ => {
            return Err(AppError::BadRequest(
                "Give exactly one of user_id and group_id.".to_owned(),
            ));
        }
    };
    let id = admin::add_entry(&state.db, who, &body.path, &body.role_id, body.propagate)
        .await
        .map_err(admin_error)?;
    record(
        &state,
        &principal,
        format!("ACL entry {id}: role {} on {}", body.role_id, body.path),
    )
    .await?;
    Ok(created(id))
}

async fn remove_entry(
    State(state): State<InventoryState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    admin::remove_entry(&state.db, &id)
        .await
        .map_err(admin_error)?;
    record(&state, &principal, format!("ACL entry {id} removed")).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct PathQuery {
    path: String,
}

#[derive(Serialize)]
struct Because {
    privilege: &'static str,
    entries: Vec<Reason>,
}

#[derive(Serialize)]
struct Reason {
    entry_id: String,
    path: String,
    role_id: String,
    propagate: bool,
    via_group: Option<String>,
}

/// What the user `id` may do on `path`, and which entries grant it. Guests are checked by
/// their own path; pool and node membership come from the inventory once servers exist.
async fn effective(
    State(state): State<InventoryState>,
    Path(id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Json<Vec<Because>>, AppError> {
    let user = users::by_id(&state.db, &id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    let path = AclPath::parse(&query.path).map_err(|e| AppError::BadRequest(format!("{e}.")))?;
    let target = Target::from(path);
    let grants = store::grants_of(&state.db, &user.id)
        .await
        .map_err(AppError::internal)?;
    let answer = grants
        .effective(&target)
        .into_iter()
        .map(|(privilege, entries)| Because {
            privilege: privilege.as_str(),
            entries: entries
                .into_iter()
                .map(|g| Reason {
                    entry_id: g.entry_id.clone(),
                    path: g.path.to_string(),
                    role_id: g.role_id.clone(),
                    propagate: g.propagate,
                    via_group: g.via_group.clone(),
                })
                .collect(),
        })
        .collect();
    Ok(Json(answer))
}
