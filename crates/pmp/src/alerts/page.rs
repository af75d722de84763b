//! The "Alerts" page: firing alerts first, then the resolved ones, for holders of
//! `audit.view`; those with `settings.manage` may resolve one by hand, turn each rule on or
//! off and change its threshold and window, and see the channels.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::access::routes::{Access, Routes};
use crate::access::{Privilege, Target};
use crate::alerts::AlertsState;
use crate::alerts::channels::Channel;
use crate::alerts::rules::{Rule, Settings};
use crate::alerts::store::{self, Alert};
use crate::alerts::{channels, notify};
use crate::http::{AppError, FormFields, form_value};
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::guard::Viewer;
use crate::ui::PageError;
use crate::ui::{Shell, render};
use axum::extract::FromRef;

/// Alert pages.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    AlertsState: FromRef<S>,
{
    super::channels_page::routes()
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
    channels: Vec<Channel>,
    rules: Vec<RuleRow>,
    flash: Flash,
}

/// What the page says about the form just sent.
#[derive(Debug, Default)]
pub(super) struct Flash {
    /// Why it was refused (the page is answered 400, or 502 for a failed test).
    pub error: Option<String>,
    /// What was done.
    pub notice: Option<String>,
    /// A webhook's signing key, shown this once.
    pub signing_key: Option<String>,
}

impl Flash {
    /// The form was refused for `why`.
    pub fn error(why: String) -> Self {
        Self {
            error: Some(why),
            ..Self::default()
        }
    }

    /// The form did what `notice` says.
    pub fn notice(notice: String) -> Self {
        Self {
            notice: Some(notice),
            ..Self::default()
        }
    }
}

struct RuleRow {
    name: &'static str,
    description: &'static str,
    settings: Settings,
}

async fn list(State(state): State<AlertsState>, viewer: Viewer) -> Result<Response, PageError> {
    page(&state, &viewer, Flash::default(), StatusCode::OK).await
}

/// The page answered with `status`, saying `flash` about the form just sent.
pub(super) async fn page(
    state: &AlertsState,
    viewer: &Viewer,
    flash: Flash,
    status: StatusCode,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let alerts = store::list(&state.db, None, 200)
        .await
        .map_err(|e| fail(AppError::internal(e)))?;
    let can_manage = viewer
        .grants
        .authorize(Privilege::SettingsManage, Target::Root)
        .is_ok();
    let channels = if can_manage {
        channels::list(&state.db)
            .await
            .map_err(|e| fail(AppError::internal(e)))?
    } else {
        Vec::new()
    };
    let mut rules = Vec::new();
    for rule in Rule::ALL.into_iter().filter(|_| can_manage) {
        let settings = store::settings(&state.db, rule)
            .await
            .map_err(|e| fail(AppError::internal(e)))?;
        rules.push(RuleRow {
            name: rule.as_str(),
            description: rule.describe(),
            settings,
        });
    }
    let page = ListPage {
        shell: viewer.shell.clone(),
        firing: alerts.iter().filter(|a| a.state == "firing").count(),
        alerts,
        can_manage,
        channels,
        rules,
        flash,
    };
    render(&page, status)
}

/// The page saying why the form was refused, answered 400.
pub(super) async fn refused(
    state: &AlertsState,
    viewer: &Viewer,
    why: String,
) -> Result<Response, PageError> {
    page(state, viewer, Flash::error(why), StatusCode::BAD_REQUEST).await
}

/// Saves one rule's settings from its row of the rules form.
async fn set_rule(
    State(state): State<AlertsState>,
    Path(name): Path<String>,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let Some(rule) = Rule::parse(&name) else {
        return Err(PageError::in_shell(
            AppError::NotFound,
            viewer.shell.clone(),
        ));
    };
    let number = |field: &str| form_value(&fields, field).trim().parse::<i64>().ok();
    let (Some(threshold), Some(window_secs)) = (number("threshold"), number("window_secs")) else {
        let why = "threshold and window are whole numbers".to_owned();
        return refused(&state, &viewer, why).await;
    };
    let settings = Settings {
        enabled: form_value(&fields, "enabled") == "on",
        threshold,
        window_secs,
    };
    if let Err(why) = settings.check() {
        return refused(&state, &viewer, why).await;
    }
    store::set_settings(&state.db, rule, settings)
        .await
        .map_err(|e| PageError::in_shell(AppError::internal(e), viewer.shell.clone()))?;
    Ok(Redirect::to("/alerts#rules").into_response())
}

async fn resolve(
    State(state): State<AlertsState>,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    if let Some(alert) = store::resolve_id(&state.db, &id)
        .await
        .map_err(|e| fail(AppError::internal(e)))?
    {
        notify::changed(&state.db, &alert)
            .await
            .map_err(|e| fail(AppError::internal(e)))?;
    }
    Ok(Redirect::to("/alerts").into_response())
}
