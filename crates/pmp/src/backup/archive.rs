//! `pmp backup` and `pmp restore`: a consistent snapshot of every table, sealed with the data
//! key, and its return onto a fresh install. The snapshot is read in one read-only transaction
//! (SQLite's WAL snapshot; PostgreSQL at REPEATABLE READ), so it is consistent while the
//! portal keeps running. Its rows are engine-neutral JSON, typed from the catalog, so a
//! SQLite backup restores onto PostgreSQL and back. Sealing means the file alone reveals
//! nothing; the stored secrets inside it need that same key anyway.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::{BeginWrite as _, Db};
use crate::secrets::Keys;
use crate::with_pool;

/// Every table, in the order foreign keys allow them to be filled. A table missing here stops
/// a backup (see `check_tables`), so a new feature cannot be silently left out.
pub const TABLES: &[&str] = &[
    "settings",
    "users",
    "sessions",
    "throttle",
    "refresh_tokens",
    "api_tokens",
    "totp",
    "recovery_codes",
    "pending_logins",
    "security_events",
    "roles",
    "user_groups",
    "group_members",
    "acl",
    "jobs",
    "job_log",
    "servers",
    "server_members",
    "schedules",
    "alerts",
    "alert_rules",
    "notification_channels",
];

/// The first line of a backup file.
const MAGIC: &str = "PMP-BACKUP 1";
/// What the seal is bound to: a sealed secret of another kind does not open as a backup.
const PURPOSE: &str = "backup";

/// Why a backup or restore did not happen, in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the table {0} is not known to pmp backup; this build cannot back it up safely")]
    UnknownTable(String),
    #[error("this is not a pmp backup file")]
    NotABackup,
    #[error(
        "the backup was sealed with another data key; restore with the key of the portal that made it (PMP_SECRET_KEY, secret_key_file or DATA_DIR/secret.key)"
    )]
    WrongKey,
    #[error(
        "the backup is from schema version {backup}, this portal is at {here}; restore it with the release that made it"
    )]
    Version { backup: i64, here: i64 },
    #[error("the database already has users; restore only onto a fresh install")]
    NotFresh,
}

/// How a column's values are carried.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Int,
    Bool,
    Text,
}

