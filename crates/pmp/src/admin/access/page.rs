//! The "Access" page: roles (built-in read-only, custom editable), groups and members, the ACL
//! editor, and the "effective permissions" view that answers what a user may do on a path and
//! which entry grants it. Every form carries the session's CSRF token; changes go through
//! `access::admin` like the API's and are security events.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::access::admin::{self, Entry, Group, Role};
use crate::access::routes::{Access, Routes};
use crate::access::{AclPath, Privilege, Target, store};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{AppError, Client, FormFields, form_value};
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::guard::Viewer;
use crate::identity::users::{self, User};
use crate::inventory::InventoryState;
use crate::ui::PageError;
use crate::ui::{Shell, render};
use axum::extract::FromRef;

const MANAGE: Access = Access::Privilege(Privilege::UserManage);

/// Access-administration pages.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    InventoryState: FromRef<S>,
{
    Routes::new()
        .add("/access", &["GET"], MANAGE, get(page))
        .add("/access/roles", &["POST"], MANAGE, post(create_role))
        .add(
            "/access/roles/{id}/delete",
            &["POST"],
            MANAGE,
            post(delete_role),
        )
        .add("/access/groups", &["POST"], MANAGE, post(create_group))
        .add(
            "/access/groups/{id}/delete",
            &["POST"],
            MANAGE,
            post(delete_group),
        )
        .add(
            "/access/groups/{id}/members",
            &["POST"],
            MANAGE,
            post(members),
        )
        .add("/access/acl", &["POST"], MANAGE, post(add_entry))
        .add(
            "/access/acl/{id}/delete",
            &["POST"],
            MANAGE,
            post(delete_entry),
        )
}

/// One privilege in the effective-permissions answer, with the entries that grant it.
struct Effective {
    privilege: &'static str,
    because: Vec<String>,
}

#[derive(Template)]
#[template(path = "access/access.html")]
struct AccessPage {
    shell: Shell,
    roles: Vec<Role>,
    groups: Vec<Group>,
    entries: Vec<Entry>,
    users: Vec<User>,
    privileges: Vec<&'static str>,
    error: Option<String>,
    who: String,
    path: String,
    effective: Option<Vec<Effective>>,
    /// Only the entries on `path` are listed (the page opened from a server or guest).
    on_path: bool,
}

#[derive(Deserialize, Default)]
struct Question {
    #[serde(default)]
    user: String,
    #[serde(default)]
    path: String,
}

async fn show(
    state: &InventoryState,
    viewer: &Viewer,
    question: Question,
    error: Option<String>,
) -> Result<Response, PageError> {
    let fail =
        |e: crate::db::DbError| PageError::in_shell(AppError::internal(e), viewer.shell.clone());
    let db = &state.db;
    let users = users::list(db).await.map_err(fail)?;
    let asked = AclPath::parse(&question.path);
    let on_path = asked.is_ok();
    let effective = match (users.iter().find(|u| u.id == question.user), asked) {
        (Some(user), Ok(path)) => Some(explain(state, user, path).await.map_err(fail)?),
        _ => None,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = AccessPage {
        shell: viewer.shell.clone(),
        roles: admin::roles(db).await.map_err(fail)?,
        groups: admin::groups(db).await.map_err(fail)?,
        entries: admin::entries(db)
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|e| !on_path || e.path == question.path)
            .collect(),
        users,
        privileges: Privilege::ALL.iter().map(|p| p.as_str()).collect(),
        error,
        who: question.user,
        path: question.path,
        effective,
        on_path,
    };
    render(&page, status)
}

async fn explain(
    state: &InventoryState,
    user: &User,
    path: AclPath,
) -> Result<Vec<Effective>, crate::db::DbError> {
    // A guest is placed on its current node and pool, so entries there count as they do
    // for the guest's own routes.
    let placed = match &path {
        AclPath::Guest(g) => state
            .inventory
            .guest(g.server.as_str(), g.vmid.get())
            .and_then(|row| crate::inventory::target(&row)),
        _ => None,
    };
    let target = placed.unwrap_or_else(|| Target::from(path));
    let grants = store::grants_of(&state.db, &user.id).await?;
    Ok(grants
        .effective(&target)
        .into_iter()
        .map(|(privilege, entries)| Effective {
            privilege: privilege.as_str(),
            because: entries
                .into_iter()
                .map(|g| {
                    let via = g
                        .via_group
                        .as_ref()
                        .map(|name| format!(" via group {name}"))
                        .unwrap_or_default();
                    let reach = if g.propagate { " and below" } else { "" };
                    format!("role {} on {}{reach}{via}", g.role_id, g.path)
                })
                .collect(),
        })
        .collect())
}

