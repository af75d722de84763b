//! The "Schedules" page: the schedules one may see with their next runs, pause, resume and
//! delete, and a form to add one (targets one per line: `server/vmid` or `pool server/pool`).
//! Every change goes through the same checks as the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::access::routes::{Access, Routes};
use crate::http::{AppError, FormFields, form_value};
use crate::identity::sessions::form::{PageForm, Refused};
use crate::identity::sessions::guard::Viewer;
use crate::inventory::InventoryState;
use crate::jobs::visibility::Caller;
use crate::schedules::api::{
    NewSchedule, View, create_schedule, delete, set_enabled, visible_list,
};
use crate::schedules::store::{Action, GuestTarget, PoolTarget};
use crate::ui::PageError;
use crate::ui::{Shell, render};
use axum::extract::FromRef;

/// Schedule pages.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    InventoryState: FromRef<S>,
{
    Routes::new()
        .add(
            "/schedules",
            &["GET", "POST"],
            Access::SignedIn,
            get(list).post(add),
        )
        .add(
            "/schedules/{id}/{change}",
            &["POST"],
            Access::SignedIn,
            post(change),
        )
}

#[derive(Template)]
#[template(path = "schedules/list.html")]
struct ListPage {
    shell: Shell,
    schedules: Vec<View>,
    error: Option<String>,
    /// What the person typed into the add form, shown again when it was refused.
    typed: FormFields,
}

impl ListPage {
    /// The typed value of `name`, or `default` when nothing was typed there.
    fn typed<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        let value = form_value(&self.typed, name);
        if value.is_empty() { default } else { value }
    }
}

async fn page(
    state: &InventoryState,
    viewer: &Viewer,
    refused: Option<Refused<FormFields>>,
) -> Result<Response, PageError> {
    let (typed, error) = refused.map_or((Vec::new(), None), |r| (r.input, Some(r.error)));
    let schedules = visible_list(state, Caller::from(viewer))
        .await
        .map_err(|e| PageError::in_shell(e, viewer.shell.clone()))?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        &ListPage {
            shell: viewer.shell.clone(),
            schedules,
            error,
            typed,
        },
        status,
    )
}

async fn list(State(state): State<InventoryState>, viewer: Viewer) -> Result<Response, PageError> {
    page(&state, &viewer, None).await
}

/// Targets from the form's text: `server/vmid` or `pool server/pool`, one per line.
fn targets(text: &str) -> Result<(Vec<GuestTarget>, Vec<PoolTarget>), String> {
    let mut guests = Vec::new();
    let mut pools = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = || {
            format!(
                "{:?} is neither server/vmid nor pool server/pool",
                line.chars().take(80).collect::<String>()
            )
        };
        if let Some(rest) = line.strip_prefix("pool ") {
            let (server, pool) = rest.trim().split_once('/').ok_or_else(bad)?;
            pools.push(PoolTarget {
                server: server.to_owned(),
                pool: pool.to_owned(),
            });
        } else {
            let (server, vmid) = line.split_once('/').ok_or_else(bad)?;
            guests.push(GuestTarget {
                server: server.to_owned(),
                vmid: vmid.parse().map_err(|_| bad())?,
            });
        }
    }
    Ok((guests, pools))
}

fn number(fields: &FormFields, name: &str) -> Result<Option<u32>, String> {
    let raw = form_value(fields, name).trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| format!("{name} must be a number"))
}

fn parse(fields: &FormFields) -> Result<NewSchedule, String> {
    let (guests, pools) = targets(form_value(fields, "targets"))?;
    let op = form_value(fields, "op").to_owned();
    let text =
        |name: &str| Some(form_value(fields, name).trim().to_owned()).filter(|v| !v.is_empty());
    Ok(NewSchedule {
        name: form_value(fields, "name").to_owned(),
        cron: form_value(fields, "cron").to_owned(),
        timezone: text("timezone").unwrap_or_else(|| "UTC".to_owned()),
        action: Action {
            action: text("action").filter(|_| op == "power"),
            prefix: text("prefix").filter(|_| op == "snapshot"),
            keep_last: number(fields, "keep_last")?,
            max_age_days: number(fields, "max_age_days")?,
            op,
            guests,
            pools,
            per_server: 4,
        },
    })
}

async fn add(
    State(state): State<InventoryState>,
    form: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let created = match parse(&form.input) {
        Ok(body) => create_schedule(&state, Caller::from(&form.viewer), &body).await,
        Err(why) => Err(AppError::BadRequest(why)),
    };
    let why = match created {
        Ok(_) => return Ok(Redirect::to("/schedules").into_response()),
        Err(AppError::BadRequest(why) | AppError::Forbidden(why)) => why,
        Err(AppError::NotFound) => "a target does not exist or is not yours to see".to_owned(),
        Err(e) => return Err(PageError::in_shell(e, form.viewer.shell)),
    };
    let (viewer, refused) = form.refuse(why);
    page(&state, &viewer, Some(refused)).await
}

async fn change(
    State(state): State<InventoryState>,
    Path((id, change)): Path<(String, String)>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let result = match change.as_str() {
        "pause" => set_enabled(&state, Caller::from(&viewer), &id, false).await,
        "resume" => set_enabled(&state, Caller::from(&viewer), &id, true).await,
        "delete" => delete(&state, Caller::from(&viewer), &id).await,
        _ => Err(AppError::NotFound),
    };
    result.map_err(|e| PageError::in_shell(e, viewer.shell.clone()))?;
    Ok(Redirect::to("/schedules").into_response())
}
