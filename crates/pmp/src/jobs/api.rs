//! `/api/v1/jobs`: list, detail, log, cancel, retry, and a server-sent event stream of a job's
//! progress. Everyone sees and cancels their own jobs; `job.view` on `/` shows everyone's and
//! `job.manage` on `/` lets one cancel or retry them. A job the caller may not see answers 404
//! exactly like one that does not exist.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use crate::access::routes::{Access, Routes};
use crate::db::Db;
use crate::http::AppError;
use crate::identity::principal::Principal;
use crate::jobs::queue::{self, Job, State as JobState};
use crate::jobs::visibility::{Caller, JobFilter, cancel_job, listing, retry_job, visible};
use axum::extract::FromRef;

/// Job API routes; each answers only about jobs the caller may see.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    Routes::new()
        .add("/api/v1/jobs", &["GET"], Access::SignedIn, get(list))
        .add("/api/v1/jobs/{id}", &["GET"], Access::SignedIn, get(detail))
        .add(
            "/api/v1/jobs/{id}/log",
            &["GET"],
            Access::SignedIn,
            get(log),
        )
        .add(
            "/api/v1/jobs/{id}/events",
            &["GET"],
            Access::SignedIn,
            get(events),
        )
        .add(
            "/api/v1/jobs/{id}/cancel",
            &["POST"],
            Access::SignedIn,
            post(cancel),
        )
        .add(
            "/api/v1/jobs/{id}/retry",
            &["POST"],
            Access::SignedIn,
            post(retry),
        )
}

#[derive(Deserialize)]
struct Filter {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Serialize)]
struct Page {
    items: Vec<Job>,
}

async fn list(
    State(db): State<Db>,
    principal: Principal,
    Query(filter): Query<Filter>,
) -> Result<Json<Page>, AppError> {
    let wanted = match filter.state.as_deref() {
        Some(raw) => Some(JobState::parse(raw).ok_or_else(|| {
            AppError::BadRequest(
                "state is one of queued, running, succeeded, failed, dead, cancelled.".to_owned(),
            )
        })?),
        None => None,
    };
    let limit = filter.limit.unwrap_or(100).clamp(1, 500);
    let selected = JobFilter {
        state: wanted,
        kind: filter.kind.as_deref(),
        target: filter.target.as_deref(),
        user: filter.user.as_deref(),
        limit,
    };
    let items = listing(&db, Caller::from(&principal), selected).await?;
    Ok(Json(Page { items }))
}

async fn detail(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Job>, AppError> {
    Ok(Json(visible(&db, Caller::from(&principal), &id).await?))
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: i64,
}

#[derive(Serialize)]
struct Line {
    seq: i64,
    line: String,
}

async fn log(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
    Query(after): Query<After>,
) -> Result<Json<Vec<Line>>, AppError> {
    let job = visible(&db, Caller::from(&principal), &id).await?;
    let lines = queue::log_lines(&db, &job.id, after.after)
        .await
        .map_err(AppError::internal)?;
    Ok(Json(
        lines
            .into_iter()
            .map(|(seq, line)| Line { seq, line })
            .collect(),
    ))
}

/// Streams `state` events (the job) and `log` events (lines after `?after=`) until the job
/// is final.
async fn events(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
    Query(start): Query<After>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let job = visible(&db, Caller::from(&principal), &id).await?;
    let db = db.clone();
    let stream = futures_util::stream::unfold(
        (db, job.id, start.after.max(0), None::<String>, false),
        |(db, id, after, last, done)| async move {
            if done {
                return None;
            }
            loop {
                let lines = queue::log_lines(&db, &id, after).await.unwrap_or_default();
                if let Some((seq, _)) = lines.last() {
                    let text = lines
                        .iter()
                        .map(|(_, l)| l.as_str())
                        .collect::<Vec<_>>()
                        .join("\n");
                    let event = Event::default().event("log").data(text);
                    return Some((Ok(event), (db, id, *seq, last, false)));
                }
                let job = queue::get(&db, &id).await.ok().flatten()?;
                let snapshot = serde_json::to_string(&job).unwrap_or_default();
                if last.as_deref() != Some(snapshot.as_str()) {
                    let finished = job.state().is_some_and(JobState::is_final);
                    let event = Event::default().event("state").data(snapshot.clone());
                    return Some((Ok(event), (db, id, after, Some(snapshot), finished)));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn cancel(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    cancel_job(&db, Caller::from(&principal), &id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Serialize)]
struct Retried {
    id: String,
}

async fn retry(
    State(db): State<Db>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = retry_job(&db, Caller::from(&principal), &id).await?;
    Ok((StatusCode::CREATED, Json(Retried { id })).into_response())
}
