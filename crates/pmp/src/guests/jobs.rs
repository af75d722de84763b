//! The `pve.guest` job kind: one operation on one guest, carried out as a PVE task that the
//! job follows to its end, copying each task log line into the job's log once. It survives
//! a crash: before starting the operation it saves when it started, and once PVE answers it
//! saves the task id (and, as it goes, how many log lines it copied). A later run follows the
//! saved task, or finds the task a dead run started but never recorded, so an operation is
//! never started twice. Cancelling the job stops the PVE task.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::guests::ops::{Op, Retention, outcome_of};
use crate::ids::ServerId;
use crate::inventory::Inventory;
use crate::jobs::queue::{Outcome, now_ms};
use crate::jobs::worker::{JobContext, Registry};
use crate::secrets::Keys;
use crate::servers::connect;

/// The job kind.
pub const KIND: &str = "pve.guest";

/// What a `pve.guest` job does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub server: String,
    pub vmid: u32,
    #[serde(flatten)]
    pub op: Op,
}

/// What a run saves so that the next one resumes instead of starting over.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// Unix ms just before the operation was sent to PVE.
    started_ms: Option<i64>,
    /// The task PVE started.
    upid: Option<String>,
    /// Log lines already copied.
    seen: u64,
}

/// What the handler needs besides the job.
#[derive(Clone)]
pub struct Deps {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub inventory: Inventory,
    /// Between task status reads.
    pub poll: Duration,
}

/// Registers the kind.
pub fn register(registry: &mut Registry, deps: Deps) {
    registry.register(KIND, move |ctx| {
        let deps = deps.clone();
        async move { run(ctx, &deps).await }
    });
}

fn fail(message: impl Into<String>) -> Outcome {
    Outcome::Error {
        message: message.into(),
        retryable: false,
    }
}

/// The task a dead run started and did not record: the newest one of the right type, on
/// this guest, by these credentials, since the run's start.
async fn find_started(
    client: &pve::Client,
    payload: &Payload,
    user: &str,
    since_ms: i64,
) -> Result<Option<pve::Upid>, pve::Error> {
    let kind = client.locate(payload.vmid).await?.kind;
    let worker = payload.op.worker_type(kind);
    let since = u64::try_from(since_ms / 1000)
        .unwrap_or(0)
        .saturating_sub(5);
    let vmid = payload.vmid.to_string();
    let mut found: Vec<pve::Upid> = client
        .cluster_tasks()
        .await?
        .into_iter()
        .filter(|u| u.kind == worker && u.id == vmid && u.user == user && u.starttime >= since)
        .collect();
    found.sort_by_key(|u| u.starttime);
    Ok(found.pop())
}

