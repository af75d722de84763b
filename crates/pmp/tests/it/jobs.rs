//! The job queue on both engines: idempotent enqueue, exclusive claims under concurrency,
//! leases that lapse and are taken over, retries with backoff, dead and failed jobs,
//! cancellation of queued and running jobs, and job logs.

use std::collections::HashMap;

use pmp::jobs::queue::{self, NewJob, Outcome, State};
use serde_json::json;

use crate::support::{Engine, TestDb};

crate::on_both_engines!(
    enqueue_is_idempotent_by_key,
    concurrent_workers_claim_each_job_exactly_once,
    a_lapsed_lease_is_taken_over_and_the_stale_worker_changes_nothing,
    retries_back_off_then_die_and_permanent_errors_fail,
    cancelled_jobs_never_run_or_stop_when_told,
);

async fn db(engine: Engine) -> (TestDb, pmp::db::Db) {
    let test = TestDb::new(engine).await;
    let db = test.connect().await;
    db.migrate().await.unwrap();
    (test, db)
}

fn state(job: &queue::Job) -> State {
    job.state().unwrap()
}

async fn enqueue_is_idempotent_by_key(engine: Engine) {
    let (_t, db) = db(engine).await;
    let mut job = NewJob::new("noop", json!({"n": 1}));
    job.idempotency_key = Some("nightly-2026-11-23".to_owned());
    let first = queue::enqueue(&db, &job).await.unwrap();
    let again = queue::enqueue(&db, &job).await.unwrap();
    assert_eq!(first, again);
    let other = queue::enqueue(&db, &NewJob::new("noop", json!({})))
        .await
        .unwrap();
    assert_ne!(first, other);
    let stored = queue::get(&db, &first).await.unwrap().unwrap();
    assert_eq!(state(&stored), State::Queued);
    assert_eq!(stored.payload, r#"{"n":1}"#);
}

async fn concurrent_workers_claim_each_job_exactly_once(engine: Engine) {
    let (_t, db) = db(engine).await;
    for i in 0..200 {
        let mut job = NewJob::new("noop", json!({ "i": i }));
        job.priority = i % 3;
        queue::enqueue(&db, &job).await.unwrap();
    }
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let db = db.clone();
        workers.spawn(async move {
            let owner = format!("worker-{w}");
            let mut mine = Vec::new();
            loop {
                let claimed = queue::claim(&db, &owner, 7, 60_000).await.unwrap();
                if claimed.is_empty() {
                    break;
                }
                for job in claimed {
                    assert!(
                        queue::finish(&db, &job.id, &owner, &Outcome::Succeeded(json!("ok")))
                            .await
                            .unwrap()
                    );
                    mine.push(job.id);
                }
            }
            mine
        });
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for ids in workers.join_all().await {
        for id in ids {
            *seen.entry(id).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 200);
    assert!(seen.values().all(|n| *n == 1), "a job was claimed twice");
}

async fn a_lapsed_lease_is_taken_over_and_the_stale_worker_changes_nothing(engine: Engine) {
    let (_t, db) = db(engine).await;
    let id = queue::enqueue(&db, &NewJob::new("noop", json!({})))
        .await
        .unwrap();
    let first = queue::claim(&db, "w1", 10, 1500).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        queue::claim(&db, "w2", 10, 50).await.unwrap().is_empty(),
        "leased jobs are not claimable"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let taken = queue::claim(&db, "w2", 10, 60_000).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].attempts, 2);
    assert_eq!(
        queue::heartbeat(&db, &id, "w1", 1000).await.unwrap(),
        None,
        "w1 lost its lease"
    );
    assert!(
        !queue::finish(&db, &id, "w1", &Outcome::Succeeded(json!("stale")))
            .await
            .unwrap()
    );
    assert_eq!(
        queue::heartbeat(&db, &id, "w2", 60_000).await.unwrap(),
        Some(false)
    );
    assert!(
        queue::finish(&db, &id, "w2", &Outcome::Succeeded(json!("fresh")))
            .await
            .unwrap()
    );
    let done = queue::get(&db, &id).await.unwrap().unwrap();
    assert_eq!(state(&done), State::Succeeded);
    assert_eq!(done.result.as_deref(), Some(r#""fresh""#));
}

async fn retries_back_off_then_die_and_permanent_errors_fail(engine: Engine) {
    let (_t, db) = db(engine).await;
    let mut job = NewJob::new("flaky", json!({}));
    job.max_attempts = 2;
    let id = queue::enqueue(&db, &job).await.unwrap();
    let retryable = Outcome::Error {
        message: "PVE answered 503".into(),
        retryable: true,
    };
    queue::claim(&db, "w", 1, 60_000).await.unwrap();
    assert!(queue::finish(&db, &id, "w", &retryable).await.unwrap());
    let waiting = queue::get(&db, &id).await.unwrap().unwrap();
    assert_eq!(state(&waiting), State::Queued);
    let delay = waiting.run_at_ms - queue::now_ms();
    assert!(
        (500..=1300).contains(&delay),
        "first retry after about a second, not {delay} ms"
    );
    assert!(
        queue::claim(&db, "w", 1, 60_000).await.unwrap().is_empty(),
        "not before its time"
    );
    pmp::with_pool!(&db, pool => sqlx::query("UPDATE jobs SET run_at_ms = 0").execute(pool).await.unwrap().rows_affected());
    queue::claim(&db, "w", 1, 60_000).await.unwrap();
    assert!(queue::finish(&db, &id, "w", &retryable).await.unwrap());
    let dead = queue::get(&db, &id).await.unwrap().unwrap();
    assert_eq!(state(&dead), State::Dead);
    assert_eq!(dead.error.as_deref(), Some("PVE answered 503"));
    assert!(queue::backoff_ms(20) <= 750_000);

    let permanent = queue::enqueue(&db, &NewJob::new("bad", json!({})))
        .await
        .unwrap();
    queue::claim(&db, "w", 1, 60_000).await.unwrap();
    let outcome = Outcome::Error {
        message: "no such guest".into(),
        retryable: false,
    };
    assert!(queue::finish(&db, &permanent, "w", &outcome).await.unwrap());
    assert_eq!(
        state(&queue::get(&db, &permanent).await.unwrap().unwrap()),
        State::Failed
    );

    // A worker that dies on the last attempt leaves a job the reaper ends as dead.
    let mut last = NewJob::new("noop", json!({}));
    last.max_attempts = 1;
    let orphan = queue::enqueue(&db, &last).await.unwrap();
    queue::claim(&db, "gone", 1, 10).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(queue::claim(&db, "w", 1, 60_000).await.unwrap().is_empty());
    assert_eq!(queue::reap(&db).await.unwrap(), 1);
    assert_eq!(
        state(&queue::get(&db, &orphan).await.unwrap().unwrap()),
        State::Dead
    );
}

async fn cancelled_jobs_never_run_or_stop_when_told(engine: Engine) {
    let (_t, db) = db(engine).await;
    let queued = queue::enqueue(&db, &NewJob::new("noop", json!({})))
        .await
        .unwrap();
    assert!(queue::cancel(&db, &queued).await.unwrap());
    assert!(
        queue::claim(&db, "w", 10, 60_000).await.unwrap().is_empty(),
        "a cancelled job never starts"
    );
    assert_eq!(
        state(&queue::get(&db, &queued).await.unwrap().unwrap()),
        State::Cancelled
    );
    assert!(!queue::cancel(&db, &queued).await.unwrap(), "already final");
    assert!(!queue::cancel(&db, "no-such-job").await.unwrap());

    let running = queue::enqueue(&db, &NewJob::new("noop", json!({})))
        .await
        .unwrap();
    queue::claim(&db, "w", 10, 60_000).await.unwrap();
    queue::log(&db, &running, "UPID:pve1:...: starting")
        .await
        .unwrap();
    assert_eq!(
        queue::heartbeat(&db, &running, "w", 60_000).await.unwrap(),
        Some(false)
    );
    assert!(queue::cancel(&db, &running).await.unwrap());
    assert_eq!(
        queue::heartbeat(&db, &running, "w", 60_000).await.unwrap(),
        Some(true),
        "the handler is told"
    );
    queue::log(&db, &running, "stopping the PVE task")
        .await
        .unwrap();
    assert!(
        queue::finish(&db, &running, "w", &Outcome::Cancelled)
            .await
            .unwrap()
    );
    assert_eq!(
        state(&queue::get(&db, &running).await.unwrap().unwrap()),
        State::Cancelled
    );
    let lines = queue::log_lines(&db, &running, 0).await.unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        queue::log_lines(&db, &running, lines[0].0)
            .await
            .unwrap()
            .len(),
        1
    );

    // Retention: ended jobs past the cutoff go with their logs; waiting ones stay.
    let waiting = queue::enqueue(&db, &NewJob::new("noop", json!({})))
        .await
        .unwrap();
    assert_eq!(
        queue::prune(&db, queue::now_ms() - 60_000).await.unwrap(),
        0,
        "recent jobs stay"
    );
    assert_eq!(queue::prune(&db, queue::now_ms() + 1).await.unwrap(), 2);
    assert!(queue::get(&db, &running).await.unwrap().is_none());
    assert!(queue::log_lines(&db, &running, 0).await.unwrap().is_empty());
    assert!(queue::get(&db, &waiting).await.unwrap().is_some());
}
