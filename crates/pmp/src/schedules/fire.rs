//! The ticker every `pmp serve` runs: twice a second it looks for due schedules, claims each
//! due tick with a compare-and-set (so with several instances exactly one fires it), and
//! turns it into a bulk job over the guests the schedule names, or the members of its pools
//! as they are now, limited to what the schedule's creator may still do today: a schedule
//! never outlives or outranks the person who made it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::access::Privilege;
use crate::db::{Db, DbError};
use crate::guests::jobs::{KIND as GUEST_KIND, Payload};
use crate::guests::ops::{Op, Retention};
use crate::inventory::target;
use crate::inventory::{GuestRow, Inventory};
use crate::jobs::bulk::{self, Bulk, Item};
use crate::jobs::queue::{self, NewJob, now_ms};
use crate::schedules::cron::{Cron, zone};
use crate::schedules::store::{self, Action, Schedule};

/// How often the ticker looks.
const EVERY: Duration = Duration::from_millis(500);

/// Starts the ticker; it stops when `stop` turns true.
pub fn start(db: Db, inventory: Inventory, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = tick(&db, &inventory).await {
                tracing::warn!(error = %e, "schedules: a tick failed; trying again");
            }
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}

/// The next run of `schedule` after `after_ms`, if its expression and zone are valid.
pub fn next_run(cron: &str, timezone: &str, after_ms: i64) -> Option<i64> {
    let tz = zone(timezone).ok()?;
    Cron::parse(cron).ok()?.next_after(after_ms, &tz)
}

/// Whether the inventory knows every server `action` names (otherwise another instance, or
/// this one a little later, should fire it).
fn ready(inventory: &Inventory, action: &Action) -> bool {
    let servers = action
        .guests
        .iter()
        .map(|g| &g.server)
        .chain(action.pools.iter().map(|p| &p.server));
    servers.into_iter().all(|s| {
        inventory
            .server(s)
            .is_some_and(|state| state.updated_ms.is_some())
    })
}

async fn tick(db: &Db, inventory: &Inventory) -> Result<(), DbError> {
    let now = now_ms();
    for schedule in store::due(db, now).await? {
        let (Some(due), Some(action)) = (schedule.next_run_ms, schedule.action()) else {
            continue;
        };
        if !ready(inventory, &action) {
            continue;
        }
        let next = next_run(&schedule.cron, &schedule.timezone, now.max(due));
        if !store::claim_tick(db, &schedule.id, due, next).await? {
            continue;
        }
        match fire(db, inventory, &schedule, &action, due).await? {
            Some(job) => {
                tracing::info!(schedule = %schedule.id, %job, "schedule fired");
                store::set_last_job(db, &schedule.id, &job).await?;
            }
            None => {
                tracing::warn!(schedule = %schedule.id, "schedule fired with no guest its creator may act on")
            }
        }
    }
    Ok(())
}

/// The guests `action` names, as the inventory knows them now.
fn targets(inventory: &Inventory, action: &Action) -> Vec<GuestRow> {
    let mut rows: Vec<GuestRow> = action
        .guests
        .iter()
        .filter_map(|g| inventory.guest(&g.server, g.vmid))
        .collect();
    for pool in &action.pools {
        if let Some(state) = inventory.server(&pool.server) {
            rows.extend(
                state
                    .guests
                    .iter()
                    .filter(|g| g.pool.as_deref() == Some(pool.pool.as_str()))
                    .cloned(),
            );
        }
    }
    rows.sort_by(|a, b| (&a.server, a.vmid).cmp(&(&b.server, b.vmid)));
    rows.dedup_by(|a, b| a.server == b.server && a.vmid == b.vmid);
    rows
}

/// The operation `action` runs, and the privilege it needs, for a tick at `due_ms`.
pub fn operation(schedule: &Schedule, action: &Action, due_ms: i64) -> Option<(Op, Privilege)> {
    match action.op.as_str() {
        "power" => {
            let name = action
                .action
                .as_deref()
                .filter(|a| pve::PowerAction::parse(a).is_some())?;
            Some((
                Op::Power {
                    action: name.to_owned(),
                },
                Privilege::GuestPower,
            ))
        }
        "snapshot" => {
            let prefix = action.prefix.clone()?;
            let tz = zone(&schedule.timezone).ok()?;
            let stamp = jiff::Timestamp::from_millisecond(due_ms)
                .ok()?
                .to_zoned_datetime(tz)
                .strftime("%Y%m%d-%H%M%S")
                .to_string();
            let retention =
                (action.keep_last.is_some() || action.max_age_days.is_some()).then(|| Retention {
                    prefix: prefix.clone(),
                    keep_last: action.keep_last,
                    max_age_days: action.max_age_days,
                });
            let op = Op::Snapshot {
                name: format!("{prefix}-{stamp}"),
                description: format!("scheduled: {}", schedule.name),
                vmstate: false,
                retention,
            };
            Some((op, Privilege::GuestSnapshot))
        }
        _ => None,
    }
}

async fn fire(
    db: &Db,
    inventory: &Inventory,
    schedule: &Schedule,
    action: &Action,
    due_ms: i64,
) -> Result<Option<String>, DbError> {
    let Some((op, privilege)) = operation(schedule, action, due_ms) else {
        return Ok(None);
    };
    let grants = crate::access::store::grants_of(db, &schedule.created_by).await?;
    let mut items = Vec::new();
    for row in targets(inventory, action) {
        if target(&row).is_none_or(|t| grants.authorize(privilege, t).is_err()) {
            continue;
        }
        let payload = Payload {
            server: row.server.clone(),
            vmid: row.vmid,
            op: op.clone(),
        };
        items.push(Item {
            kind: GUEST_KIND.to_owned(),
            payload: serde_json::to_value(&payload).unwrap_or_default(),
            group: row.server.clone(),
            label: format!("{}/{}", row.server, row.vmid),
        });
    }
    if items.is_empty() {
        return Ok(None);
    }
    let bulk = Bulk {
        items,
        per_group: action.per_server.clamp(1, 32),
    };
    let mut job = NewJob::new(bulk::KIND, serde_json::to_value(&bulk).unwrap_or_default());
    job.created_by = Some(schedule.created_by.clone());
    // A second guard behind the claim: one job per schedule and tick, whatever happens.
    job.idempotency_key = Some(format!("schedule:{}:{due_ms}", schedule.id));
    Ok(Some(queue::enqueue(db, &job).await?))
}
