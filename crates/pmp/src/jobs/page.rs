//! The "Jobs" pages: the caller's jobs (everyone's with `job.view`), filterable by state, and
//! one job with its log, cancel and retry. The detail page follows a running job live through
//! the events stream when scripts run; without them it is a plain page that shows the latest
//! state on reload.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::access::routes::{Access, Routes};
use crate::db::Db;
use crate::http::AppError;
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::guard::Viewer;
use crate::jobs::queue::{self, Job, State as JobState};
use crate::jobs::visibility::{Caller, JobFilter, cancel_job, listing, retry_job, visible};
use crate::ui::PageError;
use crate::ui::{Shell, render, utc};
use axum::extract::FromRef;

/// Job pages; each shows only jobs the person may see.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    Routes::new()
        .add("/jobs", &["GET"], Access::SignedIn, get(list))
        .add("/jobs/{id}", &["GET"], Access::SignedIn, get(detail))
        .add(
            "/jobs/{id}/cancel",
            &["POST"],
            Access::SignedIn,
            post(cancel),
        )
        .add("/jobs/{id}/retry", &["POST"], Access::SignedIn, post(retry))
}

struct Row {
    job: Job,
    created: String,
    badge: &'static str,
}

fn badge(job: &Job) -> &'static str {
    match job.state() {
        Some(JobState::Succeeded) => "badge-ok",
        Some(JobState::Failed | JobState::Dead) => "badge-bad",
        _ => "badge-warn",
    }
}

fn row(job: Job) -> Row {
    Row {
        created: utc(job.created_at_ms / 1000),
        badge: badge(&job),
        job,
    }
}

#[derive(Template)]
#[template(path = "jobs/list.html")]
struct ListPage {
    shell: Shell,
    rows: Vec<Row>,
    states: Vec<&'static str>,
    chosen: String,
    target: String,
}

#[derive(Template)]
#[template(path = "jobs/detail.html")]
struct DetailPage {
    shell: Shell,
    row: Row,
    log: Vec<String>,
    last_seq: i64,
    cancellable: bool,
    retryable: bool,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Filter {
    #[serde(default)]
    state: String,
    #[serde(default)]
    target: String,
}

async fn list(
    State(db): State<Db>,
    viewer: Viewer,
    Query(filter): Query<Filter>,
) -> Result<Response, PageError> {
    let chosen = JobState::parse(&filter.state);
    let target = Some(filter.target.trim()).filter(|t| !t.is_empty());
    let selected = JobFilter {
        state: chosen,
        target,
        limit: 200,
        ..JobFilter::default()
    };
    let jobs = listing(&db, Caller::from(&viewer), selected)
        .await
        .map_err(|e| PageError::in_shell(e, viewer.shell.clone()))?;
    let states = [
        "queued",
        "running",
        "succeeded",
        "failed",
        "dead",
        "cancelled",
    ]
    .to_vec();
    let page = ListPage {
        shell: viewer.shell,
        rows: jobs.into_iter().map(row).collect(),
        states,
        chosen: chosen.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        target: filter.target.clone(),
    };
    render(&page, StatusCode::OK)
}

async fn show(
    db: &Db,
    viewer: &Viewer,
    id: &str,
    error: Option<String>,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let job = visible(db, Caller::from(viewer), id).await.map_err(fail)?;
    let lines = queue::log_lines(db, &job.id, 0)
        .await
        .map_err(|e| fail(AppError::internal(e)))?;
    let last_seq = lines.last().map_or(0, |(seq, _)| *seq);
    let final_state = job.state().is_some_and(JobState::is_final);
    let page = DetailPage {
        shell: viewer.shell.clone(),
        cancellable: !final_state,
        retryable: matches!(
            job.state(),
            Some(JobState::Failed | JobState::Dead | JobState::Cancelled)
        ),
        row: row(job),
        log: lines.into_iter().map(|(_, line)| line).collect(),
        last_seq,
        error: error.clone(),
    };
    render(
        &page,
        if error.is_some() {
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        },
    )
}

async fn detail(
    State(db): State<Db>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    show(&db, &viewer, &id, None).await
}

async fn cancel(
    State(db): State<Db>,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    match cancel_job(&db, Caller::from(&viewer), &id).await {
        Ok(()) => Ok(Redirect::to(&format!("/jobs/{id}")).into_response()),
        Err(AppError::Conflict(why)) => show(&db, &viewer, &id, Some(why)).await,
        Err(e) => Err(PageError::in_shell(e, viewer.shell.clone())),
    }
}

async fn retry(
    State(db): State<Db>,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    match retry_job(&db, Caller::from(&viewer), &id).await {
        Ok(new) => Ok(Redirect::to(&format!("/jobs/{new}")).into_response()),
        Err(AppError::Conflict(why)) => show(&db, &viewer, &id, Some(why)).await,
        Err(e) => Err(PageError::in_shell(e, viewer.shell.clone())),
    }
}
