//! Schedules on both engines: checks on creation, preview in a time zone, snapshots with
//! retention fired every two seconds, pause and resume, the page; and on PostgreSQL, two
//! `pmp serve` instances on one database firing each tick exactly once (one PVE task per
//! tick).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::pve::{add_server, fast_app, grant, sim, token, until};
use crate::support::{Engine, TestApp, call, get_json, scalar};

crate::on_both_engines!(schedules_fire_snapshots_with_retention_and_can_pause,);

async fn stopped_guest(app: &TestApp, token: &str) -> u64 {
    let page = until(app, "/api/v1/guests?type=qemu&per_page=500", token, |p| {
        p["total"].as_u64() > Some(0)
    })
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["template"] == false)
        .unwrap()["vmid"]
        .as_u64()
        .unwrap()
}

fn schedule(name: &str, cron: &str, vmid: u64, server: &str) -> Value {
    json!({
        "name": name, "cron": cron, "timezone": "Europe/Berlin",
        "action": { "op": "snapshot", "prefix": "tick", "keep_last": 2, "guests": [{ "server": server, "vmid": vmid }] },
    })
}

async fn schedules_fire_snapshots_with_retention_and_can_pause(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let viewer = app.create_user("viewer", false).await;
    let root = token(&app, "root").await;
    let sim = sim("sched", 12).await;
    add_server(&app, &root, &sim, "sched").await;
    grant(&app, &root, &viewer, "/servers/sched", "viewer").await;
    let viewer_t = token(&app, "viewer").await;
    let vmid = stopped_guest(&app, &root).await;

    let preview: Value = get_json(
        &app,
        "/api/v1/schedules/preview?cron=30%202%20*%20*%20*&timezone=Europe/Berlin",
        &root,
    )
    .await;
    let runs = preview["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    assert!(
        runs.iter()
            .all(|r| r["local"].as_str().unwrap().ends_with("T02:30:00")),
        "{preview}"
    );
    for (field, value, status) in [
        ("cron", json!("61 * * * *"), StatusCode::BAD_REQUEST),
        (
            "cron",
            json!("'; DROP TABLE schedules;--"),
            StatusCode::BAD_REQUEST,
        ),
        ("timezone", json!("Mars/Olympus"), StatusCode::BAD_REQUEST),
        ("name", json!("\u{202e}evil"), StatusCode::BAD_REQUEST),
    ] {
        let mut body = schedule("bad", "* * * * *", vmid, "sched");
        body[field] = value.clone();
        assert_eq!(
            call(&app, Method::POST, "/api/v1/schedules", &root, Some(body))
                .await
                .status(),
            status,
            "{field} = {value}"
        );
    }
    let mut prefix = schedule("bad", "* * * * *", vmid, "sched");
    prefix["action"]["prefix"] = json!("../x");
    assert_eq!(
        call(&app, Method::POST, "/api/v1/schedules", &root, Some(prefix))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/schedules",
            &root,
            Some(schedule("x", "* * * * *", 99_999, "sched"))
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/schedules",
            &viewer_t,
            Some(schedule("x", "* * * * *", vmid, "sched"))
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );

    let created = call(
        &app,
        Method::POST,
        "/api/v1/schedules",
        &root,
        Some(schedule("<b>nightly</b>", "*/2 * * * * *", vmid, "sched")),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["upcoming"].as_array().unwrap().len(), 3);
    // Four ticks: four snapshots taken, the two newest kept.
    until(
        &app,
        &format!("/api/v1/guests/sched/{vmid}/snapshots"),
        &root,
        |_| {
            sim.tasks()
                .iter()
                .filter(|t| {
                    t.upid.kind == "qmsnapshot"
                        && t.upid.id == vmid.to_string()
                        && t.exit.as_deref() == Some("OK")
                })
                .count()
                >= 4
        },
    )
    .await;
    let paused = call(
        &app,
        Method::POST,
        &format!("/api/v1/schedules/{id}/pause"),
        &root,
        None,
    )
    .await;
    assert_eq!(paused.json::<Value>().await.unwrap()["enabled"], false);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = |_: &Value| sim.tasks().iter().all(|t| t.exit.is_some());
    until(&app, "/api/v1/schedules", &root, settled).await;
    let taken = sim
        .tasks()
        .iter()
        .filter(|t| t.upid.kind == "qmsnapshot" && t.upid.id == vmid.to_string())
        .count();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_pause = sim
        .tasks()
        .iter()
        .filter(|t| t.upid.kind == "qmsnapshot" && t.upid.id == vmid.to_string())
        .count();
    assert_eq!(taken, after_pause, "a paused schedule does not fire");
    let snapshots: Value = get_json(
        &app,
        &format!("/api/v1/guests/sched/{vmid}/snapshots"),
        &root,
    )
    .await;
    let series: Vec<&str> = snapshots
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .filter(|n| n.starts_with("tick-"))
        .collect();
    assert_eq!(series.len(), 2, "retention keeps the last two: {series:?}");
    assert!(
        sim.tasks().iter().any(|t| t.upid.kind == "qmdelsnapshot"),
        "older ones were deleted"
    );

    // A pool target reaches every member the inventory knows, as it is at the tick.
    let all = get_json(&app, "/api/v1/guests?per_page=500", &root).await;
    let pooled: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["pool"] == "lab")
        .collect();
    assert!(!pooled.is_empty(), "the seeded cluster has a lab pool");
    let pool_schedule = json!({
        "name": "lab pool", "cron": "*/2 * * * * *", "timezone": "UTC",
        "action": { "op": "snapshot", "prefix": "pool", "pools": [{ "server": "sched", "pool": "lab" }] },
    });
    let created = call(
        &app,
        Method::POST,
        "/api/v1/schedules",
        &root,
        Some(pool_schedule),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let pool_id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let members: Vec<String> = pooled.iter().map(|g| g["vmid"].to_string()).collect();
    until(&app, "/api/v1/schedules", &root, |_| {
        members.iter().all(|vmid| {
            sim.tasks().iter().any(|t| {
                t.upid.kind.ends_with("snapshot")
                    && &t.upid.id == vmid
                    && t.exit.as_deref() == Some("OK")
            })
        })
    })
    .await;
    call(
        &app,
        Method::DELETE,
        &format!("/api/v1/schedules/{pool_id}"),
        &root,
        None,
    )
    .await;
    // Others' schedules are invisible; the page shows the name as text.
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/schedules/{id}"),
            &viewer_t,
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/schedules/{id}/resume"),
            &viewer_t,
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let cookie = app.sign_in("root").await;
    let page = app
        .get_with("/schedules", &cookie)
        .await
        .text()
        .await
        .unwrap();
    let escaped = page.contains("&#60;b&#62;nightly") || page.contains("&lt;b&gt;nightly");
    assert!(
        escaped && !page.contains("<b>nightly</b>"),
        "the name is shown as text"
    );
    let resumed = call(
        &app,
        Method::POST,
        &format!("/api/v1/schedules/{id}/resume"),
        &root,
        None,
    )
    .await;
    assert_eq!(resumed.json::<Value>().await.unwrap()["enabled"], true);
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/api/v1/schedules/{id}"),
            &root,
            None
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    sim.stop().await;
}

