//! Security events: every sign-in, failure, lockout, 2FA change, token creation or revocation
//! and password change, stored with who, from where and when. The audit log is built around
//! this table; nothing here ever holds a password, token or code, only what happened.

use std::sync::OnceLock;

use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::audit::{Entry, append};
use crate::db::now;
use crate::db::{Db, DbError};
use crate::http::Client;
use crate::with_pool;

/// What looks at each entry once it is stored: the anomaly rules, which live above the trail
/// (`alerts`) and so register themselves here (`watch`) when the database is opened.
pub type Watcher = for<'a> fn(&'a Db, i64, &'a Entry<'a>) -> BoxFuture<'a, Result<(), DbError>>;

static WATCHER: OnceLock<Watcher> = OnceLock::new();

/// Has `watcher` look at every entry recorded from now on in this process (the first
/// registration wins; every portal in a process registers the same rules).
pub fn watch(watcher: Watcher) {
    let _ = WATCHER.set(watcher);
}

/// What happened. The string forms are stable: alerts and exports match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginSucceeded,
    LoginFailed,
    Locked,
    TotpEnabled,
    TotpDisabled,
    TotpFailed,
    TotpReplayed,
    RecoveryCodeUsed,
    RefreshReused,
    ApiTokenCreated,
    ApiTokenRevoked,
    PasswordChanged,
    PasswordReset,
    UserCreated,
    UserChanged,
    UserDeleted,
    SessionRevoked,
    CsrfRefused,
    SetupCompleted,
    AccessChanged,
    ServerChanged,
    GuestAction,
    AccessDenied,
    AuditExported,
    BackupCreated,
    BackupRestored,
    /// A state-changing request that no more specific event covered (`audit::requests`).
    Request,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::Locked => "login.locked",
            Self::TotpEnabled => "totp.enabled",
            Self::TotpDisabled => "totp.disabled",
            Self::TotpFailed => "totp.failed",
            Self::TotpReplayed => "totp.replayed",
            Self::RecoveryCodeUsed => "totp.recovery_code_used",
            Self::RefreshReused => "api.refresh_reused",
            Self::ApiTokenCreated => "api_token.created",
            Self::ApiTokenRevoked => "api_token.revoked",
            Self::PasswordChanged => "password.changed",
            Self::PasswordReset => "password.reset",
            Self::UserCreated => "user.created",
            Self::UserChanged => "user.changed",
            Self::UserDeleted => "user.deleted",
            Self::SessionRevoked => "session.revoked",
            Self::CsrfRefused => "csrf.refused",
            Self::SetupCompleted => "setup.completed",
            Self::AccessChanged => "access.changed",
            Self::ServerChanged => "server.changed",
            Self::GuestAction => "guest.action",
            Self::AccessDenied => "access.denied",
            Self::AuditExported => "audit.exported",
            Self::BackupCreated => "backup.created",
            Self::BackupRestored => "backup.restored",
            Self::Request => "request",
        }
    }

    /// How the event ended, as audit entries state it (`Request` states its own).
    pub fn outcome(self) -> &'static str {
        match self {
            Self::LoginFailed | Self::TotpFailed | Self::TotpReplayed | Self::RefreshReused => {
                "failure"
            }
            Self::Locked | Self::CsrfRefused | Self::AccessDenied => "denied",
            _ => "success",
        }
    }
}

/// Whom an event is about: the account concerned (for a failed sign-in, the name typed, if it
/// is a valid username).
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The user's id, when known.
    pub user_id: Option<&'a str>,
    /// The username.
    pub username: Option<&'a str>,
}

impl<'a> Subject<'a> {
    /// A known user.
    pub fn user(user_id: &'a str, username: &'a str) -> Self {
        Self {
            user_id: Some(user_id),
            username: Some(username),
        }
    }
}

/// One stored event.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    /// Sequence number.
    pub id: i64,
    /// Unix time.
    pub at: i64,
    /// What happened (`Kind::as_str`).
    pub kind: String,
    /// The user concerned.
    pub user_id: Option<String>,
    /// Their username.
    pub username: Option<String>,
    /// Client address.
    pub ip: String,
    /// Client user agent.
    pub user_agent: String,
    /// A short free-text detail (never a secret).
    pub detail: String,
    /// How the actor acted: `user`, `token:ID`, `cli`, `system` or `anonymous`.
    pub actor: String,
    /// What was acted on.
    pub target: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// The request it happened in.
    pub request_id: String,
}

/// The columns of `Event`, for queries that read events.
pub const EVENT_COLUMNS: &str =
    "id, at, kind, user_id, username, ip, user_agent, detail, actor, target, outcome, request_id";

/// Stores an event. A failure is logged and returned: callers on security paths refuse the
/// request rather than let something unrecorded happen.
pub async fn record(
    db: &Db,
    kind: Kind,
    subject: Subject<'_>,
    client: &Client,
    detail: &str,
) -> Result<(), DbError> {
    record_with(db, kind, kind.outcome(), subject, client, detail).await
}

/// Stores an event whose outcome the caller states.
pub async fn record_with(
    db: &Db,
    kind: Kind,
    outcome: &str,
    subject: Subject<'_>,
    client: &Client,
    detail: &str,
) -> Result<(), DbError> {
    tracing::info!(
        target: "pmp::security",
        event = kind.as_str(),
        user_id = subject.user_id.unwrap_or("-"),
        ip = %client.ip,
        detail,
        "security event"
    );
    let detail: String = detail.chars().take(500).collect();
    let ip = client.ip.to_string();
    let trail = &client.trail;
    let target = match (trail.target(), subject.username) {
        (Some(target), _) => target.to_owned(),
        (None, Some(name)) => format!("user:{name}"),
        (None, None) => String::new(),
    };
    let entry = Entry {
        at: now(),
        kind: kind.as_str(),
        user_id: subject.user_id,
        username: subject.username,
        ip: &ip,
        user_agent: &client.user_agent,
        detail: &detail,
        actor: trail.actor(),
        target: &target,
        outcome,
        request_id: trail.request_id(),
    };
    let result = append(db, &entry).await;
    if let Ok(id) = result {
        trail.mark_recorded();
        crate::telemetry::security_event(kind.as_str());
        // An alert that cannot be raised must not undo what was recorded; it is logged.
        if let Some(watcher) = WATCHER.get()
            && let Err(e) = watcher(db, id, &entry).await
        {
            tracing::error!(error = %e, event = kind.as_str(), "anomaly rules could not be evaluated");
        }
    }
    if let Err(e) = &result {
        tracing::error!(error = %e, event = kind.as_str(), "cannot store a security event");
    }
    result?;
    Ok(())
}

/// The newest `limit` events, newest first; only those of `user_id` when given.
pub async fn recent(db: &Db, user_id: Option<&str>, limit: i64) -> Result<Vec<Event>, DbError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM security_events WHERE ($1 IS NULL OR user_id = $1) \
        ORDER BY id DESC LIMIT $2"
    );
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(user_id)
        .bind(limit)
        .fetch_all(pool)
        .await?),
    )
}
