//! The tamper-evident chain. Every security event (sign-ins, 2FA, tokens, users, access
//! changes, servers, guest actions, refusals) is appended with the hash of the entry before
//! it and its own SHA-256 over that and every field, in one transaction that holds a lock so
//! that concurrent writers (on PostgreSQL, several instances) chain in order. `verify` walks
//! the chain and names the first entry that does not fit: edited, deleted or reordered.

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::db::{BeginWrite as _, Db, DbError};
use crate::with_pool;

/// One event as written.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub at: i64,
    pub kind: &'a str,
    pub user_id: Option<&'a str>,
    pub username: Option<&'a str>,
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub detail: &'a str,
    /// How the actor acted: `user`, `token:ID`, `cli`, `system` or `anonymous`.
    pub actor: &'a str,
    /// What was acted on (an access path, or the request path).
    pub target: &'a str,
    /// `success`, `failure` or `denied`.
    pub outcome: &'a str,
    /// The request it happened in (empty outside a request).
    pub request_id: &'a str,
}

/// Serializes appends within this process (SQLite has one writer anyway; PostgreSQL also
/// takes a transaction-level advisory lock, for several processes).
static APPEND: Mutex<()> = Mutex::const_new(());

/// The lock key on PostgreSQL ("audit" in ASCII).
const LOCK: i64 = 0x0061_7564_6974;

/// Length-prefixed, so no two different entries hash the same text.
fn part_into(h: &mut Sha256, part: &str) {
    h.update((part.len() as u64).to_be_bytes());
    h.update(part.as_bytes());
}

fn hash(prev: &str, id: i64, e: &Entry<'_>) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &id.to_string(),
        &e.at.to_string(),
        e.kind,
        e.user_id.unwrap_or(""),
        e.username.unwrap_or(""),
        e.ip,
        e.user_agent,
        e.detail,
    ] {
        part_into(&mut h, part);
    }
    // Entries from before these fields existed have them all empty and were hashed without
    // them; all four are hashed as soon as one is set, so none can be blanked unnoticed.
    let later = [e.actor, e.target, e.outcome, e.request_id];
    if later.iter().any(|p| !p.is_empty()) {
        for part in later {
            part_into(&mut h, part);
        }
    }
    hex::encode(h.finalize())
}

/// Appends `entry` to the chain; returns its sequence number.
pub async fn append(db: &Db, entry: &Entry<'_>) -> Result<i64, DbError> {
    const LAST: &str = "SELECT id, hash FROM security_events ORDER BY id DESC LIMIT 1";
    const INSERT: &str = "INSERT INTO security_events \
        (id, at, kind, user_id, username, ip, user_agent, detail, actor, target, outcome, \
        request_id, prev_hash, hash) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
    let _guard = APPEND.lock().await;
    let id = with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if matches!(db, Db::Postgres(_)) {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LOCK).execute(&mut *tx).await?;
        }
        let last: Option<(i64, Option<String>)> = sqlx::query_as(LAST).fetch_optional(&mut *tx).await?;
        let (id, prev) = match last {
            Some((id, prev)) => (id + 1, prev.unwrap_or_default()),
            None => (1, String::new()),
        };
        let own = hash(&prev, id, entry);
        sqlx::query(INSERT)
            .bind(id)
            .bind(entry.at)
            .bind(entry.kind)
            .bind(entry.user_id)
            .bind(entry.username)
            .bind(entry.ip)
            .bind(entry.user_agent)
            .bind(entry.detail)
            .bind(entry.actor)
            .bind(entry.target)
            .bind(entry.outcome)
            .bind(entry.request_id)
            .bind(&prev)
            .bind(&own)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        id
    });
    Ok(id)
}

/// Why the chain does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Broken {
    #[error("audit entry #{0} was changed: its hash no longer matches its contents")]
    Edited(i64),
    #[error(
        "audit entry #{0} does not follow the entry before it: an entry was deleted, inserted or reordered there"
    )]
    Unlinked(i64),
}

/// An entry as stored, with its place in the chain.
#[derive(sqlx::FromRow)]
pub(crate) struct Stored {
    pub id: i64,
    at: i64,
    kind: String,
    user_id: Option<String>,
    username: Option<String>,
    ip: String,
    user_agent: String,
    detail: String,
    actor: String,
    target: String,
    outcome: String,
    request_id: String,
    prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl Stored {
    /// The hashed contents.
    pub fn entry(&self) -> Entry<'_> {
        Entry {
            at: self.at,
            kind: &self.kind,
            user_id: self.user_id.as_deref(),
            username: self.username.as_deref(),
            ip: &self.ip,
            user_agent: &self.user_agent,
            detail: &self.detail,
            actor: &self.actor,
            target: &self.target,
            outcome: &self.outcome,
            request_id: &self.request_id,
        }
    }
}

const COLUMNS: &str = "SELECT id, at, kind, user_id, username, ip, user_agent, detail, actor, \
    target, outcome, request_id, prev_hash, hash FROM security_events";

/// Up to `limit` entries after sequence number `id`, oldest first.
pub(crate) async fn after(db: &Db, id: i64, limit: i64) -> Result<Vec<Stored>, DbError> {
    let sql = format!("{COLUMNS} WHERE id > $1 ORDER BY id LIMIT $2");
    Ok(
        with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(id).bind(limit).fetch_all(pool).await?),
    )
}

/// The sequence number of the newest entry (0 when there is none).
pub(crate) async fn last_id(db: &Db) -> Result<i64, DbError> {
    const SQL: &str = "SELECT COALESCE(MAX(id), 0) FROM security_events";
    Ok(with_pool!(db, pool => sqlx::query_scalar(SQL).fetch_one(pool).await?))
}

/// Walks the chain in order; returns how many entries it verified, or the first broken one.
pub async fn verify(db: &Db) -> Result<Result<u64, Broken>, DbError> {
    let sql = format!("{COLUMNS} ORDER BY id");
    let rows: Vec<Stored> = with_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(pool).await?);
    let mut expected_prev: Option<String> = None;
    let mut verified = 0;
    for row in rows {
        // Events from before the chain existed have no hash and may only come first.
        let (Some(prev), Some(stored)) = (row.prev_hash.as_deref(), row.hash.as_deref()) else {
            if expected_prev.is_some() {
                return Ok(Err(Broken::Edited(row.id)));
            }
            continue;
        };
        if prev != expected_prev.as_deref().unwrap_or("") {
            return Ok(Err(Broken::Unlinked(row.id)));
        }
        if hash(prev, row.id, &row.entry()) != stored {
            return Ok(Err(Broken::Edited(row.id)));
        }
        expected_prev = Some(stored.to_owned());
        verified += 1;
    }
    Ok(Ok(verified))
}
