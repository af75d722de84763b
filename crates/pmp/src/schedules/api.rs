//! `/api/v1/schedules`: create (every target checked as for a bulk job), list, read, pause,
//! resume and delete, and a preview of the next runs of an expression. People see and
//! change their own schedules; `job.view`/`job.manage` on `/` extend to everyone's. A
//! schedule one may not see answers 404.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::access::routes::{Access, Routes};
use crate::access::{Privilege, Target};
use crate::http::{ApiJson, AppError};
use crate::identity::principal::Principal;
use crate::ids::{PoolId, ServerId, printable_name};
use crate::inventory::InventoryState;
use crate::inventory::target;
use crate::jobs::queue::now_ms;
use crate::jobs::visibility::Caller;
use crate::schedules::cron::{Cron, local, zone};
use crate::schedules::fire::{next_run, operation};
use crate::schedules::store::{self, Action, Schedule};
use axum::extract::FromRef;

/// Schedule routes: each handler answers only about schedules the caller may see.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    InventoryState: FromRef<S>,
{
    Routes::new()
        .add(
            "/api/v1/schedules",
            &["GET", "POST"],
            Access::SignedIn,
            get(list).post(create),
        )
        .add(
            "/api/v1/schedules/preview",
            &["GET"],
            Access::SignedIn,
            get(preview),
        )
        .add(
            "/api/v1/schedules/{id}",
            &["GET", "DELETE"],
            Access::SignedIn,
            get(detail).delete(remove),
        )
        .add(
            "/api/v1/schedules/{id}/pause",
            &["POST"],
            Access::SignedIn,
            post(pause),
        )
        .add(
            "/api/v1/schedules/{id}/resume",
            &["POST"],
            Access::SignedIn,
            post(resume),
        )
}

/// A schedule as the API shows it.
#[derive(Serialize)]
pub struct View {
    #[serde(flatten)]
    pub schedule: Schedule,
    pub action: Option<Action>,
    /// The next runs, local time in the schedule's zone.
    pub upcoming: Vec<String>,
}

pub fn view(schedule: Schedule) -> View {
    let upcoming = match (
        Cron::parse(&schedule.cron),
        zone(&schedule.timezone),
        schedule.enabled,
    ) {
        (Ok(cron), Ok(tz), true) => cron
            .preview(now_ms(), &tz, 3)
            .into_iter()
            .map(|ms| local(ms, &tz))
            .collect(),
        _ => Vec::new(),
    };
    View {
        action: schedule.action(),
        upcoming,
        schedule,
    }
}

fn sees(caller: Caller<'_>, schedule: &Schedule) -> bool {
    schedule.created_by == caller.user_id
        || caller
            .grants
            .authorize(Privilege::JobView, Target::Root)
            .is_ok()
}

/// Visible schedules.
pub async fn visible_list(
    state: &InventoryState,
    caller: Caller<'_>,
) -> Result<Vec<View>, AppError> {
    let all = store::list(&state.db).await.map_err(AppError::internal)?;
    Ok(all
        .into_iter()
        .filter(|s| sees(caller, s))
        .map(view)
        .collect())
}

async fn list(
    State(state): State<InventoryState>,
    principal: Principal,
) -> Result<Json<Vec<View>>, AppError> {
    Ok(Json(visible_list(&state, (&principal).into()).await?))
}

/// The schedule `id` if the caller may see it (and, with `manage`, change it).
pub async fn find(
    state: &InventoryState,
    caller: Caller<'_>,
    id: &str,
    manage: bool,
) -> Result<Schedule, AppError> {
    let schedule = store::get(&state.db, id)
        .await
        .map_err(AppError::internal)?
        .filter(|s| sees(caller, s))
        .ok_or(AppError::NotFound)?;
    let owner = schedule.created_by == caller.user_id;
    if manage
        && !owner
        && caller
            .grants
            .authorize(Privilege::JobManage, Target::Root)
            .is_err()
    {
        return Err(AppError::Forbidden(
            "Only its creator or a job manager may change this schedule.".to_owned(),
        ));
    }
    Ok(schedule)
}

/// Pauses or resumes `id`.
pub async fn set_enabled(
    state: &InventoryState,
    caller: Caller<'_>,
    id: &str,
    enabled: bool,
) -> Result<(), AppError> {
    let schedule = find(state, caller, id, true).await?;
    let next = enabled
        .then(|| next_run(&schedule.cron, &schedule.timezone, now_ms()))
        .flatten();
    store::set_enabled(&state.db, id, enabled, next)
        .await
        .map_err(AppError::internal)?;
    Ok(())
}

/// Deletes `id`.
pub async fn delete(state: &InventoryState, caller: Caller<'_>, id: &str) -> Result<(), AppError> {
    find(state, caller, id, true).await?;
    store::delete(&state.db, id)
        .await
        .map_err(AppError::internal)?;
    Ok(())
}

