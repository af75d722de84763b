//! The "Audit trail" page for holders of `audit.view`: the newest entries, filtered by user,
//! action and text, with links that export exactly the selection shown.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::api::{Filter, select};
use crate::access::Privilege;
use crate::access::routes::{Access, Routes};
use crate::audit::events::Event;
use crate::http::AppError;
use crate::identity::sessions::guard::Viewer;
use crate::inventory::InventoryState;
use crate::ui::PageError;
use crate::ui::{Shell, render};
use axum::extract::FromRef;

/// Audit pages.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    InventoryState: FromRef<S>,
{
    Routes::new().add(
        "/audit",
        &["GET"],
        Access::Privilege(Privilege::AuditView),
        get(list),
    )
}

#[derive(Template)]
#[template(path = "audit/list.html")]
struct ListPage {
    shell: Shell,
    entries: Vec<Event>,
    users: Vec<String>,
    filter: Filter,
    /// The filter as `&name=value` pairs for the export links.
    query: String,
}

async fn list(
    State(state): State<InventoryState>,
    viewer: Viewer,
    Query(mut filter): Query<Filter>,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    // An empty form field means "any".
    for field in [&mut filter.actor, &mut filter.action, &mut filter.q] {
        if field.as_deref().is_some_and(|v| v.trim().is_empty()) {
            *field = None;
        }
    }
    if filter.format.is_some() {
        return Err(fail(AppError::BadRequest(
            "format is for the export".to_owned(),
        )));
    }
    let entries = select(&state, &filter, 200).await.map_err(&fail)?;
    let users = crate::identity::users::list(&state.db)
        .await
        .map_err(|e| fail(AppError::internal(e)))?
        .into_iter()
        .map(|u| u.username)
        .collect();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("actor", &filter.actor),
        ("action", &filter.action),
        ("q", &filter.q),
    ] {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    let query = if query.is_empty() {
        query
    } else {
        format!("&{query}")
    };
    let page = ListPage {
        shell: viewer.shell.clone(),
        entries,
        users,
        filter,
        query,
    };
    render(&page, StatusCode::OK)
}
