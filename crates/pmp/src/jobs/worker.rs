//! The worker loop: claims due jobs up to its concurrency, runs each with the handler of its
//! kind while a heartbeat renews the lease (and carries cancellation requests to the handler),
//! and records the outcome. It sleeps until woken (PostgreSQL `LISTEN`; a short poll on
//! SQLite), never spinning. On shutdown it stops claiming, lets running jobs finish within the
//! grace period, and releases the rest for another worker, so nothing is lost or run twice.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::db::{Db, DbError};
use crate::jobs::queue::{self, Job, Outcome};
use crate::with_pool;

/// What a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;
/// A job kind's handler.
pub type Handler = Arc<dyn Fn(JobContext) -> HandlerFuture + Send + Sync>;

/// The handlers a worker knows, by kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.handlers.keys()).finish()
    }
}

impl Registry {
    /// The built-in kinds (`noop`, which measures the engine itself).
    pub fn builtin() -> Self {
        let mut registry = Self::default();
        registry.register("noop", |_| async {
            Outcome::Succeeded(serde_json::Value::Null)
        });
        registry
    }

    /// Registers `handler` for `kind`.
    pub fn register<F, Fut>(&mut self, kind: &str, handler: F)
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        self.handlers
            .insert(kind.to_owned(), Arc::new(move |ctx| Box::pin(handler(ctx))));
    }
}

/// What a running handler can see and do.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job, as claimed.
    pub job: Job,
    db: Db,
    owner: String,
    cancel: watch::Receiver<bool>,
}

impl JobContext {
    /// Appends a line to the job's log.
    pub async fn log(&self, line: &str) -> Result<(), DbError> {
        queue::log(&self.db, &self.job.id, line).await
    }

    /// What an earlier run of this job saved, if anything.
    pub fn checkpoint<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.job.checkpoint.as_deref()?).ok()
    }

    /// Saves what a later run needs to resume; false when this worker lost the job.
    pub async fn save_checkpoint<T: serde::Serialize>(&self, value: &T) -> Result<bool, DbError> {
        let text = serde_json::to_string(value).unwrap_or_default();
        queue::save_checkpoint(&self.db, &self.job.id, &self.owner, &text).await
    }

    /// True once cancellation has been requested (or the worker is shutting down and the
    /// grace period ran out).
    pub fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// A receiver that sees cancellation, for handlers that wait on several things at once.
    pub fn cancel_signal(&self) -> watch::Receiver<bool> {
        self.cancel.clone()
    }

    /// Resolves when cancellation is requested.
    pub async fn until_cancelled(&mut self) {
        let _ = self.cancel.wait_for(|c| *c).await;
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's name in leases (unique per process).
    pub owner: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Lease length; renewed every third of it.
    pub lease: Duration,
    /// How long running jobs get to finish at shutdown before they are released.
    pub grace: Duration,
    /// How often to look for due jobs when nothing wakes the worker.
    pub poll: Duration,
    /// Ended jobs older than this are deleted.
    pub retention: Duration,
}