async fn page(
    State(state): State<InventoryState>,
    viewer: Viewer,
    Query(question): Query<Question>,
) -> Result<Response, PageError> {
    show(&state, &viewer, question, None).await
}

/// Records a change that was made, and shows the page again (with the refusal when the
/// change was refused).
async fn act(
    state: &InventoryState,
    viewer: &Viewer,
    client: &Client,
    change: Result<String, admin::AdminError>,
) -> Result<Response, PageError> {
    match change {
        Ok(detail) => {
            let subject = Subject::user(&viewer.user.id, &viewer.user.username);
            events::record(&state.db, Kind::AccessChanged, subject, client, &detail)
                .await
                .map_err(|e| PageError::in_shell(AppError::internal(e), viewer.shell.clone()))?;
            Ok(Redirect::to("/access").into_response())
        }
        Err(admin::AdminError::Db(e)) => Err(PageError::in_shell(
            AppError::internal(e),
            viewer.shell.clone(),
        )),
        Err(e) => show(state, viewer, Question::default(), Some(format!("{e}."))).await,
    }
}

async fn create_role(
    State(state): State<InventoryState>,
    client: Client,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let privileges: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "privilege")
        .map(|(_, v)| v.as_str())
        .collect();
    let change = admin::create_role(
        &state.db,
        form_value(&fields, "name"),
        &privileges.join(","),
    )
    .await
    .map(|id| format!("role {id} created"));
    act(&state, &viewer, &client, change).await
}

async fn delete_role(
    State(state): State<InventoryState>,
    client: Client,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let change = admin::delete_role(&state.db, &id)
        .await
        .map(|()| format!("role {id} deleted"));
    act(&state, &viewer, &client, change).await
}

async fn create_group(
    State(state): State<InventoryState>,
    client: Client,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let change = admin::create_group(&state.db, form_value(&fields, "name"))
        .await
        .map(|id| format!("group {id} created"));
    act(&state, &viewer, &client, change).await
}

async fn delete_group(
    State(state): State<InventoryState>,
    client: Client,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let change = admin::delete_group(&state.db, &id)
        .await
        .map(|()| format!("group {id} deleted"));
    act(&state, &viewer, &client, change).await
}

async fn members(
    State(state): State<InventoryState>,
    client: Client,
    Path(id): Path<String>,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let add = form_value(&fields, "action") != "remove";
    let user = form_value(&fields, "user_id");
    let change = async {
        let verb = if add { "added to" } else { "removed from" };
        admin::set_member(&state.db, &id, user, add)
            .await
            .map(|()| format!("user {user} {verb} group {id}"))
    }
    .await;
    act(&state, &viewer, &client, change).await
}

async fn add_entry(
    State(state): State<InventoryState>,
    client: Client,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let principal = match form_value(&fields, "principal").split_once(':') {
        Some(("user", id)) => Some(admin::Principal::User(id)),
        Some(("group", id)) => Some(admin::Principal::Group(id)),
        _ => None,
    };
    let (path, role) = (form_value(&fields, "path"), form_value(&fields, "role_id"));
    let propagate = form_value(&fields, "propagate") == "on";
    let change = async {
        let principal = principal.ok_or(admin::AdminError::Missing("user or group"))?;
        admin::add_entry(&state.db, principal, path, role, propagate)
            .await
            .map(|id| format!("ACL entry {id}: role {role} on {path}"))
    }
    .await;
    act(&state, &viewer, &client, change).await
}

async fn delete_entry(
    State(state): State<InventoryState>,
    client: Client,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let change = admin::remove_entry(&state.db, &id)
        .await
        .map(|()| format!("ACL entry {id} removed"));
    act(&state, &viewer, &client, change).await
}
