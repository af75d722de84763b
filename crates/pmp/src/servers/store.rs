//! Registered Proxmox VE servers and their members (nodes), with credentials sealed by the
//! data key and bound to the server and field (`server:{id}:secret`), so a sealed value
//! copied to another row no longer opens. Reads never return a secret; only `auth` opens one,
//! for the client that talks to PVE.

use serde::Serialize;

use crate::db::{BeginWrite as _, Db, DbError};
use crate::ids::ServerId;
use crate::jobs::queue::now_ms;
use crate::secrets::Keys;
use crate::with_pool;

/// One member of a server: a node, its URL and the certificate it is pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Member {
    /// Node name.
    pub name: String,
    /// `https://host:8006`.
    pub url: String,
    /// Pinned SHA-256 fingerprint, `AA:BB:...`.
    pub fingerprint: String,
}

/// A server as the portal shows it: never a secret.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Server {
    /// Its id in the portal (`ServerId` grammar).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `token` or `password`.
    pub auth_kind: String,
    /// Token id (`user@realm!name`) or user id.
    pub auth_id: String,
    /// Whether it is polled and usable.
    pub enabled: bool,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
    /// Its members, entry node first.
    #[sqlx(skip)]
    pub members: Vec<Member>,
}

/// Credentials as given, before sealing.
#[derive(Debug, Clone)]
pub enum NewAuth {
    /// An API token (preferred).
    Token { id: String, secret: String },
    /// A user and password, with the TOTP seed if the account has a second factor.
    Password {
        userid: String,
        password: String,
        totp: Option<String>,
    },
}

impl NewAuth {
    /// The client's form of these credentials.
    pub fn to_pve(&self) -> pve::Auth {
        match self.clone() {
            Self::Token { id, secret } => pve::Auth::ApiToken { id, secret },
            Self::Password {
                userid,
                password,
                totp,
            } => pve::Auth::Password {
                userid,
                password,
                totp_secret: totp,
            },
        }
    }

    fn parts(&self) -> (&'static str, &str, &str, Option<&str>) {
        match self {
            Self::Token { id, secret } => ("token", id, secret, None),
            Self::Password {
                userid,
                password,
                totp,
            } => ("password", userid, password, totp.as_deref()),
        }
    }
}

const LIST: &str = "SELECT id, name, auth_kind, auth_id, enabled, created_at_ms, updated_at_ms FROM servers ORDER BY id";
const ONE: &str = "SELECT id, name, auth_kind, auth_id, enabled, created_at_ms, updated_at_ms FROM servers WHERE id = $1";
const MEMBERS: &str =
    "SELECT name, url, fingerprint FROM server_members WHERE server_id = $1 ORDER BY position";

/// What a server's sealed `field` is bound to.
pub(crate) fn purpose(id: &ServerId, field: &str) -> String {
    format!("server:{id}:{field}")
}

/// Registers a server with its members. False when the id is taken.
pub async fn insert(
    db: &Db,
    keys: &Keys,
    id: &ServerId,
    name: &str,
    auth: &NewAuth,
    members: &[Member],
) -> Result<bool, DbError> {
    let (kind, auth_id, secret, totp) = auth.parts();
    let row = NewRow {
        name,
        kind,
        auth_id,
        secret: keys.seal(&purpose(id, "secret"), secret.as_bytes()),
        totp: totp.map(|t| keys.seal(&purpose(id, "totp"), t.as_bytes())),
    };
    write(db, id, Some(row), members).await
}

/// The members with the one `chosen` re-pinned to `fingerprint` (an administrator confirmed a
/// changed certificate); `None` when no member is chosen.
pub fn repinned(
    members: &[Member],
    chosen: impl Fn(&Member) -> bool,
    fingerprint: &pve::Fingerprint,
) -> Option<Vec<Member>> {
    members.iter().any(&chosen).then(|| {
        members
            .iter()
            .map(|m| Member {
                fingerprint: if chosen(m) {
                    fingerprint.to_string()
                } else {
                    m.fingerprint.clone()
                },
                ..m.clone()
            })
            .collect()
    })
}

/// Replaces a server's members (after discovery or re-pinning), atomically. False when the
/// server does not exist.
pub async fn replace_members(db: &Db, id: &ServerId, members: &[Member]) -> Result<bool, DbError> {
    write(db, id, None, members).await
}

/// The server row to insert, credentials sealed.
struct NewRow<'a> {
    name: &'a str,
    kind: &'static str,
    auth_id: &'a str,
    secret: String,
    totp: Option<String>,
}

