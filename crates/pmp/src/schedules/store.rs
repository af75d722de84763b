//! Stored schedules, and the compare-and-set that makes one tick fire once: whichever
//! instance moves `next_run_ms` from the due time to the next one owns that tick.

use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError};
use crate::jobs::queue::now_ms;
use crate::with_pool;

/// What a schedule does when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// `power` or `snapshot`.
    pub op: String,
    /// The power action (`start`, `shutdown`, ...).
    #[serde(default)]
    pub action: Option<String>,
    /// Snapshots are named `{prefix}-{local time}`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Keep this many of the series' newest snapshots.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Delete the series' snapshots older than this many days.
    #[serde(default)]
    pub max_age_days: Option<u32>,
    /// Guests, by server and VMID.
    #[serde(default)]
    pub guests: Vec<GuestTarget>,
    /// Every guest of these pools, as they are at each run.
    #[serde(default)]
    pub pools: Vec<PoolTarget>,
    /// Items running at once per server.
    #[serde(default = "four")]
    pub per_server: usize,
}

fn four() -> usize {
    4
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestTarget {
    pub server: String,
    pub vmid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolTarget {
    pub server: String,
    pub pool: String,
}

/// A schedule as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Schedule {
    pub id: String,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    /// The action, as JSON text.
    #[serde(skip)]
    pub action: String,
    pub enabled: bool,
    pub next_run_ms: Option<i64>,
    pub last_run_ms: Option<i64>,
    pub last_job_id: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
}

impl Schedule {
    /// The parsed action.
    pub fn action(&self) -> Option<Action> {
        serde_json::from_str(&self.action).ok()
    }
}

/// A query over every column of `schedules`, ending with `$rest`.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, cron, timezone, action, enabled, next_run_ms, last_run_ms, ",
            "last_job_id, created_by, created_at_ms FROM schedules ",
            $rest
        )
    };
}

/// Stores a new schedule; returns its id.
pub async fn insert(
    db: &Db,
    name: &str,
    cron: &str,
    timezone: &str,
    action: &Action,
    next_run_ms: Option<i64>,
    created_by: &str,
) -> Result<String, DbError> {
    const SQL: &str = "INSERT INTO schedules (id, name, cron, timezone, action, enabled, next_run_ms, created_by, created_at_ms) \
        VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8)";
    let id = uuid::Uuid::new_v4().to_string();
    let action = serde_json::to_string(action).unwrap_or_default();
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(&id).bind(name).bind(cron).bind(timezone).bind(&action).bind(next_run_ms).bind(created_by).bind(now_ms())
        .execute(pool).await?.rows_affected());
    Ok(id)
}

/// Every schedule, newest first.
pub async fn list(db: &Db) -> Result<Vec<Schedule>, DbError> {
    const SQL: &str = select!("ORDER BY created_at_ms DESC, id");
    Ok(with_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?))
}

/// One schedule.
pub async fn get(db: &Db, id: &str) -> Result<Option<Schedule>, DbError> {
    const SQL: &str = select!("WHERE id = $1");
    Ok(with_pool!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

/// Schedules due at `now`.
pub async fn due(db: &Db, now: i64) -> Result<Vec<Schedule>, DbError> {
    const SQL: &str = select!("WHERE enabled = TRUE AND next_run_ms <= $1 ORDER BY next_run_ms");
    Ok(with_pool!(db, pool => sqlx::query_as(SQL).bind(now).fetch_all(pool).await?))
}

/// Claims the tick due at `due_ms` by moving it to `next_ms`; true for exactly one caller.
pub async fn claim_tick(
    db: &Db,
    id: &str,
    due_ms: i64,
    next_ms: Option<i64>,
) -> Result<bool, DbError> {
    const SQL: &str = "UPDATE schedules SET next_run_ms = $3, last_run_ms = $2 WHERE id = $1 AND next_run_ms = $2 AND enabled = TRUE";
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(due_ms).bind(next_ms).execute(pool).await?.rows_affected());
    Ok(n == 1)
}

/// Records the job a tick created.
pub async fn set_last_job(db: &Db, id: &str, job: &str) -> Result<(), DbError> {
    const SQL: &str = "UPDATE schedules SET last_job_id = $2 WHERE id = $1";
    with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(job).execute(pool).await?.rows_affected());
    Ok(())
}

/// Pauses (no next run) or resumes (with the next run given). False when unknown.
pub async fn set_enabled(
    db: &Db,
    id: &str,
    enabled: bool,
    next_run_ms: Option<i64>,
) -> Result<bool, DbError> {
    const SQL: &str = "UPDATE schedules SET enabled = $2, next_run_ms = $3 WHERE id = $1";
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(enabled).bind(next_run_ms).execute(pool).await?.rows_affected());
    Ok(n == 1)
}

/// Deletes a schedule. False when unknown.
pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    const SQL: &str = "DELETE FROM schedules WHERE id = $1";
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected());
    Ok(n == 1)
}
