//! Notifications through the job engine: a raised or resolved alert queues one `notify` job
//! per enabled channel (deduplicated by an idempotency key, so a second instance noticing the
//! same change queues nothing), and the job delivers it with the engine's retries and backoff.
//! A channel sends at most `notify_per_minute` messages a minute; the rest are dropped with a
//! line in the log, so an alert storm cannot flood a phone or a mailbox.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use crate::alerts::send::{self, Failed, Message};
use crate::alerts::store::Alert;
use crate::alerts::{channels, store};
use crate::config::ProxyNet;
use crate::db::{Db, DbError};
use crate::jobs::queue::{self, NewJob, Outcome};
use crate::jobs::worker::Registry;
use crate::secrets::Keys;
use crate::with_pool;

/// The job kind.
pub const KIND: &str = "notify";

/// Queues the notifications of an alert that was raised or resolved.
pub async fn changed(db: &Db, alert: &Alert) -> Result<(), DbError> {
    for channel in channels::enabled_ids(db).await? {
        let mut job = NewJob::new(
            KIND,
            json!({ "channel": channel, "alert": alert.id, "state": alert.state }),
        );
        job.idempotency_key = Some(format!("notify:{}:{}:{channel}", alert.id, alert.state));
        job.target = Some(format!("channel/{channel}"));
        queue::enqueue(db, &job).await?;
    }
    Ok(())
}

/// Raises `rule` about `subject` and, when the alert is new, queues its notifications.
pub async fn raise(
    db: &Db,
    rule: crate::alerts::rules::Rule,
    subject: &str,
    title: &str,
    detail: &str,
) -> Result<(), DbError> {
    if let Some(alert) = store::raise(db, rule, subject, title, detail).await? {
        changed(db, &alert).await?;
    }
    Ok(())
}

/// What people read about `alert`.
pub fn message(alert: &Alert) -> Message {
    let resolved = alert.state == "resolved";
    let title = if resolved {
        format!("Resolved: {}", alert.title)
    } else {
        alert.title.clone()
    };
    let body = format!(
        "{}\nrule: {}\nseen {} time(s)\n{}",
        alert.detail,
        alert.rule,
        alert.hits,
        if resolved {
            "This alert is resolved."
        } else {
            "This alert is firing."
        }
    );
    Message {
        event: format!("alert.{}", alert.state),
        title,
        body,
        alert: serde_json::to_value(alert).unwrap_or_default(),
    }
}

/// What the job handler needs.
#[derive(Debug, Clone)]
pub struct Deps {
    pub db: Db,
    pub keys: Arc<Keys>,
    pub allowed: Arc<Vec<ProxyNet>>,
    pub per_minute: u32,
}

#[derive(Deserialize)]
struct Payload {
    channel: String,
    alert: String,
}

async fn sent_last_minute(db: &Db, channel: &str) -> Result<i64, DbError> {
    const SQL: &str = "SELECT COUNT(*) FROM jobs WHERE kind = 'notify' AND target = $1 \
        AND state = 'succeeded' AND finished_at_ms >= $2";
    let since = crate::db::now() * 1000 - 60_000;
    let target = format!("channel/{channel}");
    Ok(
        with_pool!(db, pool => sqlx::query_scalar(SQL).bind(target).bind(since).fetch_one(pool).await?),
    )
}

async fn run(deps: &Deps, payload: &str) -> Outcome {
    let fail = |message: String, retryable: bool| Outcome::Error { message, retryable };
    let Ok(p) = serde_json::from_str::<Payload>(payload) else {
        return fail(
            "the notification job's input is not valid".to_owned(),
            false,
        );
    };
    let (channel, alert) = match (
        channels::get(&deps.db, &deps.keys, &p.channel).await,
        store::get(&deps.db, &p.alert).await,
    ) {
        (Ok(Some(c)), Ok(Some(a))) => (c, a),
        (Ok(None), _) | (_, Ok(None)) => {
            return Outcome::Succeeded(json!({"skipped": "the channel or alert no longer exists"}));
        }
        (Err(e), _) | (_, Err(e)) => return fail(format!("database: {e}"), true),
    };
    match sent_last_minute(&deps.db, &p.channel).await {
        Ok(n) if n >= i64::from(deps.per_minute) => {
            tracing::warn!(channel = %p.channel, alert = %p.alert, "notification dropped: the channel's rate limit is reached");
            return Outcome::Succeeded(json!({"skipped": "rate limited"}));
        }
        Ok(_) => {}
        Err(e) => return fail(format!("database: {e}"), true),
    }
    let (channel, secret) = channel;
    match send::deliver(&channel, secret.as_deref(), &message(&alert), &deps.allowed).await {
        Ok(()) => Outcome::Succeeded(json!({"delivered": channel.name})),
        Err(Failed::Refused(e)) => fail(e.to_string(), false),
        Err(Failed::Delivery { detail, retry }) => {
            tracing::warn!(channel = %channel.id, %detail, "notification not delivered");
            fail(
                format!("the notification could not be delivered: {detail}"),
                retry,
            )
        }
    }
}

/// Registers the `notify` handler.
pub fn register(registry: &mut Registry, deps: Deps) {
    registry.register(KIND, move |ctx| {
        let deps = deps.clone();
        async move { run(&deps, &ctx.job.payload).await }
    });
}