/// In one transaction: inserts the server (`new`; false if the id is taken) or touches the
/// existing one (false if it is gone), then writes its members in order.
async fn write(
    db: &Db,
    id: &ServerId,
    new: Option<NewRow<'_>>,
    members: &[Member],
) -> Result<bool, DbError> {
    const EXISTS: &str = "SELECT COUNT(*) FROM servers WHERE id = $1";
    const INSERT: &str = "INSERT INTO servers (id, name, auth_kind, auth_id, secret, totp, enabled, \
        created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $7)";
    const TOUCH: &str = "UPDATE servers SET updated_at_ms = $2 WHERE id = $1";
    const CLEAR: &str = "DELETE FROM server_members WHERE server_id = $1";
    const MEMBER: &str = "INSERT INTO server_members (server_id, name, url, fingerprint, position) \
        VALUES ($1, $2, $3, $4, $5)";
    let now = now_ms();
    let written = with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let exists: i64 = sqlx::query_scalar(EXISTS).bind(id.as_str()).fetch_one(&mut *tx).await?;
        let proceed = match &new {
            Some(row) if exists == 0 => {
                sqlx::query(INSERT)
                    .bind(id.as_str())
                    .bind(row.name)
                    .bind(row.kind)
                    .bind(row.auth_id)
                    .bind(&row.secret)
                    .bind(&row.totp)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                true
            }
            None if exists == 1 => {
                sqlx::query(TOUCH).bind(id.as_str()).bind(now).execute(&mut *tx).await?;
                sqlx::query(CLEAR).bind(id.as_str()).execute(&mut *tx).await?;
                true
            }
            _ => false,
        };
        if proceed {
            for (position, member) in (0i64..).zip(members) {
                sqlx::query(MEMBER)
                    .bind(id.as_str())
                    .bind(&member.name)
                    .bind(&member.url)
                    .bind(&member.fingerprint)
                    .bind(position)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        proceed
    });
    Ok(written)
}

async fn with_members(db: &Db, mut server: Server) -> Result<Server, DbError> {
    server.members = with_pool!(db, pool => sqlx::query_as(MEMBERS)
        .bind(&server.id)
        .fetch_all(pool)
        .await?);
    Ok(server)
}

/// Every server, by id.
pub async fn list(db: &Db) -> Result<Vec<Server>, DbError> {
    let servers: Vec<Server> = with_pool!(db, pool => sqlx::query_as(LIST).fetch_all(pool).await?);
    let mut out = Vec::with_capacity(servers.len());
    for server in servers {
        out.push(with_members(db, server).await?);
    }
    Ok(out)
}

/// One server.
pub async fn get(db: &Db, id: &ServerId) -> Result<Option<Server>, DbError> {
    let found: Option<Server> = with_pool!(db, pool => sqlx::query_as(ONE)
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?);
    match found {
        Some(server) => Ok(Some(with_members(db, server).await?)),
        None => Ok(None),
    }
}

/// The server's credentials, opened. `None` when the server is unknown; an error when the
/// sealed values do not open with this data key.
pub async fn auth(db: &Db, keys: &Keys, id: &ServerId) -> Result<Option<pve::Auth>, SealError> {
    const SQL: &str = "SELECT auth_kind, auth_id, secret, totp FROM servers WHERE id = $1";
    let row: Option<(String, String, String, Option<String>)> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(id.as_str()).fetch_optional(pool).await?);
    let Some((kind, auth_id, secret, totp)) = row else {
        return Ok(None);
    };
    let open = |field: &str, sealed: &str| {
        keys.open(&purpose(id, field), sealed)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(SealError::Key)
    };
    let secret = open("secret", &secret)?;
    let auth = if kind == "token" {
        pve::Auth::ApiToken {
            id: auth_id,
            secret,
        }
    } else {
        let totp_secret = totp.map(|t| open("totp", &t)).transpose()?;
        pve::Auth::Password {
            userid: auth_id,
            password: secret,
            totp_secret,
        }
    };
    Ok(Some(auth))
}

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the server's credentials do not open with this portal's data key")]
    Key,
}

impl From<sqlx::Error> for SealError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(DbError::from(e))
    }
}

/// Renames, enables or disables a server. False when it does not exist.
pub async fn update(
    db: &Db,
    id: &ServerId,
    name: Option<&str>,
    enabled: Option<bool>,
) -> Result<bool, DbError> {
    const SQL: &str = "UPDATE servers SET name = COALESCE($2, name), enabled = COALESCE($3, enabled), \
        updated_at_ms = $4 WHERE id = $1";
    let n = with_pool!(db, pool => sqlx::query(SQL)
        .bind(id.as_str())
        .bind(name)
        .bind(enabled)
        .bind(now_ms())
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n > 0)
}

/// Replaces a server's credentials. False when it does not exist.
pub async fn set_auth(
    db: &Db,
    keys: &Keys,
    id: &ServerId,
    auth: &NewAuth,
) -> Result<bool, DbError> {
    const SQL: &str = "UPDATE servers SET auth_kind = $2, auth_id = $3, secret = $4, totp = $5, \
        updated_at_ms = $6 WHERE id = $1";
    let (kind, auth_id, secret, totp) = auth.parts();
    let n = with_pool!(db, pool => sqlx::query(SQL)
        .bind(id.as_str())
        .bind(kind)
        .bind(auth_id)
        .bind(keys.seal(&purpose(id, "secret"), secret.as_bytes()))
        .bind(totp.map(|t| keys.seal(&purpose(id, "totp"), t.as_bytes())))
        .bind(now_ms())
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n > 0)
}

/// Removes a server and its members. False when it did not exist.
pub async fn delete(db: &Db, id: &ServerId) -> Result<bool, DbError> {
    const SQL: &str = "DELETE FROM servers WHERE id = $1";
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(id.as_str()).execute(pool).await?.rows_affected());
    Ok(n > 0)
}
