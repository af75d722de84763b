//! Forwarding the audit trail to a SIEM over syslog (RFC 5424 over UDP or TCP). A background
//! task in each `pmp serve` follows the chain past a cursor kept in `settings`: it sends the
//! next entries, then moves the cursor, so an entry is sent at least once, and again after a
//! failure (each message carries its sequence number and hash, so the receiver can drop
//! repeats and check the chain). Where several instances share the database, the one holding a
//! short lease (also in `settings`) forwards; another takes over when it gives the lease up on
//! shutdown, or when it stops renewing.
//! Forwarding starts after the newest entry present when it is first switched on; the history
//! before is in the audit export.

mod format;
mod transport;

use std::time::Duration;

use tokio::sync::watch;

use crate::audit::chain;
use crate::config::syslog::Target;
use crate::db::{Db, DbError};
use crate::settings::{self, Key};

/// The sequence number of the last entry handed to the receiver.
const CURSOR: Key = Key("audit.syslog_cursor");
/// `INSTANCE EXPIRES`: which forwarder may send, until when (Unix seconds).
const LEASE: Key = Key("audit.syslog_lease");
/// How long a lease lasts without renewal; renewed on every round.
const LEASE_SECS: i64 = 30;
/// Entries sent per round; a backlog drains in rounds without pausing.
const BATCH: usize = 200;
/// How often the trail is checked for new entries when there is no backlog.
const POLL: Duration = Duration::from_secs(1);
/// The longest pause between attempts while the receiver is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Starts forwarding to `target` until `stopped` turns true.
pub fn start(db: Db, target: Target, mut stopped: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let instance = uuid::Uuid::new_v4().to_string();
        let origin = format::Origin::local();
        let mut sender = transport::Sender::new(target.clone());
        let mut failing = false;
        let mut backoff = POLL;
        loop {
            let pause = match round(&db, &instance, &origin, &mut sender).await {
                Ok(sent) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!(%target, "syslog forwarding resumed");
                    }
                    backoff = POLL;
                    if sent == BATCH { Duration::ZERO } else { POLL }
                }
                Err(failure) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(%target, error = %failure, "syslog forwarding failed; retrying, nothing is skipped");
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stopped.wait_for(|stop| *stop) => break,
            }
        }
        release(&db, &instance).await;
    });
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("receiver: {0}")]
    Send(#[from] std::io::Error),
}

/// Takes or renews the lease for `instance`; false while another instance holds it.
async fn lease(db: &Db, instance: &str) -> Result<bool, DbError> {
    let now = crate::db::now();
    let held = settings::get(db, LEASE).await?;
    let free = held.as_deref().is_none_or(|h| {
        let (holder, until) = h.split_once(' ').unwrap_or(("", ""));
        holder == instance || until.parse::<i64>().map_or(true, |until| until < now)
    });
    if !free {
        return Ok(false);
    }
    let mine = format!("{instance} {}", now + LEASE_SECS);
    settings::swap(db, LEASE, held.as_deref(), &mine).await
}

/// Gives the lease up on shutdown, so another instance takes over at once rather than when it
/// expires. Failing here only means the lease runs out by itself.
async fn release(db: &Db, instance: &str) {
    let Ok(Some(held)) = settings::get(db, LEASE).await else {
        return;
    };
    if held
        .split_once(' ')
        .is_some_and(|(holder, _)| holder == instance)
    {
        let _ = settings::swap(db, LEASE, Some(&held), "- 0").await;
    }
}

/// Sends the entries after the cursor and moves it; returns how many were sent.
async fn round(
    db: &Db,
    instance: &str,
    origin: &format::Origin,
    sender: &mut transport::Sender,
) -> Result<usize, Failure> {
    if !lease(db, instance).await? {
        return Ok(0);
    }
    let stored = settings::get(db, CURSOR).await?;
    let Some(cursor) = stored.as_deref().and_then(|c| c.parse::<i64>().ok()) else {
        // First start (or an unreadable cursor): begin after the newest entry.
        let newest = chain::last_id(db).await?.to_string();
        settings::swap(db, CURSOR, stored.as_deref(), &newest).await?;
        return Ok(0);
    };
    let limit = i64::try_from(BATCH).unwrap_or(i64::MAX);
    let rows = chain::after(db, cursor, limit).await?;
    let Some(last) = rows.last() else {
        return Ok(0);
    };
    let messages: Vec<String> = rows.iter().map(|r| format::message(origin, r)).collect();
    if let Err(e) = sender.send(&messages).await {
        crate::telemetry::syslog_messages("failed", messages.len());
        return Err(e.into());
    }
    crate::telemetry::syslog_messages("sent", messages.len());
    // Losing here means the lease passed to another instance meanwhile; it carries on.
    let moved = settings::swap(db, CURSOR, stored.as_deref(), &last.id.to_string()).await?;
    if !moved {
        tracing::debug!("another instance moved the syslog cursor first");
    }
    Ok(rows.len())
}
