//! Database plumbing shared by every feature: connecting to SQLite or PostgreSQL, applying the
//! engine's migrations, and answering whether the schema is current. Feature modules own their
//! queries; this module owns only the pools.

mod url;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};

pub use url::{DatabaseUrl, UrlError, redact};

/// Runs `$body` with `$pool` bound to whichever engine's pool `$db` holds. Store functions write
/// their SQL once (both engines accept `$1` placeholders) and let this expand it per engine.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Starts a transaction that will write. SQLite's plain `BEGIN` is deferred: the first read takes
/// a snapshot, and the first write then fails at once with "database is locked" (busy_timeout
/// does not apply) when another connection committed in between. `BEGIN IMMEDIATE` takes the
/// write lock up front and waits for it under busy_timeout, as a single statement does.
pub trait BeginWrite {
    /// The engine the transaction runs on.
    type Engine: sqlx::Database;
    /// Begins a transaction holding the engine's write lock where the engine has one.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Engine>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Engine = Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Sqlite>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Engine = Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Postgres>, sqlx::Error>> + Send {
        self.begin()
    }
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// A connection pool on one of the two supported engines.
#[derive(Debug, Clone)]
pub enum Db {
    /// The embedded default.
    Sqlite(SqlitePool),
    /// For several instances and workers sharing one database.
    Postgres(PgPool),
}

/// Pool sizing and patience, taken from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
}

/// What went wrong opening or migrating the database, in one sentence for the operator.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database {path}: {reason}")]
    OpenSqlite { path: String, reason: String },
    #[error("cannot connect to PostgreSQL at {url}: {reason}")]
    ConnectPostgres { url: String, reason: String },
    #[error(
        "the database holds migration {0}, which this version of pmp does not know; run a newer pmp"
    )]
    UnknownMigration(i64),
    #[error("cannot apply database migrations: {0}")]
    Migrate(String),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// Whether the database answers and its schema matches this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Migrations this build has that the database has not applied.
    pub pending: Vec<i64>,
    /// Migrations the database has applied that this build does not know.
    pub unknown: Vec<i64>,
}

impl Readiness {
    /// True when the schema is exactly this build's.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty()
    }
}

impl Db {
    /// Opens the database, creating an SQLite file (and its directory) on first run.
    pub async fn connect(url: &DatabaseUrl, settings: PoolSettings) -> Result<Self, DbError> {
        match url {
            DatabaseUrl::Sqlite(path) => connect_sqlite(path, settings).await.map(Db::Sqlite),
            DatabaseUrl::Postgres(raw) => {
                let options: PgConnectOptions =
                    raw.parse()
                        .map_err(|e: sqlx::Error| DbError::ConnectPostgres {
                            url: redact(raw),
                            reason: e.to_string(),
                        })?;
                let options = options.application_name("pmp");
                // One direct attempt first: the pool retries until its timeout and would report
                // only "timed out", hiding "connection refused" or "password authentication failed".
                let fail = |reason: String| DbError::ConnectPostgres {
                    url: redact(raw),
                    reason,
                };
                match tokio::time::timeout(
                    settings.connect_timeout,
                    PgConnection::connect_with(&options),
                )
                .await
                {
                    Ok(Ok(conn)) => drop(conn),
                    Ok(Err(e)) => return Err(fail(connect_reason(&e))),
                    Err(_) => return Err(fail("timed out".to_owned())),
                }
                PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.connect_timeout)
                    .connect_with(options)
                    .await
                    .map(Db::Postgres)
                    .map_err(|e| DbError::ConnectPostgres {
                        url: redact(raw),
                        reason: connect_reason(&e),
                    })
            }
        }
    }

    /// The engine's name, for logs and test output.
    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self {
            Db::Sqlite(_) => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies this build's migrations; on PostgreSQL, concurrent instances serialise on a lock.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = self.migrator();
        with_pool!(self, pool => migrator.run(pool).await).map_err(|e| match e {
            MigrateError::VersionMissing(v) => DbError::UnknownMigration(v),
            other => DbError::Migrate(connect_reason_migrate(&other)),
        })
    }

    /// Pings the database and compares its applied migrations with this build's.
    pub async fn readiness(&self) -> Result<Readiness, DbError> {
        const APPLIED: &str = "SELECT version FROM _sqlx_migrations WHERE success = TRUE";
        let applied: Vec<i64> =
            with_pool!(self, pool => sqlx::query_scalar(APPLIED).fetch_all(pool).await?);
        let applied: BTreeSet<i64> = applied.into_iter().collect();
        let known: BTreeSet<i64> = self.migrator().iter().map(|m| m.version).collect();
        Ok(Readiness {
            pending: known.difference(&applied).copied().collect(),
            unknown: applied.difference(&known).copied().collect(),
        })
    }

    /// Closes every connection; used on shutdown so SQLite checkpoints its WAL.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

async fn connect_sqlite(path: &Path, settings: PoolSettings) -> Result<SqlitePool, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let open_error = |reason: String| DbError::OpenSqlite {
        path: path.display().to_string(),
        reason,
    };
    // Opening the file ourselves first turns "unable to open database file" into the OS's reason.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| open_error(e.to_string()))?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await
        .map_err(|e| open_error(connect_reason(&e)))
}

/// The part of a driver error an operator can act on, without SQL or internal paths.
fn connect_reason(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_owned(),
        sqlx::Error::Tls(e) => format!("TLS failed: {e}"),
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

fn connect_reason_migrate(error: &MigrateError) -> String {
    match error {
        MigrateError::Execute(e) => connect_reason(e),
        other => other.to_string(),
    }
}

/// Seconds since the Unix epoch, as stored in `*_at` columns.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A configured number of seconds as stored (saturating: a huge setting means "forever").
pub fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
