//! Schema parity: the SQLite and PostgreSQL migration folders must produce the same tables
//! with the same columns, types (normalised across engines) and nullability.

use std::collections::BTreeMap;

use pmp::db::Db;

use crate::support::{Engine, TestDb};

/// table -> column -> (normalised type, nullable)
type Schema = BTreeMap<String, BTreeMap<String, (String, bool)>>;

fn normalise(engine_type: &str) -> String {
    let t = engine_type.to_ascii_lowercase();
    let t = t.split('(').next().unwrap_or_default().trim();
    match t {
        "integer" | "int" | "int4" | "int8" | "bigint" | "smallint" => "integer",
        "text" | "varchar" | "character varying" | "char" | "character" => "text",
        "blob" | "bytea" => "bytes",
        "boolean" | "bool" => "boolean",
        "real" | "double precision" | "float" | "double" => "real",
        other => other,
    }
    .to_owned()
}

async fn schema(db: &Db) -> Schema {
    let mut out = Schema::new();
    match db {
        Db::Sqlite(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for table in tables {
                let cols: Vec<(String, String, bool, bool)> = sqlx::query_as(
                    "SELECT name, type, \"notnull\", pk > 0 FROM pragma_table_info($1)",
                )
                .bind(&table)
                .fetch_all(pool)
                .await
                .unwrap();
                let columns = cols
                    .into_iter()
                    .map(|(name, ty, not_null, pk)| (name, (normalise(&ty), !(not_null || pk))))
                    .collect();
                out.insert(table, columns);
            }
        }
        Db::Postgres(pool) => {
            let cols: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
                 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for (table, column, ty, nullable) in cols {
                out.entry(table)
                    .or_default()
                    .insert(column, (normalise(&ty), nullable == "YES"));
            }
        }
    }
    out
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_produce_the_same_schema() {
    let sqlite_db = TestDb::new(Engine::Sqlite).await;
    let postgres_db = TestDb::new(Engine::Postgres).await;
    let sqlite = sqlite_db.connect().await;
    let postgres = postgres_db.connect().await;
    sqlite.migrate().await.unwrap();
    postgres.migrate().await.unwrap();
    let (left, right) = (schema(&sqlite).await, schema(&postgres).await);
    assert!(!left.is_empty(), "no tables found");
    let tables: std::collections::BTreeSet<_> = left.keys().chain(right.keys()).collect();
    let mut differences = Vec::new();
    for table in tables {
        let (l, r) = (left.get(table), right.get(table));
        match (l, r) {
            (Some(_), None) => differences.push(format!("table {table}: only in SQLite")),
            (None, Some(_)) => differences.push(format!("table {table}: only in PostgreSQL")),
            (Some(l), Some(r)) => {
                let columns: std::collections::BTreeSet<_> = l.keys().chain(r.keys()).collect();
                for column in columns {
                    if l.get(column) != r.get(column) {
                        differences.push(format!(
                            "{table}.{column}: SQLite {:?} vs PostgreSQL {:?}",
                            l.get(column),
                            r.get(column)
                        ));
                    }
                }
            }
            (None, None) => {}
        }
    }
    assert!(
        differences.is_empty(),
        "the two engines' migrations disagree:\n{}",
        differences.join("\n")
    );
}

#[test]
fn types_normalise_across_engines() {
    assert_eq!(normalise("BIGINT"), normalise("bigint"));
    assert_eq!(normalise("INTEGER"), normalise("integer"));
    assert_eq!(normalise("TEXT"), normalise("character varying"));
    assert_eq!(normalise("BLOB"), normalise("bytea"));
    assert_ne!(normalise("TEXT"), normalise("bigint"));
}
