//! PVE-backed jobs under failure: a cancelled job stops its PVE task, and a worker killed
//! with SIGKILL mid-run loses no job and repeats no PVE task (two `pmp worker` processes on
//! one PostgreSQL, 200 jobs).

use std::io::BufReader;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::pve::{add_server, fast_app, job_end, token, until};
use crate::support::{Engine, call, get_json, queued, scalar, spawn_app_with};

use reaper::SpawnReaped as _;

crate::on_both_engines!(a_cancelled_job_stops_its_pve_task,);

async fn a_cancelled_job_stops_its_pve_task(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    let sim = pve_sim::Simulator::start(pve_sim::SimConfig {
        task_duration: Duration::from_secs(4),
        ..pve_sim::SimConfig::default()
    })
    .await
    .unwrap();
    add_server(&app, &root, &sim, "slow").await;
    let page = until(
        &app,
        "/api/v1/guests?type=qemu&status=stopped",
        &root,
        |p| p["total"].as_u64() > Some(0),
    )
    .await;
    let vmid = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["template"] == false)
        .unwrap()["vmid"]
        .as_u64()
        .unwrap();
    let job = queued(
        &app,
        Method::POST,
        &format!("/api/v1/guests/slow/{vmid}/actions/start"),
        &root,
        None,
    )
    .await;
    until(&app, &format!("/api/v1/jobs/{job}/log"), &root, |l| {
        l.as_array().is_some_and(|lines| {
            lines.iter().any(|x| {
                x["line"]
                    .as_str()
                    .is_some_and(|t| t.contains("PVE task UPID:"))
            })
        })
    })
    .await;
    let cancel = call(
        &app,
        Method::POST,
        &format!("/api/v1/jobs/{job}/cancel"),
        &root,
        None,
    )
    .await;
    assert!(cancel.status().is_success());
    let ended = job_end(&app, &root, &job).await;
    assert_eq!(ended["state"], "cancelled", "{ended}");
    let task = sim
        .tasks()
        .into_iter()
        .find(|t| t.upid.kind == "qmstart" && t.upid.id == vmid.to_string())
        .unwrap();
    assert_eq!(
        task.exit.as_deref(),
        Some("unexpected status"),
        "the PVE task was stopped"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let guest: Value = get_json(&app, &format!("/api/v1/guests/slow/{vmid}"), &root).await;
    assert_eq!(
        guest["status"], "stopped",
        "a stopped task never has its effect"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_worker_killed_mid_run_loses_no_job_and_repeats_no_pve_task() {
    const JOBS: usize = 200;
    let app = spawn_app_with(Engine::Postgres, |c| {
        c.worker_enabled = false;
        c.inventory_idle_secs = 1;
        c.inventory_busy_ms = 200;
    })
    .await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    let sim = pve_sim::Simulator::start(pve_sim::SimConfig {
        seed: pve_sim::Seed {
            name: "crash".to_owned(),
            nodes: 3,
            guests: JOBS + 20,
            seed: 5,
        },
        task_duration: Duration::from_millis(1500),
        ..pve_sim::SimConfig::default()
    })
    .await
    .unwrap();
    add_server(&app, &root, &sim, "crash").await;
    let page = until(&app, "/api/v1/guests?per_page=500", &root, |p| {
        p["total"].as_u64() == Some(JOBS as u64 + 20)
    })
    .await;
    // One job per guest: start the stopped ones, shut the running ones down.
    let mut expected = Vec::new();
    for guest in page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["template"] == false)
        .take(JOBS)
    {
        let vmid = guest["vmid"].as_u64().unwrap();
        let (action, worker) = match (guest["status"].as_str(), guest["kind"].as_str()) {
            (Some("running"), Some("lxc")) => ("shutdown", "vzshutdown"),
            (Some("running"), _) => ("shutdown", "qmshutdown"),
            (_, Some("lxc")) => ("start", "vzstart"),
            _ => ("start", "qmstart"),
        };
        let response = call(
            &app,
            Method::POST,
            &format!("/api/v1/guests/crash/{vmid}/actions/{action}"),
            &root,
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        expected.push((vmid, worker));
    }
    assert_eq!(expected.len(), JOBS);

    let url = app.db.url.to_string();
    let worker = |name: &str| {
        let mut child = crate::cli::pmp(app.data_dir())
            .args(["worker", "--concurrency", "25", "--log-format", "json"])
            .env("PMP_DATABASE_URL", &url)
            .env("PMP_DATA_DIR", app.data_dir())
            .env("PMP_JOB_LEASE_SECS", "3")
            .env("PMP_TASK_POLL_MS", "100")
            .stderr(Stdio::piped())
            .spawn_reaped()
            .unwrap_or_else(|e| panic!("worker {name}: {e}"));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        crate::cli::read_until(&mut stderr, "job worker started");
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        child
    };
    let mut doomed = worker("doomed");
    let mut survivor = worker("survivor");
    let db = app.portal.db();
    // Kill the first worker while it holds jobs whose PVE tasks run.
    let deadline = Instant::now() + Duration::from_secs(60);
    let holding = format!("%:{}:%", doomed.id());
    loop {
        let held: i64 = match db {
            pmp::db::Db::Postgres(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner LIKE $1 AND checkpoint LIKE '%UPID%'")
                .bind(&holding)
                .fetch_one(pool)
                .await
                .unwrap(),
            pmp::db::Db::Sqlite(_) => unreachable!("this test runs on PostgreSQL"),
        };
        if held >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first worker never held running PVE jobs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().unwrap(); // SIGKILL: no drain, no release.
    doomed.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    while scalar(
        db,
        "SELECT COUNT(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'dead', 'cancelled')",
    )
    .await
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "jobs were left unfinished after the crash"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'").await,
        JOBS as i64,
        "every job succeeded"
    );
    let resumed = scalar(db, "SELECT COUNT(*) FROM jobs WHERE attempts >= 2").await;
    assert!(
        resumed >= 5,
        "the survivor took over the dead worker's jobs ({resumed})"
    );
    let resumed_logs = scalar(
        db,
        "SELECT COUNT(*) FROM job_log WHERE line LIKE 'resuming:%'",
    )
    .await;
    assert!(
        resumed_logs >= 1,
        "orphans were resumed by following their PVE task"
    );
    let tasks = sim.tasks();
    for (vmid, worker) in &expected {
        let n = tasks
            .iter()
            .filter(|t| t.upid.kind == *worker && t.upid.id == vmid.to_string())
            .count();
        assert_eq!(n, 1, "guest {vmid}: {n} {worker} tasks for one job");
    }
    println!(
        "crash test: {JOBS} jobs, {resumed} resumed by the survivor, {} PVE tasks",
        tasks.len()
    );
    crate::cli::terminate(&survivor);
    survivor.wait().unwrap();
    sim.stop().await;
}