#[tokio::test]
async fn two_instances_fire_each_tick_exactly_once() {
    let app = fast_app(Engine::Postgres).await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    let sim = sim("twice", 6).await;
    add_server(&app, &root, &sim, "twice").await;
    let vmid = stopped_guest(&app, &root).await;
    // A second `pmp serve` on the same database and keys.
    let config = pmp::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: app.data_dir().to_owned(),
        database_url: Some(app.db.url.clone()),
        inventory_idle_secs: 1,
        inventory_busy_ms: 150,
        task_poll_ms: 50,
        ..pmp::config::Config::default()
    };
    let second = pmp::app::portal::Portal::start(&config).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let body = json!({
        "name": "every second", "cron": "* * * * * *", "timezone": "UTC",
        "action": { "op": "snapshot", "prefix": "sec", "guests": [{ "server": "twice", "vmid": vmid }] },
    });
    let created: Value = call(&app, Method::POST, "/api/v1/schedules", &root, Some(body))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(6)).await;
    call(
        &app,
        Method::POST,
        &format!("/api/v1/schedules/{id}/pause"),
        &root,
        None,
    )
    .await;
    let db = app.portal.db();
    let keys: Vec<String> = match db {
        pmp::db::Db::Postgres(pool) => sqlx::query_scalar(
            "SELECT idempotency_key FROM jobs WHERE kind = 'bulk' ORDER BY idempotency_key",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        pmp::db::Db::Sqlite(_) => unreachable!("this test runs on PostgreSQL"),
    };
    assert!(keys.len() >= 3, "the schedule fired: {keys:?}");
    let mut distinct = keys.clone();
    distinct.dedup();
    assert_eq!(distinct, keys, "one job per tick");
    // Wait for the last tick's job, then count what PVE saw: one snapshot per tick.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while scalar(
        db,
        "SELECT COUNT(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'dead', 'cancelled')",
    )
    .await
        > 0
    {
        assert!(std::time::Instant::now() < deadline, "jobs did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let snapshots = sim
        .tasks()
        .iter()
        .filter(|t| t.upid.kind == "qmsnapshot")
        .count();
    assert_eq!(
        snapshots,
        keys.len(),
        "exactly one PVE snapshot per tick across both instances"
    );
    println!(
        "two instances: {} ticks fired, {snapshots} snapshots",
        keys.len()
    );
    second.shutdown(Duration::from_secs(1));
    second.wait().await.unwrap();
    sim.stop().await;
}