async fn detail(
    State(state): State<InventoryState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<View>, AppError> {
    Ok(Json(view(
        find(&state, (&principal).into(), &id, false).await?,
    )))
}

async fn remove(
    State(state): State<InventoryState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    delete(&state, (&principal).into(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pause(
    State(state): State<InventoryState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<View>, AppError> {
    set_enabled(&state, (&principal).into(), &id, false).await?;
    detail(State(state), principal, Path(id)).await
}

async fn resume(
    State(state): State<InventoryState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<View>, AppError> {
    set_enabled(&state, (&principal).into(), &id, true).await?;
    detail(State(state), principal, Path(id)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewQuery {
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
}

async fn preview(Query(q): Query<PreviewQuery>) -> Result<Response, AppError> {
    let cron = Cron::parse(&q.cron).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let tz = zone(q.timezone.as_deref().unwrap_or("UTC"))
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let runs: Vec<_> = cron
        .preview(now_ms(), &tz, 5)
        .into_iter()
        .map(|ms| serde_json::json!({ "at_ms": ms, "local": local(ms, &tz) }))
        .collect();
    Ok(Json(serde_json::json!({ "runs": runs })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub action: Action,
}

/// Checks a new schedule and that its creator may do what it does to each target.
fn check(
    state: &InventoryState,
    caller: Caller<'_>,
    body: &NewSchedule,
) -> Result<String, AppError> {
    let bad = |m: &str| AppError::BadRequest(m.to_owned());
    let name = printable_name(&body.name, 64)
        .ok_or_else(|| bad("a schedule name is 1 to 64 printable characters"))?;
    Cron::parse(&body.cron).map_err(|e| AppError::BadRequest(e.to_string()))?;
    zone(&body.timezone).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let action = &body.action;
    if let Some(prefix) = &action.prefix {
        let ok = (1..=24).contains(&prefix.len())
            && prefix.starts_with(|c: char| c.is_ascii_alphabetic())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(bad(
                "a snapshot prefix is 1 to 24 letters, digits or '_', starting with a letter",
            ));
        }
    }
    if action.keep_last.is_some_and(|k| !(1..=1000).contains(&k))
        || action
            .max_age_days
            .is_some_and(|d| !(1..=3650).contains(&d))
    {
        return Err(bad("keep_last is 1 to 1000 and max_age_days 1 to 3650"));
    }
    if !(1..=32).contains(&action.per_server) {
        return Err(bad("per_server is 1 to 32"));
    }
    let probe = Schedule {
        id: String::new(),
        name: name.clone(),
        cron: body.cron.clone(),
        timezone: body.timezone.clone(),
        action: String::new(),
        enabled: true,
        next_run_ms: None,
        last_run_ms: None,
        last_job_id: None,
        created_by: caller.user_id.to_owned(),
        created_at_ms: 0,
    };
    let (_, privilege) = operation(&probe, action, now_ms()).ok_or_else(|| {
        bad("a schedule runs a power action (op power, action) or a snapshot (op snapshot, prefix)")
    })?;
    if action.guests.is_empty() && action.pools.is_empty() {
        return Err(bad("name at least one guest or pool"));
    }
    if action.guests.len() + action.pools.len() > 1000 {
        return Err(bad("at most 1000 targets"));
    }
    let grants = caller.grants;
    for guest in &action.guests {
        let row = state
            .inventory
            .guest(&guest.server, guest.vmid)
            .ok_or(AppError::NotFound)?;
        let place = target(&row).ok_or(AppError::NotFound)?;
        grants
            .authorize(Privilege::GuestView, place.clone())
            .map_err(|_| AppError::NotFound)?;
        grants.authorize(privilege, place).map_err(|_| {
            AppError::Forbidden(format!(
                "You do not have the {privilege} privilege on every target."
            ))
        })?;
    }
    for pool in &action.pools {
        let place = match (ServerId::parse(&pool.server), PoolId::parse(&pool.pool)) {
            (Ok(server), Ok(pool)) => Target::Pool(server, pool),
            _ => return Err(AppError::NotFound),
        };
        grants
            .authorize(privilege, place)
            .map_err(|_| AppError::NotFound)?;
    }
    Ok(name)
}

/// Checks and stores a new schedule; returns it.
pub async fn create_schedule(
    state: &InventoryState,
    caller: Caller<'_>,
    body: &NewSchedule,
) -> Result<Schedule, AppError> {
    let name = check(state, caller, body)?;
    let next = next_run(&body.cron, &body.timezone, now_ms());
    let id = store::insert(
        &state.db,
        &name,
        &body.cron,
        &body.timezone,
        &body.action,
        next,
        caller.user_id,
    )
    .await
    .map_err(AppError::internal)?;
    store::get(&state.db, &id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)
}

async fn create(
    State(state): State<InventoryState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewSchedule>,
) -> Result<Response, AppError> {
    let result = create_schedule(&state, (&principal).into(), &body).await;
    let schedule = crate::identity::principal::audited(
        &state.db,
        &principal,
        "POST /api/v1/schedules",
        result,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(schedule))).into_response())
}
