//! Alerts as stored: raising one (or, while it still fires, counting another hit on it, so a
//! repeated condition never notifies twice), resolving it, listing them, and the rules'
//! settings. Raising and resolving hand the change to `notify`, which queues the messages.

use serde::Serialize;

use crate::alerts::rules::{Rule, Settings};
use crate::db::now;
use crate::db::{Db, DbError};
use crate::with_pool;

/// One alert.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Alert {
    /// Id.
    pub id: String,
    /// The rule that raised it (`Rule::as_str`).
    pub rule: String,
    /// What it is about (an account, an address, a server, a job).
    pub subject: String,
    /// One line for people.
    pub title: String,
    /// What was seen, in a sentence.
    pub detail: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// Unix time it was raised.
    pub first_at: i64,
    /// Unix time it was last seen.
    pub last_at: i64,
    /// Unix time it was resolved.
    pub resolved_at: Option<i64>,
    /// How often the condition was seen while it fired.
    pub hits: i64,
}

const COLUMNS: &str =
    "id, rule, subject, title, detail, state, first_at, last_at, resolved_at, hits";

/// Raises `rule` about `subject`, or counts a hit on the alert already firing. Returns the
/// alert when it is new (and so must be notified).
pub async fn raise(
    db: &Db,
    rule: Rule,
    subject: &str,
    title: &str,
    detail: &str,
) -> Result<Option<Alert>, DbError> {
    const HIT: &str = "UPDATE alerts SET hits = hits + 1, last_at = $3, detail = $4 \
        WHERE rule = $1 AND subject = $2 AND state = 'firing'";
    const INSERT: &str = "INSERT INTO alerts (id, rule, subject, title, detail, state, first_at, \
        last_at, resolved_at, hits) VALUES ($1, $2, $3, $4, $5, 'firing', $6, $6, NULL, 1)";
    let at = now();
    let detail: String = detail.chars().take(500).collect();
    let hit = with_pool!(db, pool => sqlx::query(HIT).bind(rule.as_str()).bind(subject)
        .bind(at).bind(&detail).execute(pool).await?.rows_affected());
    if hit > 0 {
        return Ok(None);
    }
    let alert = Alert {
        id: uuid::Uuid::new_v4().to_string(),
        rule: rule.as_str().to_owned(),
        subject: subject.to_owned(),
        title: title.to_owned(),
        detail,
        state: "firing".to_owned(),
        first_at: at,
        last_at: at,
        resolved_at: None,
        hits: 1,
    };
    let inserted = with_pool!(db, pool => sqlx::query(INSERT).bind(&alert.id).bind(&alert.rule)
        .bind(&alert.subject).bind(&alert.title).bind(&alert.detail).bind(at)
        .execute(pool).await.map(drop));
    match inserted {
        Ok(_) => {
            crate::telemetry::alert_raised(rule.as_str());
            Ok(Some(alert))
        }
        // Another instance raised it a moment ago (the unique index): that one notifies.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Resolves the firing alert of `rule` about `subject`; returns it when there was one.
pub async fn resolve(db: &Db, rule: Rule, subject: &str) -> Result<Option<Alert>, DbError> {
    let sql = format!(
        "UPDATE alerts SET state = 'resolved', resolved_at = $3 \
         WHERE rule = $1 AND subject = $2 AND state = 'firing' RETURNING {COLUMNS}"
    );
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(rule.as_str()).bind(subject).bind(now()).fetch_optional(pool).await?),
    )
}

/// Resolves the firing alert `id` by hand; returns it when it was firing.
pub async fn resolve_id(db: &Db, id: &str) -> Result<Option<Alert>, DbError> {
    let sql = format!(
        "UPDATE alerts SET state = 'resolved', resolved_at = $2 \
         WHERE id = $1 AND state = 'firing' RETURNING {COLUMNS}"
    );
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id).bind(now()).fetch_optional(pool).await?),
    )
}

/// One alert.
pub async fn get(db: &Db, id: &str) -> Result<Option<Alert>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM alerts WHERE id = $1");
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id).fetch_optional(pool).await?),
    )
}

/// The newest alerts, firing first; only those in `state` when given.
pub async fn list(db: &Db, state: Option<&str>, limit: i64) -> Result<Vec<Alert>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts WHERE ($1 IS NULL OR state = $1) \
         ORDER BY CASE WHEN state = 'firing' THEN 0 ELSE 1 END, last_at DESC, id LIMIT $2"
    );
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(state).bind(limit).fetch_all(pool).await?),
    )
}

/// Firing alerts of `rule` last seen before `before`.
pub async fn stale(db: &Db, rule: Rule, before: i64) -> Result<Vec<Alert>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts WHERE rule = $1 AND state = 'firing' AND last_at < $2"
    );
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(rule.as_str()).bind(before).fetch_all(pool).await?),
    )
}

/// The firing subjects of `rule`.
pub async fn firing_subjects(db: &Db, rule: Rule) -> Result<Vec<String>, DbError> {
    const SQL: &str = "SELECT subject FROM alerts WHERE rule = $1 AND state = 'firing'";
    Ok(with_pool!(db, pool => sqlx::query_scalar(SQL).bind(rule.as_str()).fetch_all(pool).await?))
}

/// A rule's settings: the stored ones, or its defaults.
pub async fn settings(db: &Db, rule: Rule) -> Result<Settings, DbError> {
    const SQL: &str = "SELECT enabled, threshold, window_secs FROM alert_rules WHERE rule = $1";
    let row: Option<(bool, i64, i64)> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(rule.as_str()).fetch_optional(pool).await?);
    Ok(row.map_or_else(
        || rule.defaults(),
        |(enabled, threshold, window_secs)| Settings {
            enabled,
            threshold,
            window_secs,
        },
    ))
}

/// Stores a rule's settings.
pub async fn set_settings(db: &Db, rule: Rule, s: Settings) -> Result<(), DbError> {
    const SQL: &str = "INSERT INTO alert_rules (rule, enabled, threshold, window_secs) \
        VALUES ($1, $2, $3, $4) ON CONFLICT (rule) DO UPDATE SET enabled = $2, threshold = $3, \
        window_secs = $4";
    with_pool!(db, pool => sqlx::query(SQL).bind(rule.as_str()).bind(s.enabled)
        .bind(s.threshold).bind(s.window_secs).execute(pool).await.map(drop)?);
    Ok(())
}
