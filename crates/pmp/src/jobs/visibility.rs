//! Which jobs a caller may see and act on, and the two actions (cancel, retry), shared by the
//! API and the pages: their own always;
//! everyone's with `job.view` (to see) or `job.manage` (to cancel or retry) on `/`. A job the
//! caller may not see is "not found", exactly like one that does not exist.

use crate::access::{Grants, Privilege, Target};
use crate::db::Db;
use crate::http::AppError;
use crate::identity::principal::Principal;
use crate::identity::sessions::guard::Viewer;
use crate::jobs::queue::{self, Job, NewJob, State};
use crate::with_pool;

/// Who is asking: built from the API's `Principal` or a page's `Viewer`.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Their user id.
    pub user_id: &'a str,
    /// What they are granted.
    pub grants: &'a Grants,
}

impl<'a> From<&'a Principal> for Caller<'a> {
    fn from(p: &'a Principal) -> Self {
        Self {
            user_id: &p.user.id,
            grants: &p.grants,
        }
    }
}

impl<'a> From<&'a Viewer> for Caller<'a> {
    fn from(v: &'a Viewer) -> Self {
        Self {
            user_id: &v.user.id,
            grants: &v.grants,
        }
    }
}

impl Caller<'_> {
    fn may(self, privilege: Privilege) -> bool {
        self.grants.authorize(privilege, Target::Root).is_ok()
    }

    fn owns(self, job: &Job) -> bool {
        job.created_by.as_deref() == Some(self.user_id)
    }
}

/// The job `id` if `caller` may see it.
pub async fn visible(db: &Db, caller: Caller<'_>, id: &str) -> Result<Job, AppError> {
    let job = queue::get(db, id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    if caller.owns(&job) || caller.may(Privilege::JobView) {
        Ok(job)
    } else {
        Err(AppError::NotFound)
    }
}

/// The job `id` if `caller` may cancel or retry it.
pub async fn manageable(db: &Db, caller: Caller<'_>, id: &str) -> Result<Job, AppError> {
    let job = visible(db, caller, id).await?;
    if caller.owns(&job) || caller.may(Privilege::JobManage) {
        Ok(job)
    } else {
        Err(AppError::Forbidden(
            "You may not act on other people's jobs.".to_owned(),
        ))
    }
}

/// Which jobs a listing shows.
#[derive(Debug, Default, Clone, Copy)]
pub struct JobFilter<'a> {
    pub state: Option<State>,
    pub kind: Option<&'a str>,
    /// What the job acts on (`server/vmid`).
    pub target: Option<&'a str>,
    /// Who asked for it (a user id).
    pub user: Option<&'a str>,
    pub limit: i64,
}

/// The newest jobs `caller` may see that `filter` selects.
pub async fn listing(
    db: &Db,
    caller: Caller<'_>,
    filter: JobFilter<'_>,
) -> Result<Vec<Job>, AppError> {
    let sql = format!(
        "SELECT {} FROM jobs WHERE ($1 OR created_by = $2) AND ($3 IS NULL OR state = $3) \
         AND ($4 IS NULL OR kind = $4) AND ($6 IS NULL OR target = $6) \
         AND ($7 IS NULL OR created_by = $7) ORDER BY created_at_ms DESC, id LIMIT $5",
        queue::COLUMNS
    );
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(caller.may(Privilege::JobView))
        .bind(caller.user_id)
        .bind(filter.state.map(State::as_str))
        .bind(filter.kind)
        .bind(filter.limit)
        .bind(filter.target)
        .bind(filter.user)
        .fetch_all(pool)
        .await
        .map_err(AppError::internal)?),
    )
}

/// Cancels the job `id` for `caller`; a job that has already ended is a conflict.
pub async fn cancel_job(db: &Db, caller: Caller<'_>, id: &str) -> Result<(), AppError> {
    let job = manageable(db, caller, id).await?;
    if queue::cancel(db, &job.id)
        .await
        .map_err(AppError::internal)?
    {
        Ok(())
    } else {
        Err(AppError::Conflict("The job has already ended.".to_owned()))
    }
}

/// Enqueues the failed, dead or cancelled job `id` again (as `caller`'s); the new job's id.
pub async fn retry_job(db: &Db, caller: Caller<'_>, id: &str) -> Result<String, AppError> {
    let job = manageable(db, caller, id).await?;
    if !matches!(
        job.state(),
        Some(State::Failed | State::Dead | State::Cancelled)
    ) {
        return Err(AppError::Conflict(
            "Only a failed, dead or cancelled job can be retried.".to_owned(),
        ));
    }
    let payload = serde_json::from_str(&job.payload).map_err(AppError::internal)?;
    let mut again = NewJob::new(&job.kind, payload);
    again.priority = job.priority;
    again.max_attempts = job.max_attempts;
    again.created_by = Some(caller.user_id.to_owned());
    queue::enqueue(db, &again).await.map_err(AppError::internal)
}
