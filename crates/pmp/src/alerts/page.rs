//! The "Alerts" page: firing alerts first, then the resolved ones, for holders of
//! `audit.view`; those with `settings.manage` may resolve one by hand and see the channels.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::access::{Privilege, Target};
use crate::alerts::store::{self, Alert};
use crate::alerts::{channels, notify};
use crate::http::access::{Access, Routes};
use crate::http::{AppError, AppState, FormFields, PageError, form_value};
use crate::identity::guard::Viewer;
use crate::web::{Shell, render};

/// Alert pages.
pub fn routes() -> Routes {
    Routes::new()
        .add(
            "/alerts",
            &["GET"],
            Access::Privilege(Privilege::AuditView),
            get(list),
        )
        .add(
            "/alerts/{id}/resolve",
            &["POST"],
            Access::Privilege(Privilege::SettingsManage),
            post(resolve),
        )
}

#[derive(Template)]
#[template(path = "alerts/list.html")]
struct ListPage {
    shell: Shell,
    alerts: Vec<Alert>,
    firing: usize,
    can_manage: bool,
    channels: Vec<(String, String)>,
}

async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let alerts = store::list(state.db(), None, 200)
        .await
        .map_err(|e| fail(AppError::internal(e)))?;
    let can_manage = viewer
        .grants
        .authorize(Privilege::SettingsManage, Target::Root)
        .is_ok();
    let channels = if can_manage {
        channels::list(state.db())
            .await
            .map_err(|e| fail(AppError::internal(e)))?
            .into_iter()
            .map(|c| {
                let kind = serde_json::to_value(c.kind).ok();
                let kind = kind
                    .as_ref()
                    .and_then(|k| k.as_str())
                    .unwrap_or("")
                    .to_owned();
                (c.name, kind)
            })
            .collect()
    } else {
        Vec::new()
    };
    let page = ListPage {
        shell: viewer.shell.clone(),
        firing: alerts.iter().filter(|a| a.state == "firing").count(),
        alerts,
        can_manage,
        channels,
    };
    render(&page, StatusCode::OK)
}

async fn resolve(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<FormFields>,
) -> Result<Response, PageError> {
    let csrf = form_value(&fields, "csrf");
    viewer
        .session
        .check_form(&headers, csrf, &viewer.shell, "alert resolution")?;
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    if let Some(alert) = store::resolve_id(state.db(), &id)
        .await
        .map_err(|e| fail(AppError::internal(e)))?
    {
        notify::changed(state.db(), &alert)
            .await
            .map_err(|e| fail(AppError::internal(e)))?;
    }
    Ok(Redirect::to("/alerts").into_response())
}
