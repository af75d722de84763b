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

use crate::access::{Privilege, Target};
use crate::db::Db;
use crate::http::access::{Access, Routes};
use crate::http::{AppError, AppState};
use crate::identity::principal::Principal;
use crate::jobs::queue::{self, Job, NewJob, State as JobState};
use crate::with_pool;

/// Job API routes; each answers only about jobs the caller may see.
pub fn routes() -> Routes {
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

fn may(principal: &Principal, privilege: Privilege) -> bool {
    principal.grants.authorize(privilege, Target::Root).is_ok()
}

/// The job `id` if the caller may see it (their own, or any with `job.view`); 404 otherwise.
async fn visible(db: &Db, principal: &Principal, id: &str) -> Result<Job, AppError> {
    let job = queue::get(db, id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    let own = job.created_by.as_deref() == Some(principal.user.id.as_str());
    if own || may(principal, Privilege::JobView) {
        Ok(job)
    } else {
        Err(AppError::NotFound)
    }
}

/// The job `id` if the caller may act on it (their own, or any with `job.manage`).
async fn manageable(db: &Db, principal: &Principal, id: &str) -> Result<Job, AppError> {
    let job = visible(db, principal, id).await?;
    let own = job.created_by.as_deref() == Some(principal.user.id.as_str());
    if own || may(principal, Privilege::JobManage) {
        Ok(job)
    } else {
        Err(AppError::Forbidden(
            "You may not act on other people's jobs.".to_owned(),
        ))
    }
}

#[derive(Deserialize)]
struct Filter {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Serialize)]
struct Page {
    items: Vec<Job>,
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(filter): Query<Filter>,
) -> Result<Json<Page>, AppError> {
    let wanted_state = match filter.state.as_deref() {
        Some(raw) => Some(JobState::parse(raw).ok_or_else(|| {
            AppError::BadRequest(
                "state is one of queued, running, succeeded, failed, dead, cancelled.".to_owned(),
            )
        })?),
        None => None,
    };
    let everyone = may(&principal, Privilege::JobView);
    let limit = filter.limit.unwrap_or(100).clamp(1, 500);
    let sql = format!(
        "SELECT {} FROM jobs WHERE ($1 OR created_by = $2) AND ($3 IS NULL OR state = $3) \
         AND ($4 IS NULL OR kind = $4) ORDER BY created_at_ms DESC, id LIMIT $5",
        queue::COLUMNS
    );
    let items: Vec<Job> = with_pool!(state.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(everyone)
        .bind(&principal.user.id)
        .bind(wanted_state.map(JobState::as_str))
        .bind(filter.kind.as_deref())
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(AppError::internal)?);
    Ok(Json(Page { items }))
}

async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Job>, AppError> {
    Ok(Json(visible(state.db(), &principal, &id).await?))
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
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(after): Query<After>,
) -> Result<Json<Vec<Line>>, AppError> {
    let job = visible(state.db(), &principal, &id).await?;
    let lines = queue::log_lines(state.db(), &job.id, after.after)
        .await
        .map_err(AppError::internal)?;
    Ok(Json(
        lines
            .into_iter()
            .map(|(seq, line)| Line { seq, line })
            .collect(),
    ))
}

/// Streams `state` events (the job) and `log` events (new lines) until the job is final.
async fn events(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let job = visible(state.db(), &principal, &id).await?;
    let db = state.db().clone();
    let stream = futures_util::stream::unfold(
        (db, job.id, 0_i64, None::<String>, false),
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
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let job = manageable(state.db(), &principal, &id).await?;
    if queue::cancel(state.db(), &job.id)
        .await
        .map_err(AppError::internal)?
    {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(AppError::Conflict("The job has already ended.".to_owned()))
    }
}

#[derive(Serialize)]
struct Retried {
    id: String,
}

async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let job = manageable(state.db(), &principal, &id).await?;
    if !matches!(
        job.state(),
        Some(JobState::Failed | JobState::Dead | JobState::Cancelled)
    ) {
        return Err(AppError::Conflict(
            "Only a failed, dead or cancelled job can be retried.".to_owned(),
        ));
    }
    let payload = serde_json::from_str(&job.payload).map_err(AppError::internal)?;
    let mut again = NewJob::new(&job.kind, payload);
    again.priority = job.priority;
    again.max_attempts = job.max_attempts;
    again.created_by = Some(principal.user.id.clone());
    let id = queue::enqueue(state.db(), &again)
        .await
        .map_err(AppError::internal)?;
    Ok((StatusCode::CREATED, Json(Retried { id })).into_response())
}
