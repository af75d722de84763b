//! The durable queue on SQLite and PostgreSQL. Claiming is one statement per engine: on
//! PostgreSQL the candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so concurrent
//! workers never wait on each other nor take the same job; SQLite runs one writer at a time,
//! so a single `UPDATE ... RETURNING` is already atomic. Every later step (heartbeat,
//! completion, failure) names the lease owner, so a worker that lost its lease (it stalled
//! and another worker took the job over) can no longer change the job.

use serde::Serialize;

use crate::db::{Db, DbError};
use crate::with_pool;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting to run (or to be retried).
    Queued,
    /// Claimed by a worker holding a lease.
    Running,
    /// Finished well.
    Succeeded,
    /// Finished with an error that retrying would not fix.
    Failed,
    /// Failed on every allowed attempt.
    Dead,
    /// Stopped at someone's request.
    Cancelled,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    /// Every state.
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Dead,
        Self::Cancelled,
    ];

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// True for states a job never leaves.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

/// What to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The handler that runs it.
    pub kind: String,
    /// Its input, as JSON.
    pub payload: serde_json::Value,
    /// Higher runs first.
    pub priority: i64,
    /// Not before this time (Unix ms); none for now.
    pub run_at_ms: Option<i64>,
    /// Attempts before the job is dead.
    pub max_attempts: i64,
    /// Enqueueing the same key again returns the first job.
    pub idempotency_key: Option<String>,
    /// The bulk job this one belongs to.
    pub parent_id: Option<String>,
    /// Who asked for it.
    pub created_by: Option<String>,
    /// What it acts on (`server/vmid`), for filtering.
    pub target: Option<String>,
}

