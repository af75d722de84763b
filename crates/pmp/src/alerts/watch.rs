//! The periodic rules: servers the portal cannot reach, nodes offline, certificates other than
//! the pinned one (each resolved when the condition clears), the rules that read PVE (`scan`),
//! jobs that failed, and the quiet resolution of anomaly alerts once their window passed
//! without a new hit. Several instances
//! may run this at once: raising is deduplicated in the store and notifying by job keys.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::alerts::rules::Rule;
use crate::alerts::scan::Scanner;
use crate::alerts::{notify, store};
use crate::db::{Db, DbError};
use crate::inventory::{Health, Inventory};
use crate::secrets::Keys;
use crate::with_pool;

/// Raises `rule` about `subject` unless the rule is turned off.
pub(super) async fn raise(
    db: &Db,
    rule: Rule,
    subject: &str,
    title: String,
    detail: String,
) -> Result<(), DbError> {
    if !store::settings(db, rule).await?.enabled {
        return Ok(());
    }
    notify::raise(db, rule, subject, &title, &detail).await
}

async fn resolve(db: &Db, rule: Rule, subject: &str) -> Result<(), DbError> {
    if let Some(alert) = store::resolve(db, rule, subject).await? {
        notify::changed(db, &alert).await?;
    }
    Ok(())
}

/// Resolves the alerts of `rule` whose condition no longer holds: those firing about a subject
/// not in `still`, among the subjects that were looked at (`looked`; an unreadable server's
/// alerts stay as they are).
pub(super) async fn settle(
    db: &Db,
    rule: Rule,
    still: &[String],
    looked: impl Fn(&str) -> bool,
) -> Result<(), DbError> {
    for subject in store::firing_subjects(db, rule).await? {
        if looked(&subject) && !still.contains(&subject) {
            resolve(db, rule, &subject).await?;
        }
    }
    Ok(())
}

/// Raises and resolves the inventory rules for every server as polled now.
async fn servers(db: &Db, inventory: &Inventory) -> Result<(), DbError> {
    let mut down = Vec::new();
    let mut changed = Vec::new();
    let mut offline = Vec::new();
    for (server, state) in inventory.all() {
        match &state.health {
            Health::Unreachable { message } => {
                down.push(server.clone());
                let title = format!("Server {server} is unreachable");
                raise(db, Rule::ServerUnreachable, &server, title, message.clone()).await?;
            }
            Health::CertificateChanged {
                member,
                expected,
                seen,
            } => {
                changed.push(server.clone());
                let title = format!("Server {server} presents another certificate");
                let detail = format!(
                    "{member}: pinned {expected}, presented {seen}; confirm or investigate"
                );
                raise(db, Rule::CertificateChanged, &server, title, detail).await?;
            }
            _ => {}
        }
        for node in state.nodes.iter().filter(|n| n.status != "online") {
            let subject = format!("{server}/{}", node.name);
            let title = format!("Node {} of {server} is {}", node.name, node.status);
            raise(
                db,
                Rule::NodeOffline,
                &subject,
                title,
                "reported by the cluster".to_owned(),
            )
            .await?;
            offline.push(subject);
        }
    }
    for (rule, still) in [
        (Rule::ServerUnreachable, &down),
        (Rule::CertificateChanged, &changed),
        (Rule::NodeOffline, &offline),
    ] {
        settle(db, rule, still, |_| true).await?;
    }
    Ok(())
}

/// Raises an alert for each job that failed since `since_ms`.
async fn jobs(db: &Db, since_ms: i64) -> Result<(), DbError> {
    const SQL: &str = "SELECT id, kind, COALESCE(error, '') FROM jobs \
        WHERE state IN ('failed', 'dead') AND finished_at_ms >= $1 AND kind <> 'notify' LIMIT 100";
    let failed: Vec<(String, String, String)> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(since_ms).fetch_all(pool).await?);
    for (id, kind, error) in failed {
        let title = format!("Job {kind} failed");
        raise(db, Rule::JobFailed, &id, title, error).await?;
    }
    Ok(())
}

/// Resolves anomaly alerts whose window passed without a new hit (at least five minutes).
async fn quiet(db: &Db) -> Result<(), DbError> {
    let now = crate::db::now();
    for rule in Rule::ALL.into_iter().filter(|r| r.is_anomaly()) {
        let window = store::settings(db, rule)
            .await?
            .window_secs
            .clamp(300, 86_400);
        for alert in store::stale(db, rule, now - window).await? {
            resolve(db, rule, &alert.subject).await?;
        }
    }
    Ok(())
}

/// How often the rules run.
#[derive(Debug, Clone, Copy)]
pub struct Every {
    /// The rules that read the inventory cache, the jobs and the audit trail.
    pub round: Duration,
    /// The rules that read storages and backups from PVE.
    pub scan: Duration,
}

/// Evaluates the periodic rules until `stopped`.
pub fn start(
    db: Db,
    inventory: Inventory,
    keys: Arc<Keys>,
    every: Every,
    mut stopped: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut scanner = Scanner::new(db.clone(), keys, inventory.clone(), every.scan);
        // Jobs that failed before this start were alerted by the run before, if any.
        let mut since_ms = crate::db::now() * 1000 - 2 * every.round.as_millis() as i64;
        loop {
            let started_ms = crate::db::now() * 1000;
            for (what, result) in [
                ("servers", servers(&db, &inventory).await),
                ("guests", scanner.guests().await),
                ("storage", scanner.storage().await),
                ("jobs", jobs(&db, since_ms).await),
                ("quiet", quiet(&db).await),
            ] {
                if let Err(e) = result {
                    tracing::warn!(error = %e, rules = what, "alert rules could not be evaluated");
                }
            }
            since_ms = started_ms - 1_000;
            tokio::select! {
                () = tokio::time::sleep(every.round) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    });
}
