//! Job engine throughput: no-op jobs enqueued per second, then completed per second by 1, 2
//! and 4 workers (each running 4 jobs at once), on SQLite and on PostgreSQL, with the ratio
//! between the engines measured in the same run. PostgreSQL comes from `TEST_POSTGRES_URL`
//! (as `scripts/test` exports it) or 127.0.0.1:5432.
//!
//! `cargo bench -p pmp --bench jobs`

// A benchmark fails loudly on purpose; a panic is the run failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pmp::db::{DatabaseUrl, Db, PoolSettings};
use pmp::jobs::queue::{self, NewJob};
use pmp::jobs::worker::{self, Registry, WorkerConfig};
use sqlx::Connection as _;

const JOBS: usize = 2000;

async fn fresh(engine: &str, dir: &std::path::Path) -> (Db, Option<String>) {
    let settings = PoolSettings {
        max_connections: 16,
        connect_timeout: Duration::from_secs(10),
    };
    let (url, pg_name) = if engine == "sqlite" {
        let url: DatabaseUrl = format!(
            "sqlite://{}",
            dir.join(format!("{}.db", uuid::Uuid::new_v4())).display()
        )
        .parse()
        .unwrap();
        (url, None)
    } else {
        let admin = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("pmp_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_owned();
        (format!("{base}/{name}").parse().unwrap(), Some(name))
    };
    let db = Db::connect(&url, settings).await.unwrap();
    db.migrate().await.unwrap();
    (db, pg_name)
}

async fn drop_pg(name: Option<String>) {
    if let Some(name) = name {
        let admin = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

async fn succeeded(db: &Db) -> i64 {
    pmp::with_pool!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'").fetch_one(pool).await.unwrap())
}

/// (enqueued per second, completed per second) for `workers` workers on `engine`.
async fn run(engine: &str, workers: usize, dir: &std::path::Path) -> (f64, f64) {
    let (db, pg_name) = fresh(engine, dir).await;
    let started = Instant::now();
    for i in 0..JOBS {
        queue::enqueue(&db, &NewJob::new("noop", serde_json::json!({ "i": i })))
            .await
            .unwrap();
    }
    let enqueue_rate = JOBS as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let mut config = WorkerConfig::new(4, Duration::from_secs(30));
        config.poll = Duration::from_millis(20);
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(worker::run(
            db.clone(),
            Registry::builtin(),
            config,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        )));
    }
    while succeeded(&db).await < JOBS as i64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let complete_rate = JOBS as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    for task in tasks {
        task.await.unwrap();
    }
    db.close().await;
    drop_pg(pg_name).await;
    (enqueue_rate, complete_rate)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("job engine benchmark ({JOBS} no-op jobs per run; each worker runs 4 at once)");
    let mut rates = Vec::new();
    for engine in ["sqlite", "postgres"] {
        for workers in [1, 2, 4] {
            let (enqueued, completed) = run(engine, workers, dir.path()).await;
            println!(
                "  {engine:<8} {workers} worker(s): enqueue {enqueued:>7.0} jobs/s, complete {completed:>7.0} jobs/s"
            );
            rates.push((engine, workers, completed));
        }
    }
    for workers in [1, 2, 4] {
        let rate = |e| {
            rates
                .iter()
                .find(|(engine, w, _)| *engine == e && *w == workers)
                .map(|r| r.2)
                .unwrap()
        };
        println!(
            "  PostgreSQL / SQLite completion ratio with {workers} worker(s): {:.2}",
            rate("postgres") / rate("sqlite")
        );
    }
}