impl NewJob {
    /// A job of `kind` with `payload` and the defaults (priority 0, now, 5 attempts).
    pub fn new(kind: &str, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.to_owned(),
            payload,
            priority: 0,
            run_at_ms: None,
            max_attempts: 5,
            idempotency_key: None,
            parent_id: None,
            created_by: None,
            target: None,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Job {
    /// Id.
    pub id: String,
    /// Handler.
    pub kind: String,
    /// Input, as JSON text.
    pub payload: String,
    /// State name (see `State`).
    pub state: String,
    /// Priority.
    pub priority: i64,
    /// Due time.
    pub run_at_ms: i64,
    /// Claims so far.
    pub attempts: i64,
    /// Claims allowed.
    pub max_attempts: i64,
    /// Bulk parent.
    pub parent_id: Option<String>,
    /// Current lease holder.
    pub lease_owner: Option<String>,
    /// Someone asked it to stop.
    pub cancel_requested: bool,
    /// Output, as JSON text.
    pub result: Option<String>,
    /// Last error.
    pub error: Option<String>,
    /// Who asked for it.
    pub created_by: Option<String>,
    /// Enqueued at.
    pub created_at_ms: i64,
    /// Finished at.
    pub finished_at_ms: Option<i64>,
    /// What the handler saved to resume after a crash (JSON text).
    pub checkpoint: Option<String>,
    /// What it acts on.
    pub target: Option<String>,
}

impl Job {
    /// The job's state.
    pub fn state(&self) -> Option<State> {
        State::parse(&self.state)
    }
}

pub(crate) const COLUMNS: &str = "id, kind, payload, state, priority, run_at_ms, attempts, max_attempts, \
    parent_id, lease_owner, cancel_requested, result, error, created_by, created_at_ms, finished_at_ms, \
    checkpoint, target";

/// The PostgreSQL notification channel that announces new jobs.
pub const CHANNEL: &str = "pmp_jobs";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Enqueues `job`; with an idempotency key already used, returns the existing job's id.
pub async fn enqueue(db: &Db, job: &NewJob) -> Result<String, DbError> {
    const INSERT: &str = "INSERT INTO jobs (id, kind, payload, state, priority, run_at_ms, attempts, \
        max_attempts, idempotency_key, parent_id, cancel_requested, created_by, created_at_ms, target) \
        VALUES ($1, $2, $3, 'queued', $4, $5, 0, $6, $7, $8, FALSE, $9, $10, $11) \
        ON CONFLICT (idempotency_key) DO NOTHING";
    const EXISTING: &str = "SELECT id FROM jobs WHERE idempotency_key = $1";
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let inserted = with_pool!(db, pool => sqlx::query(INSERT)
        .bind(&id)
        .bind(&job.kind)
        .bind(job.payload.to_string())
        .bind(job.priority)
        .bind(job.run_at_ms.unwrap_or(now))
        .bind(job.max_attempts.max(1))
        .bind(job.idempotency_key.as_deref())
        .bind(job.parent_id.as_deref())
        .bind(job.created_by.as_deref())
        .bind(now)
        .bind(job.target.as_deref())
        .execute(pool)
        .await?
        .rows_affected());
    if inserted == 1 {
        if let Db::Postgres(pool) = db {
            // Wakes idle workers on every instance at once.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(pool)
                .await?;
        }
        return Ok(id);
    }
    let existing: String = with_pool!(db, pool => sqlx::query_scalar(EXISTING).bind(job.idempotency_key.as_deref()).fetch_one(pool).await?);
    Ok(existing)
}

/// Claims up to `limit` due jobs (or jobs whose lease lapsed) for `owner`, leased for
/// `lease_ms`. Jobs out of attempts are not claimed; `reap` ends them.
pub async fn claim(db: &Db, owner: &str, limit: i64, lease_ms: i64) -> Result<Vec<Job>, DbError> {
    const CANDIDATES: &str = "SELECT id FROM jobs WHERE \
        ((state = 'queued' AND run_at_ms <= $3) OR (state = 'running' AND lease_until_ms < $3)) \
        AND attempts < max_attempts ORDER BY priority DESC, run_at_ms, id LIMIT $4";
    let now = now_ms();
    let update = |candidates: &str| {
        format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until_ms = $2, \
             attempts = attempts + 1, started_at_ms = COALESCE(started_at_ms, $3) \
             WHERE id IN ({candidates}) RETURNING {COLUMNS}"
        )
    };
    Ok(match db {
        Db::Sqlite(pool) => {
            let sql = update(CANDIDATES);
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(owner)
                .bind(now + lease_ms)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
        Db::Postgres(pool) => {
            let sql = update(&format!("{CANDIDATES} FOR UPDATE SKIP LOCKED"));
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(owner)
                .bind(now + lease_ms)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
        }
    })
}

/// Renews `owner`'s lease on `id`. None when the lease is lost (the job was taken over or
/// finished); otherwise whether cancellation was requested, which the handler must honour.
pub async fn heartbeat(
    db: &Db,
    id: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<Option<bool>, DbError> {
    const SQL: &str = "UPDATE jobs SET lease_until_ms = $3 WHERE id = $1 AND lease_owner = $2 \
        AND state = 'running' RETURNING cancel_requested";
    Ok(
        with_pool!(db, pool => sqlx::query_scalar(SQL).bind(id).bind(owner).bind(now_ms() + lease_ms).fetch_optional(pool).await?),
    )
}

/// Saves `owner`'s checkpoint of `id`; false when the lease is no longer theirs.
pub async fn save_checkpoint(
    db: &Db,
    id: &str,
    owner: &str,
    checkpoint: &str,
) -> Result<bool, DbError> {
    const SQL: &str =
        "UPDATE jobs SET checkpoint = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'running'";
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(owner).bind(checkpoint).execute(pool).await?.rows_affected());
    Ok(n == 1)
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Done, with this result.
    Succeeded(serde_json::Value),
    /// An error; `retryable` ones are tried again later while attempts remain.
    Error { message: String, retryable: bool },
    /// Stopped because cancellation was requested.
    Cancelled,
    /// Not done, nothing wrong: come back in this many milliseconds (a bulk parent waiting
    /// for its children), without holding a worker slot or spending an attempt.
    Waiting(i64),
}

/// The delay before retry number `attempt` (1-based): exponential from one second, capped
/// at ten minutes, with up to 25 % random jitter so that failed jobs do not return in step.
pub fn backoff_ms(attempt: i64) -> i64 {
    let base = 1000_i64
        .saturating_mul(1 << attempt.clamp(1, 10).saturating_sub(1))
        .min(600_000);
    let jitter = i64::from(rand::random::<u16>()) * base / 4 / i64::from(u16::MAX);
    base + jitter
}

/// The final state, result and error `outcome` records; none for one that goes back to the
/// queue (a retryable error, a waiting parent).
fn ending(outcome: &Outcome) -> Option<(State, Option<String>, Option<String>)> {
    match outcome {
        Outcome::Succeeded(value) => Some((State::Succeeded, Some(value.to_string()), None)),
        Outcome::Error {
            message,
            retryable: false,
        } => Some((State::Failed, None, Some(message.clone()))),
        Outcome::Cancelled => Some((
            State::Cancelled,
            None,
            Some("cancelled on request".to_owned()),
        )),
        Outcome::Error {
            retryable: true, ..
        }
        | Outcome::Waiting(_) => None,
    }
}

/// Records how `owner`'s run of `id` ended; false when the lease was lost (nothing changes).
pub async fn finish(db: &Db, id: &str, owner: &str, outcome: &Outcome) -> Result<bool, DbError> {
    const DONE: &str = "UPDATE jobs SET state = $3, result = $4, error = $5, lease_owner = NULL, \
        lease_until_ms = NULL, finished_at_ms = $6 WHERE id = $1 AND lease_owner = $2 AND state = 'running'";
    const RETRY: &str = "UPDATE jobs SET state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'dead' END, \
        run_at_ms = $3, error = $4, lease_owner = NULL, lease_until_ms = NULL, \
        finished_at_ms = CASE WHEN attempts < max_attempts THEN NULL ELSE $5 END \
        WHERE id = $1 AND lease_owner = $2 AND state = 'running'";
    const ATTEMPTS: &str = "SELECT attempts FROM jobs WHERE id = $1";
    const WAIT: &str = "UPDATE jobs SET state = 'queued', run_at_ms = $3, attempts = attempts - 1, \
        lease_owner = NULL, lease_until_ms = NULL WHERE id = $1 AND lease_owner = $2 AND state = 'running'";
    let now = now_ms();
    let changed = if let Some((state, result, error)) = ending(outcome) {
        with_pool!(db, pool => sqlx::query(DONE).bind(id).bind(owner).bind(state.as_str()).bind(result).bind(error).bind(now).execute(pool).await?.rows_affected())
    } else if let Outcome::Waiting(delay_ms) = outcome {
        with_pool!(db, pool => sqlx::query(WAIT).bind(id).bind(owner).bind(now + delay_ms).execute(pool).await?.rows_affected())
    } else {
        // A retryable error: back to the queue after the backoff, or dead when out of attempts.
        let message = match outcome {
            Outcome::Error { message, .. } => message.as_str(),
            _ => "",
        };
        let attempts: i64 = with_pool!(db, pool => sqlx::query_scalar(ATTEMPTS).bind(id).fetch_optional(pool).await?).unwrap_or(1);
        with_pool!(db, pool => sqlx::query(RETRY).bind(id).bind(owner).bind(now + backoff_ms(attempts)).bind(message).bind(now).execute(pool).await?.rows_affected())
    };
    Ok(changed == 1)
}

/// Asks `id` to stop: a queued job is cancelled at once (it never runs); a running one is
/// flagged for its handler. False when the job is unknown or already final.
pub async fn cancel(db: &Db, id: &str) -> Result<bool, DbError> {
    const QUEUED: &str = "UPDATE jobs SET state = 'cancelled', finished_at_ms = $2, \
        error = 'cancelled before it ran' WHERE id = $1 AND state = 'queued'";
    const RUNNING: &str =
        "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'";
    let now = now_ms();
    let queued = with_pool!(db, pool => sqlx::query(QUEUED).bind(id).bind(now).execute(pool).await?.rows_affected());
    if queued == 1 {
        return Ok(true);
    }
    let running =
        with_pool!(db, pool => sqlx::query(RUNNING).bind(id).execute(pool).await?.rows_affected());
    Ok(running == 1)
}

/// Ends jobs whose lease lapsed on their last allowed attempt: they are dead, not retried.
pub async fn reap(db: &Db) -> Result<u64, DbError> {
    const SQL: &str = "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_until_ms = NULL, \
        finished_at_ms = $1, error = COALESCE(error, 'the worker running it stopped answering') \
        WHERE state = 'running' AND lease_until_ms < $1 AND attempts >= max_attempts";
    Ok(with_pool!(db, pool => sqlx::query(SQL).bind(now_ms()).execute(pool).await?.rows_affected()))
}

/// The job `id`.
pub async fn get(db: &Db, id: &str) -> Result<Option<Job>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?),
    )
}

