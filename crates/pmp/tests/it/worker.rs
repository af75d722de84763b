//! Workers on both engines: jobs run to completion with their kind's handler, a running job
//! stops when cancelled, shutdown finishes or releases running jobs, and a job whose worker
//! died is taken over after its lease lapses and run to the end once.

use std::time::Duration;

use pmp::jobs::queue::{self, NewJob, Outcome, State};
use pmp::jobs::worker::{self, Registry, WorkerConfig};
use serde_json::json;

use crate::support::{Engine, TestDb};

crate::on_both_engines!(
    a_worker_runs_jobs_and_refuses_unknown_kinds,
    a_running_job_stops_when_cancelled,
    shutdown_finishes_quick_jobs_and_releases_slow_ones,
    a_dead_workers_job_is_taken_over_once,
);

fn config(lease_ms: u64) -> WorkerConfig {
    let mut config = WorkerConfig::new(4, Duration::from_millis(lease_ms));
    config.poll = Duration::from_millis(20);
    config.grace = Duration::from_millis(300);
    config
}

fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register("wait", |mut ctx| async move {
        let _ = ctx.log("waiting for cancellation").await;
        ctx.until_cancelled().await;
        let _ = ctx.log("stopping").await;
        Outcome::Cancelled
    });
    registry.register("slow", |_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Outcome::Succeeded(json!("late"))
    });
    registry.register("quick", |_| async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Outcome::Succeeded(json!("on time"))
    });
    registry
}

async fn state_of(db: &pmp::db::Db, id: &str) -> State {
    queue::get(db, id).await.unwrap().unwrap().state().unwrap()
}

async fn until_state(db: &pmp::db::Db, id: &str, wanted: State) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state_of(db, id).await != wanted {
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never reached {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn spawn_worker(db: &pmp::db::Db, registry: Registry, config: WorkerConfig) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(worker::run(db.clone(), registry, config, async move {
        let _ = stopped.await;
    }));
    Running { stop, task }
}

async fn db(engine: Engine) -> (TestDb, pmp::db::Db) {
    let test = TestDb::new(engine).await;
    let db = test.connect().await;
    db.migrate().await.unwrap();
    (test, db)
}

async fn a_worker_runs_jobs_and_refuses_unknown_kinds(engine: Engine) {
    let (_t, db) = db(engine).await;
    let running = spawn_worker(&db, registry(), config(30_000));
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            queue::enqueue(&db, &NewJob::new("noop", json!({ "i": i })))
                .await
                .unwrap(),
        );
    }
    let unknown = queue::enqueue(&db, &NewJob::new("format-disk", json!({})))
        .await
        .unwrap();
    for id in &ids {
        until_state(&db, id, State::Succeeded).await;
    }
    until_state(&db, &unknown, State::Failed).await;
    let failed = queue::get(&db, &unknown).await.unwrap().unwrap();
    assert!(failed.error.unwrap().contains("no handler"));
    let _ = running.stop.send(());
    running.task.await.unwrap();
}

async fn a_running_job_stops_when_cancelled(engine: Engine) {
    let (_t, db) = db(engine).await;
    let running = spawn_worker(&db, registry(), config(300));
    let id = queue::enqueue(&db, &NewJob::new("wait", json!({})))
        .await
        .unwrap();
    until_state(&db, &id, State::Running).await;
    assert!(queue::cancel(&db, &id).await.unwrap());
    until_state(&db, &id, State::Cancelled).await;
    let lines: Vec<String> = queue::log_lines(&db, &id, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(lines, ["waiting for cancellation", "stopping"]);
    let _ = running.stop.send(());
    running.task.await.unwrap();
}

async fn shutdown_finishes_quick_jobs_and_releases_slow_ones(engine: Engine) {
    let (_t, db) = db(engine).await;
    let running = spawn_worker(&db, registry(), config(30_000));
    let slow = queue::enqueue(&db, &NewJob::new("slow", json!({})))
        .await
        .unwrap();
    until_state(&db, &slow, State::Running).await;
    let quick = queue::enqueue(&db, &NewJob::new("quick", json!({})))
        .await
        .unwrap();
    until_state(&db, &quick, State::Running).await;
    let _ = running.stop.send(());
    tokio::time::timeout(Duration::from_secs(5), running.task)
        .await
        .expect("drains within grace")
        .unwrap();
    assert_eq!(state_of(&db, &quick).await, State::Succeeded);
    let released = queue::get(&db, &slow).await.unwrap().unwrap();
    assert_eq!(
        released.state().unwrap(),
        State::Queued,
        "released for another worker"
    );
    assert_eq!(released.attempts, 0, "a released claim is not an attempt");
}

async fn a_dead_workers_job_is_taken_over_once(engine: Engine) {
    let (_t, db) = db(engine).await;
    let doomed = spawn_worker(&db, registry(), config(300));
    let id = queue::enqueue(&db, &NewJob::new("slow", json!({})))
        .await
        .unwrap();
    until_state(&db, &id, State::Running).await;
    // The process dies: no drain, no release, the lease just stops being renewed.
    doomed.task.abort();
    let _ = doomed.task.await;
    let mut survivor_jobs = Registry::builtin();
    survivor_jobs.register("slow", |_| async { Outcome::Succeeded(json!("resumed")) });
    let survivor = spawn_worker(&db, survivor_jobs, config(300));
    until_state(&db, &id, State::Succeeded).await;
    let job = queue::get(&db, &id).await.unwrap().unwrap();
    assert_eq!(job.attempts, 2);
    assert_eq!(job.result.as_deref(), Some(r#""resumed""#));
    let _ = survivor.stop.send(());
    survivor.task.await.unwrap();
}
