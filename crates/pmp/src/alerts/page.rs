//! The "Alerts" page: firing alerts first, then the resolved ones, for holders of
//! `audit.view`; those with `settings.manage` may resolve one by hand, turn each rule on or
//! off and change its threshold and window, and see the channels.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::access::{Privilege, Target};
use crate::alerts::rules::{Rule, Settings};
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
            "/alerts/rules/{rule}",
            &["POST"],
            Access::Privilege(Privilege::SettingsManage),
            post(set_rule),
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
    rules: Vec<RuleRow>,
    error: Option<String>,
}

struct RuleRow {
    name: &'static str,
    description: &'static str,
    settings: Settings,
}

async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    page(&state, &viewer, None).await
}

/// The page, with `error` about the form just sent (answered 400 then).
async fn page(
    state: &AppState,
    viewer: &Viewer,
    error: Option<String>,
) -> Result<Response, PageError> {
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
    let mut rules = Vec::new();
    for rule in Rule::ALL.into_iter().filter(|_| can_manage) {
        let settings = store::settings(state.db(), rule)
            .await
            .map_err(|e| fail(AppError::internal(e)))?;
        rules.push(RuleRow {
            name: rule.as_str(),
            description: rule.describe(),
            settings,
        });
    }
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = ListPage {
        shell: viewer.shell.clone(),
        firing: alerts.iter().filter(|a| a.state == "firing").count(),
        alerts,
        can_manage,
        channels,
        rules,
        error,
    };
    render(&page, status)
}

/// Saves one rule's settings from its row of the rules form.
async fn set_rule(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(fields): Form<FormFields>,
) -> Result<Response, PageError> {
    let csrf = form_value(&fields, "csrf");
    viewer
        .session
        .check_form(&headers, csrf, &viewer.shell, "alert rule change")?;
    let Some(rule) = Rule::parse(&name) else {
        return Err(PageError::in_shell(
            AppError::NotFound,
            viewer.shell.clone(),
        ));
    };
    let number = |field: &str| form_value(&fields, field).trim().parse::<i64>().ok();
    let (Some(threshold), Some(window_secs)) = (number("threshold"), number("window_secs")) else {
        let why = "threshold and window are whole numbers".to_owned();
        return page(&state, &viewer, Some(why)).await;
    };
    let settings = Settings {
        enabled: form_value(&fields, "enabled") == "on",
        threshold,
        window_secs,
    };
    if let Err(why) = settings.check() {
        return page(&state, &viewer, Some(why)).await;
    }
    store::set_settings(state.db(), rule, settings)
        .await
        .map_err(|e| PageError::in_shell(AppError::internal(e), viewer.shell.clone()))?;
    Ok(Redirect::to("/alerts#rules").into_response())
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
