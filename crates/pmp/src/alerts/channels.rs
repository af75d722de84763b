//! Notification channels as stored: a webhook (JSON, HMAC-signed), ntfy, Gotify or e-mail
//! (SMTP). What is not secret is kept as JSON; the secret (the webhook's signing key, a token,
//! an SMTP password) is sealed with the data key and never shown again after creation.

use serde::{Deserialize, Serialize};

use crate::alerts::destination::{self, Refused};
use crate::db::now;
use crate::db::{Db, DbError};
use crate::secrets::Keys;
use crate::with_pool;

/// A channel's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Webhook,
    Ntfy,
    Gotify,
    Email,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Ntfy => "ntfy",
            Self::Gotify => "gotify",
            Self::Email => "email",
        }
    }
}

/// How SMTP is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// STARTTLS on the submission port (587), required.
    Starttls,
    /// TLS from the first byte (465).
    Tls,
    /// None: only for a relay on a trusted network.
    None,
}

/// The settings of a channel that are not secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Webhook, ntfy topic or Gotify server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SMTP host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A channel as listed (never with its secret).
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub kind: Kind,
    pub target: Target,
    pub enabled: bool,
    pub created_at: i64,
}

/// The seal's purpose for a channel's secret.
pub fn purpose(id: &str) -> String {
    format!("channel:{id}:secret")
}

fn mailbox(text: Option<&str>) -> bool {
    text.is_some_and(|t| t.parse::<lettre::message::Mailbox>().is_ok() && t.len() <= 254)
}

/// Checks a new channel's settings (not yet its addresses: see `destination`).
pub fn validate(
    name: &str,
    kind: Kind,
    target: &Target,
    secret: Option<&str>,
) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err("The name must be 1 to 64 characters, without control characters.".to_owned());
    }
    if secret.is_some_and(|s| s.len() > 512 || s.chars().any(char::is_control)) {
        return Err(
            "The secret must be at most 512 characters, without control characters.".to_owned(),
        );
    }
    match kind {
        Kind::Webhook | Kind::Ntfy | Kind::Gotify => {
            let url = target.url.as_deref().ok_or("A URL is required.")?;
            destination::parse_url(url).map_err(|e: Refused| e.to_string())?;
            if kind == Kind::Gotify && secret.is_none() {
                return Err("Gotify needs the application token as the secret.".to_owned());
            }
        }
        Kind::Email => {
            let host = target.host.as_deref().unwrap_or("");
            let plain =
                |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
            if host.is_empty() || host.len() > 253 || !host.chars().all(plain) {
                return Err("An SMTP host name or address is required.".to_owned());
            }
            if !mailbox(target.from.as_deref()) || !mailbox(target.to.as_deref()) {
                return Err("From and to must be e-mail addresses.".to_owned());
            }
        }
    }
    Ok(())
}

/// Stores a channel; its secret is sealed.
pub async fn create(
    db: &Db,
    keys: &Keys,
    name: &str,
    kind: Kind,
    target: &Target,
    secret: Option<&str>,
) -> Result<Channel, DbError> {
    const SQL: &str = "INSERT INTO notification_channels (id, name, kind, target, secret, enabled, created_at) \
        VALUES ($1, $2, $3, $4, $5, TRUE, $6)";
    let id = uuid::Uuid::new_v4().to_string();
    let sealed = secret.map(|s| keys.seal(&purpose(&id), s.as_bytes()));
    let kind_text = kind.as_str();
    let target_text = serde_json::to_string(target).unwrap_or_default();
    let at = now();
    with_pool!(db, pool => sqlx::query(SQL).bind(&id).bind(name.trim()).bind(kind_text)
        .bind(&target_text).bind(sealed).bind(at).execute(pool).await.map(drop)?);
    Ok(Channel {
        id,
        name: name.trim().to_owned(),
        kind,
        target: target.clone(),
        enabled: true,
        created_at: at,
    })
}

type Row = (String, String, String, String, Option<String>, bool, i64);

fn channel(row: Row) -> Option<(Channel, Option<String>)> {
    let (id, name, kind, target, secret, enabled, created_at) = row;
    let kind = serde_json::from_value(serde_json::Value::String(kind)).ok()?;
    let target = serde_json::from_str(&target).ok()?;
    Some((
        Channel {
            id,
            name,
            kind,
            target,
            enabled,
            created_at,
        },
        secret,
    ))
}

const COLUMNS: &str =
    "SELECT id, name, kind, target, secret, enabled, created_at FROM notification_channels";

/// Every channel, by name.
pub async fn list(db: &Db) -> Result<Vec<Channel>, DbError> {
    let sql = format!("{COLUMNS} ORDER BY name, id");
    let rows: Vec<Row> =
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?);
    Ok(rows
        .into_iter()
        .filter_map(channel)
        .map(|(c, _)| c)
        .collect())
}

/// One channel with its opened secret.
pub async fn get(
    db: &Db,
    keys: &Keys,
    id: &str,
) -> Result<Option<(Channel, Option<String>)>, DbError> {
    let sql = format!("{COLUMNS} WHERE id = $1");
    let row: Option<Row> = with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?);
    Ok(row.and_then(channel).map(|(c, sealed)| {
        let secret = sealed
            .and_then(|s| keys.open(&purpose(&c.id), &s).ok())
            .and_then(|b| String::from_utf8(b).ok());
        (c, secret)
    }))
}

/// Deletes a channel; false when there was none.
pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    const SQL: &str = "DELETE FROM notification_channels WHERE id = $1";
    Ok(with_pool!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected()) > 0)
}

/// The ids of the enabled channels.
pub async fn enabled_ids(db: &Db) -> Result<Vec<String>, DbError> {
    const SQL: &str = "SELECT id FROM notification_channels WHERE enabled = TRUE ORDER BY id";
    Ok(with_pool!(db, pool => sqlx::query_scalar(SQL).fetch_all(pool).await?))
}
