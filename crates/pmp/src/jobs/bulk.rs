//! Bulk jobs: one parent that runs N child jobs, at most `per_group` at a time in each group
//! (a server, so one cluster is never flooded), and reports each item's result in its log as
//! it ends; a partial failure names every failed item. The parent never holds a worker slot
//! while it waits: each run does one step (report what ended, start what may start, save
//! where it is) and comes back later. Children are enqueued with an idempotency key per
//! item, so a parent that crashed mid-step never starts an item twice. Cancelling the parent
//! cancels what has not ended.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError};
use crate::jobs::queue::{self, COLUMNS, Job, NewJob, Outcome, State};
use crate::jobs::worker::{JobContext, Registry};
use crate::with_pool;

/// The job kind.
pub const KIND: &str = "bulk";

/// One item of a bulk job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The child's kind and payload.
    pub kind: String,
    pub payload: serde_json::Value,
    /// Items of a group share its concurrency cap.
    pub group: String,
    /// How the item is named in the parent's log.
    pub label: String,
}

/// A bulk job's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bulk {
    pub items: Vec<Item>,
    /// Children running at once per group.
    pub per_group: usize,
}

/// Where the parent is.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// Child job id per item, once enqueued.
    children: BTreeMap<usize, String>,
    /// Items whose end was reported.
    reported: BTreeSet<usize>,
    failed: usize,
    cancelled: bool,
}

/// A parent's children.
pub async fn children(db: &Db, parent: &str) -> Result<Vec<Job>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE parent_id = $1");
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(parent).fetch_all(pool).await?),
    )
}

/// Registers the kind; `step_ms` is how soon a waiting parent looks again.
pub fn register(registry: &mut Registry, db: Db, step_ms: i64) {
    registry.register(KIND, move |ctx| {
        let db = db.clone();
        async move {
            match step(&ctx, &db, step_ms).await {
                Ok(outcome) => outcome,
                Err(e) => Outcome::Error {
                    message: format!("the bulk job could not read its children: {e}"),
                    retryable: true,
                },
            }
        }
    });
}

async fn step(ctx: &JobContext, db: &Db, step_ms: i64) -> Result<Outcome, DbError> {
    let Ok(bulk) = serde_json::from_str::<Bulk>(&ctx.job.payload) else {
        return Ok(Outcome::Error {
            message: "the bulk job's payload is malformed".to_owned(),
            retryable: false,
        });
    };
    let parent = &ctx.job.id;
    let mut cp: Checkpoint = ctx.checkpoint().unwrap_or_default();
    let states: BTreeMap<String, Job> = children(db, parent)
        .await?
        .into_iter()
        .map(|j| (j.id.clone(), j))
        .collect();
    let ended = |i: &usize| {
        cp.children
            .get(i)
            .and_then(|id| states.get(id))
            .and_then(Job::state)
            .is_some_and(State::is_final)
    };
    // Report what ended since the last step.
    let newly: Vec<usize> = cp
        .children
        .keys()
        .copied()
        .filter(|i| ended(i) && !cp.reported.contains(i))
        .collect();
    for i in newly {
        let job = &states[&cp.children[&i]];
        let label = &bulk.items[i].label;
        let line = match job.error.as_deref() {
            Some(error) if job.state != "succeeded" => format!("{label}: {}: {error}", job.state),
            _ => format!("{label}: {}", job.state),
        };
        ctx.log(&line).await?;
        if job.state != "succeeded" {
            cp.failed += 1;
        }
        cp.reported.insert(i);
    }
    if ctx.cancelled() && !cp.cancelled {
        cp.cancelled = true;
        for id in cp.children.values() {
            queue::cancel(db, id).await?;
        }
        ctx.log("cancellation requested: items not started will not run")
            .await?;
    }
    // Start what may start, group by group.
    if !cp.cancelled {
        let mut running: BTreeMap<&str, usize> = BTreeMap::new();
        for i in cp.children.keys().filter(|i| !ended(i)) {
            *running.entry(bulk.items[*i].group.as_str()).or_default() += 1;
        }
        for (i, item) in bulk.items.iter().enumerate() {
            let busy = running.entry(item.group.as_str()).or_default();
            if cp.children.contains_key(&i) || *busy >= bulk.per_group.max(1) {
                continue;
            }
            let mut child = NewJob::new(&item.kind, item.payload.clone());
            child.parent_id = Some(parent.clone());
            child.created_by = ctx.job.created_by.clone();
            child.idempotency_key = Some(format!("{parent}:{i}"));
            child.target = Some(item.label.clone());
            let id = queue::enqueue(db, &child).await?;
            cp.children.insert(i, id);
            *busy += 1;
        }
    }
    let _ = ctx.save_checkpoint(&cp).await?;
    let started = cp.children.len();
    let all_reported = cp.reported.len() == started;
    if all_reported && (started == bulk.items.len() || cp.cancelled) {
        let total = bulk.items.len();
        return Ok(if cp.cancelled {
            Outcome::Cancelled
        } else if cp.failed > 0 {
            Outcome::Error {
                message: format!("{} of {total} items failed; the log names each", cp.failed),
                retryable: false,
            }
        } else {
            Outcome::Succeeded(serde_json::json!({ "items": total }))
        });
    }
    Ok(Outcome::Waiting(step_ms))
}