impl WorkerConfig {
    /// A worker named after this host and process, with `concurrency` slots.
    pub fn new(concurrency: usize, lease: Duration) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "pmp".to_owned());
        Self {
            owner: format!(
                "{host}:{}:{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
            concurrency: concurrency.max(1),
            lease,
            grace: Duration::from_secs(10),
            poll: Duration::from_millis(250),
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Gives a job back to the queue untouched (this claim does not count as an attempt).
async fn release(db: &Db, id: &str, owner: &str) -> Result<(), DbError> {
    const SQL: &str = "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until_ms = NULL, \
        attempts = attempts - 1 WHERE id = $1 AND lease_owner = $2 AND state = 'running'";
    with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(owner).execute(pool).await?.rows_affected());
    Ok(())
}

/// Resolves at `deadline`, or never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Runs one claimed job to its end: the handler, a heartbeat beside it, then the outcome.
async fn run_one(
    db: Db,
    registry: Registry,
    config: WorkerConfig,
    job: Job,
    mut stop: watch::Receiver<bool>,
) {
    let (cancel_tx, cancel_rx) = watch::channel(job.cancel_requested);
    let id = job.id.clone();
    let Some(handler) = registry.handlers.get(&job.kind).cloned() else {
        let outcome = Outcome::Error {
            message: format!("no handler for job kind `{}`", job.kind),
            retryable: false,
        };
        if let Err(e) = queue::finish(&db, &id, &config.owner, &outcome).await {
            tracing::error!(job = %id, error = %e, "cannot record a job outcome");
        }
        return;
    };
    let mut work = tokio::spawn(handler(JobContext {
        job,
        db: db.clone(),
        owner: config.owner.clone(),
        cancel: cancel_rx,
    }));
    let beat = config.lease / 3;
    let mut grace_deadline = None;
    let outcome = loop {
        tokio::select! {
            result = &mut work => break result.unwrap_or_else(|e| Outcome::Error { message: format!("the job handler failed: {e}"), retryable: true }),
            _ = tokio::time::sleep(beat) => {
                match queue::heartbeat(&db, &id, &config.owner, millis(config.lease)).await {
                    Ok(Some(cancel)) => { let _ = cancel_tx.send(cancel || *cancel_tx.borrow()); }
                    Ok(None) => {
                        // Another worker owns the job now (this one stalled past its lease).
                        tracing::warn!(job = %id, "lease lost; abandoning the job to its new owner");
                        work.abort();
                        return;
                    }
                    Err(e) => tracing::warn!(job = %id, error = %e, "heartbeat failed; retrying"),
                }
            }
            () = until(grace_deadline) => {
                // Shutting down and out of grace: stop the handler and give the job back.
                work.abort();
                if let Err(e) = release(&db, &id, &config.owner).await {
                    tracing::error!(job = %id, error = %e, "cannot release a job at shutdown");
                }
                return;
            }
            _ = stop.changed(), if grace_deadline.is_none() => {
                grace_deadline = Some(tokio::time::Instant::now() + config.grace);
            }
        }
    };
    match queue::finish(&db, &id, &config.owner, &outcome).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(job = %id, "job finished after its lease was lost; outcome dropped")
        }
        Err(e) => tracing::error!(job = %id, error = %e, "cannot record a job outcome"),
    }
}

/// Waits until a job may be due: a notification (PostgreSQL) or the poll interval.
struct Waker {
    listener: Option<sqlx::postgres::PgListener>,
    poll: Duration,
}

impl Waker {
    async fn new(db: &Db, poll: Duration) -> Self {
        let listener = match db {
            Db::Postgres(pool) => match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(mut listener) => listener
                    .listen(queue::CHANNEL)
                    .await
                    .ok()
                    .map(|()| listener),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for job notifications; polling");
                    None
                }
            },
            Db::Sqlite(_) => None,
        };
        // With notifications, polling is only the safety net for due retries and lapsed leases.
        let poll = if listener.is_some() { poll * 4 } else { poll };
        Self { listener, poll }
    }

    async fn wait(&mut self) {
        match &mut self.listener {
            Some(listener) => {
                let _ = tokio::time::timeout(self.poll, listener.recv()).await;
            }
            None => tokio::time::sleep(self.poll).await,
        }
    }
}

/// Runs the worker until `stop` resolves, then drains as described above.
pub async fn run(db: Db, registry: Registry, config: WorkerConfig, stop: impl Future<Output = ()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut running: JoinSet<()> = JoinSet::new();
    let mut waker = Waker::new(&db, config.poll).await;
    tracing::info!(owner = %config.owner, concurrency = config.concurrency, "job worker started");
    tokio::pin!(stop);
    let mut next_prune = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_prune {
            next_prune += Duration::from_secs(600);
            match queue::prune(&db, queue::now_ms() - millis(config.retention)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "pruned jobs past their retention"),
                Err(e) => tracing::warn!(error = %e, "cannot prune old jobs"),
            }
        }
        while running.try_join_next().is_some() {}
        let free = config.concurrency.saturating_sub(running.len());
        let claimed = if free > 0 {
            if let Err(e) = queue::reap(&db).await {
                tracing::warn!(error = %e, "cannot reap expired jobs");
            }
            match queue::claim(
                &db,
                &config.owner,
                i64::try_from(free).unwrap_or(1),
                millis(config.lease),
            )
            .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim jobs; retrying");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let idle = claimed.is_empty();
        for job in claimed {
            running.spawn(run_one(
                db.clone(),
                registry.clone(),
                config.clone(),
                job,
                stop_rx.clone(),
            ));
        }
        if !idle {
            continue;
        }
        tokio::select! {
            () = &mut stop => break,
            () = waker.wait() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    tracing::info!(running = running.len(), "job worker draining");
    let _ = stop_tx.send(true);
    while running.join_next().await.is_some() {}
    tracing::info!("job worker stopped");
}