impl Kind {
    fn of(declared: &str) -> Self {
        let declared = declared.to_ascii_lowercase();
        if declared.contains("int") || declared.contains("serial") {
            Self::Int
        } else if declared.contains("bool") {
            Self::Bool
        } else {
            Self::Text
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Table {
    name: String,
    columns: Vec<(String, Kind)>,
    rows: Vec<Vec<Value>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    schema: i64,
    engine: String,
    taken_at: i64,
    tables: Vec<Table>,
}

/// What a backup or restore covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Tables.
    pub tables: usize,
    /// Rows in them.
    pub rows: usize,
}

const SCHEMA: &str = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE";

fn columns_sql(db: &Db, table: &str) -> String {
    match db {
        Db::Sqlite(_) => {
            format!("SELECT name, type FROM pragma_table_info('{table}') ORDER BY cid")
        }
        Db::Postgres(_) => format!(
            "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    }
}

/// Refuses a database holding a table this build does not know.
async fn check_tables(db: &Db) -> Result<(), BackupError> {
    let sql = match db {
        Db::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Db::Postgres(_) => {
            "SELECT table_name::TEXT FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let names: Vec<String> = with_pool!(db, pool => sqlx::query_scalar(sql).fetch_all(pool).await?);
    match names
        .into_iter()
        .find(|n| !n.starts_with("_sqlx") && !TABLES.contains(&n.as_str()))
    {
        Some(unknown) => Err(BackupError::UnknownTable(unknown)),
        None => Ok(()),
    }
}

fn cell<R: sqlx::Row>(row: &R, i: usize, kind: Kind) -> Result<Value, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(match kind {
        Kind::Int => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, Value::from),
        Kind::Bool => row
            .try_get::<Option<bool>, _>(i)?
            .map_or(Value::Null, Value::from),
        Kind::Text => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Value::Null, Value::from),
    })
}

/// Reads every table in one consistent, read-only transaction.
async fn snapshot(db: &Db) -> Result<Snapshot, BackupError> {
    check_tables(db).await?;
    let mut tables = Vec::with_capacity(TABLES.len());
    let schema = with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        if matches!(db, Db::Postgres(_)) {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let schema: i64 = sqlx::query_scalar(SCHEMA).fetch_one(&mut *tx).await?;
        for name in TABLES {
            let sql = columns_sql(db, name);
            let declared: Vec<(String, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *tx).await?;
            let columns: Vec<(String, Kind)> =
                declared.into_iter().map(|(c, t)| (c, Kind::of(&t))).collect();
            let list = columns.iter().map(|(c, _)| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
            let select = format!("SELECT {list} FROM {name}");
            let found = sqlx::query(sqlx::AssertSqlSafe(select)).fetch_all(&mut *tx).await?;
            let mut rows = Vec::with_capacity(found.len());
            for row in &found {
                let values = columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| cell(row, i, *kind))
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push(values);
            }
            tables.push(Table { name: (*name).to_owned(), columns, rows });
        }
        tx.commit().await?;
        schema
    });
    Ok(Snapshot {
        schema,
        engine: db.engine().to_owned(),
        taken_at: crate::db::now(),
        tables,
    })
}

/// A sealed snapshot of the whole database, as the text of a backup file.
pub async fn backup(db: &Db, keys: &Keys) -> Result<(String, Summary), BackupError> {
    let snapshot = snapshot(db).await?;
    let summary = Summary {
        tables: snapshot.tables.len(),
        rows: snapshot.tables.iter().map(|t| t.rows.len()).sum(),
    };
    let plain = serde_json::to_vec(&snapshot).map_err(|_| BackupError::NotABackup)?;
    Ok((
        format!("{MAGIC}\n{}\n", keys.seal(PURPOSE, &plain)),
        summary,
    ))
}

fn open(text: &str, keys: &Keys) -> Result<Snapshot, BackupError> {
    let sealed = text
        .strip_prefix(MAGIC)
        .and_then(|rest| rest.strip_prefix('\n'))
        .ok_or(BackupError::NotABackup)?
        .trim_end();
    let plain = keys
        .open(PURPOSE, sealed)
        .map_err(|_| BackupError::WrongKey)?;
    serde_json::from_slice(&plain).map_err(|_| BackupError::NotABackup)
}

/// Restores a backup onto a fresh, migrated database, in one transaction.
pub async fn restore(db: &Db, keys: &Keys, text: &str) -> Result<Summary, BackupError> {
    let snapshot = open(text, keys)?;
    check_tables(db).await?;
    let here: i64 = with_pool!(db, pool => sqlx::query_scalar(SCHEMA).fetch_one(pool).await?);
    if here != snapshot.schema {
        return Err(BackupError::Version {
            backup: snapshot.schema,
            here,
        });
    }
    if snapshot
        .tables
        .iter()
        .any(|t| !TABLES.contains(&t.name.as_str()))
    {
        return Err(BackupError::NotABackup);
    }
    let mut rows = 0;
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
        if users > 0 {
            return Err(BackupError::NotFresh);
        }
        // What a fresh start seeded (built-in roles, settings) gives way to the backup's own.
        for name in TABLES.iter().rev() {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {name}"))).execute(&mut *tx).await?;
        }
        for table in &snapshot.tables {
            let list = table.columns.iter().map(|(c, _)| format!("\"{c}\"")).collect::<Vec<_>>();
            let marks = (1..=list.len()).map(|i| format!("${i}")).collect::<Vec<_>>();
            let insert = format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.name,
                list.join(", "),
                marks.join(", ")
            );
            for row in &table.rows {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.as_str()));
                for ((_, kind), value) in table.columns.iter().zip(row) {
                    query = match kind {
                        Kind::Int => query.bind(value.as_i64()),
                        Kind::Bool => query.bind(value.as_bool()),
                        Kind::Text => query.bind(value.as_str().map(str::to_owned)),
                    };
                }
                query.execute(&mut *tx).await?;
                rows += 1;
            }
        }
        if matches!(db, Db::Postgres(_)) {
            // Serial ids continue after the restored ones.
            const SERIALS: &str = "SELECT table_name::TEXT, column_name::TEXT \
                FROM information_schema.columns WHERE table_schema = current_schema() \
                AND column_default LIKE 'nextval(%'";
            let serials: Vec<(String, String)> = sqlx::query_as(SERIALS).fetch_all(&mut *tx).await?;
            for (name, column) in serials.iter().filter(|(n, _)| TABLES.contains(&n.as_str())) {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{name}', '{column}'), \
                     COALESCE((SELECT MAX(\"{column}\") FROM {name}), 0) + 1, false)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
    });
    Ok(Summary {
        tables: snapshot.tables.len(),
        rows,
    })
}