/// Appends a line to a job's log.
pub async fn log(db: &Db, id: &str, line: &str) -> Result<(), DbError> {
    const SQL: &str = "INSERT INTO job_log (job_id, at_ms, line) VALUES ($1, $2, $3)";
    let line: String = line.chars().take(4000).collect();
    with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(now_ms()).bind(&line).execute(pool).await?.rows_affected());
    Ok(())
}

/// A job's log lines after line `after` (0 for all), in order, with their sequence numbers.
pub async fn log_lines(db: &Db, id: &str, after: i64) -> Result<Vec<(i64, String)>, DbError> {
    const SQL: &str = "SELECT id, line FROM job_log WHERE job_id = $1 AND id > $2 ORDER BY id";
    Ok(with_pool!(db, pool => sqlx::query_as(SQL).bind(id).bind(after).fetch_all(pool).await?))
}

/// Deletes jobs that ended before `cutoff_ms` (with their logs and bulk children); jobs
/// still queued or running are never touched. Returns how many went.
pub async fn prune(db: &Db, cutoff_ms: i64) -> Result<u64, DbError> {
    const SQL: &str = "DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'dead', 'cancelled') \
        AND finished_at_ms < $1 AND parent_id IS NULL";
    Ok(
        with_pool!(db, pool => sqlx::query(SQL).bind(cutoff_ms).execute(pool).await?.rows_affected()),
    )
}