async fn run(ctx: JobContext, deps: &Deps) -> Outcome {
    let Ok(payload) = serde_json::from_str::<Payload>(&ctx.job.payload) else {
        return fail("the job's payload is not a guest operation");
    };
    let Ok(server) = ServerId::parse(&payload.server) else {
        return fail("the job names no valid server");
    };
    let _busy = deps.inventory.busy(server.as_str());
    let (record, client) = match connect::open(&deps.db, &deps.keys, &server).await {
        Ok(Some(found)) => found,
        Ok(None) => return fail("the server was removed"),
        Err(connect::ConnectError::Pve(e)) => return outcome_of(&e),
        Err(e) => return fail(e.to_string()),
    };
    if !record.enabled {
        return fail("the server is disabled");
    }
    let mut checkpoint: Checkpoint = ctx.checkpoint().unwrap_or_default();
    let recorded = checkpoint
        .upid
        .as_deref()
        .and_then(|u| u.parse::<pve::Upid>().ok());
    let upid = match recorded {
        Some(upid) => {
            let _ = ctx
                .log(&format!("resuming: following PVE task {upid}"))
                .await;
            upid
        }
        None => {
            let earlier = match checkpoint.started_ms {
                Some(since) => {
                    match find_started(&client, &payload, &record.auth_id, since).await {
                        Ok(found) => found,
                        Err(e) => return outcome_of(&e),
                    }
                }
                None => None,
            };
            match earlier {
                Some(upid) => {
                    let _ = ctx
                        .log(&format!(
                            "resuming: found PVE task {upid} started by an earlier run"
                        ))
                        .await;
                    upid
                }
                None => {
                    if ctx.cancelled() {
                        return Outcome::Cancelled;
                    }
                    checkpoint.started_ms = Some(now_ms());
                    if !matches!(ctx.save_checkpoint(&checkpoint).await, Ok(true)) {
                        return Outcome::Error {
                            message: "the job's lease was lost before it started".to_owned(),
                            retryable: true,
                        };
                    }
                    match payload.op.start(&client, payload.vmid).await {
                        Ok(upid) => upid,
                        Err(e) => return outcome_of(&e),
                    }
                }
            }
        }
    };
    checkpoint.upid = Some(upid.to_string());
    let _ = ctx.save_checkpoint(&checkpoint).await;
    let _ = ctx
        .log(&format!(
            "{} on guest {}: PVE task {upid}",
            payload.op.describe(),
            payload.vmid
        ))
        .await;
    let mut outcome = follow(&ctx, &client, &upid, checkpoint, deps.poll).await;
    if let (
        Outcome::Succeeded(_),
        Op::Snapshot {
            retention: Some(keep),
            ..
        },
    ) = (&outcome, &payload.op)
        && let Err(e) = prune(&ctx, &client, payload.vmid, keep, deps.poll).await
    {
        // Retrying is safe: the next run follows the snapshot already taken, then prunes.
        outcome = outcome_of(&e);
    }
    deps.inventory.nudge(server.as_str());
    outcome
}

/// Deletes the snapshots of the series that the retention no longer keeps, one PVE task at
/// a time; deleting one already gone is not an error worth failing the job for.
async fn prune(
    ctx: &JobContext,
    client: &pve::Client,
    vmid: u32,
    keep: &Retention,
    poll: Duration,
) -> Result<(), pve::Error> {
    let list = client.snapshots(vmid).await?;
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    for name in keep.doomed(&list, now) {
        let upid = client.snapshot_delete(vmid, &name).await?;
        let (ended, _) = client.wait_task(&upid, poll, 0, |_| {}).await?;
        let _ = ctx
            .log(&format!("retention: deleted snapshot {name} ({ended:?})"))
            .await;
    }
    Ok(())
}

/// Follows the task to its end, copying log lines and stopping it on cancellation.
async fn follow(
    ctx: &JobContext,
    client: &pve::Client,
    upid: &pve::Upid,
    mut checkpoint: Checkpoint,
    poll: Duration,
) -> Outcome {
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<pve::LogLine>();
    let wait = client.wait_task(upid, poll, checkpoint.seen, move |line| {
        let _ = tx.send(line.clone());
    });
    tokio::pin!(wait);
    let mut cancel = ctx.cancel_signal();
    let mut stopping = false;
    let result = loop {
        tokio::select! {
            result = &mut wait => break result,
            Some(line) = lines.recv() => {
                let _ = ctx.log(&line.t).await;
                checkpoint.seen = line.n;
                let _ = ctx.save_checkpoint(&checkpoint).await;
            }
            requested = async { cancel.wait_for(|c| *c).await.is_ok() }, if !stopping => {
                if requested {
                    stopping = true;
                    let _ = ctx.log("cancellation requested: stopping the PVE task").await;
                    if let Err(e) = client.stop_task(upid).await {
                        let _ = ctx.log(&format!("stopping the PVE task failed: {e}")).await;
                    }
                }
            }
        }
    };
    while let Ok(line) = lines.try_recv() {
        let _ = ctx.log(&line.t).await;
    }
    match result {
        Ok((pve::Outcome::Ok | pve::Outcome::Warnings(_), _)) => {
            Outcome::Succeeded(serde_json::json!({ "upid": upid.to_string() }))
        }
        Ok((pve::Outcome::Failed(_), _)) if stopping => Outcome::Cancelled,
        Ok((pve::Outcome::Failed(message), _)) => fail(format!("the PVE task failed: {message}")),
        Err(e) => outcome_of(&e),
    }
}
