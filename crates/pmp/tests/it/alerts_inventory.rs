//! The alert rules that read PVE, against the simulator over HTTPS: a guest set to start at
//! boot that stays stopped fires `guest_down` (one that need not run does not) and resolves
//! once it runs; a storage over the threshold fires `storage_full` (quiet above the fullest
//! storage's use) and resolves when the threshold rises; a backup older than the allowed days
//! fires `backup_stale` (a fresh one does not) and resolves with a new backup.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::pve::{add_server, job_end, sim, token, until};
use crate::support::{Engine, TestApp, call, get_json, queued, spawn_app_with};

crate::on_both_engines!(
    rules_on_guests_storage_and_backups_fire_and_resolve,
    an_offline_backup_storage_costs_a_warning_not_the_list_or_the_scan,
);

async fn set_rule(app: &TestApp, root: &str, rule: &str, threshold: i64, window_secs: i64) {
    let body = json!({"enabled": true, "threshold": threshold, "window_secs": window_secs});
    let path = format!("/api/v1/alert-rules/{rule}");
    let answer = call(app, Method::PUT, &path, root, Some(body)).await;
    assert_eq!(answer.status(), 200, "{path}");
}

/// The alerts of `rule` in `state` (`firing` or `resolved`), as `(subject, title)`.
async fn alerts(app: &TestApp, root: &str, rule: &str, state: &str) -> Vec<(String, String)> {
    let all = get_json(app, &format!("/api/v1/alerts?state={state}"), root).await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == rule)
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap().to_owned();
            (text("subject"), text("title"))
        })
        .collect()
}

/// Waits up to 20 s for an alert of `rule` about `subject` in `state`; returns its title.
async fn wait_for(app: &TestApp, root: &str, rule: &str, subject: &str, state: &str) -> String {
    for _ in 0..200 {
        let found = alerts(app, root, rule, state).await;
        if let Some((_, title)) = found.into_iter().find(|(s, _)| s == subject) {
            return title;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {state} {rule} alert about {subject}");
}

/// Two evaluation rounds and two scans.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(2_500)).await;
}

async fn patch_onboot(app: &TestApp, root: &str, vmid: u64, onboot: bool) {
    let path = format!("/api/v1/guests/al/{vmid}/config");
    let answer = call(
        app,
        Method::PATCH,
        &path,
        root,
        Some(json!({ "onboot": onboot })),
    )
    .await;
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
}

async fn run_job(app: &TestApp, root: &str, path: &str, body: Value) {
    let job = queued(app, Method::POST, path, root, Some(body)).await;
    assert_eq!(
        job_end(app, root, &job).await["state"],
        "succeeded",
        "{path}"
    );
}

async fn rules_on_guests_storage_and_backups_fire_and_resolve(engine: Engine) {
    let app = spawn_app_with(engine, |c| {
        c.inventory_idle_secs = 1;
        c.inventory_busy_ms = 150;
        c.task_poll_ms = 50;
        c.alert_interval_secs = 1;
        c.alert_scan_interval_secs = 1;
    })
    .await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    // Long windows first, so nothing fires before the scenario is arranged.
    set_rule(&app, &root, "guest_down", 1, 86_400).await;
    set_rule(&app, &root, "storage_full", 100, 0).await;
    let sim = sim("al", 8).await;
    add_server(&app, &root, &sim, "al").await;
    let page = until(&app, "/api/v1/guests?per_page=100", &root, |p| {
        p["total"] == 8
    })
    .await;
    let guests: Vec<&Value> = page["items"].as_array().unwrap().iter().collect();
    let stopped: Vec<u64> = guests
        .iter()
        .filter(|g| g["status"] == "stopped" && g["template"] == false)
        .map(|g| g["vmid"].as_u64().unwrap())
        .collect();
    assert!(
        stopped.len() >= 2,
        "the seed has stopped guests: {stopped:?}"
    );
    let (down, idle) = (stopped[0], stopped[1]);

    // guest_down: only the stopped guest that should start at boot, once the window passed.
    for vmid in &stopped {
        patch_onboot(&app, &root, *vmid, *vmid == down).await;
    }
    set_rule(&app, &root, "guest_down", 1, 1).await;
    let title = wait_for(&app, &root, "guest_down", &format!("al/{down}"), "firing").await;
    assert!(title.contains(&format!("al/{down}")), "{title}");
    settle().await;
    let firing = alerts(&app, &root, "guest_down", "firing").await;
    assert_eq!(
        firing.len(),
        1,
        "only the guest that should run: {firing:?} (idle {idle})"
    );
    run_job(
        &app,
        &root,
        &format!("/api/v1/guests/al/{down}/actions/start"),
        json!({}),
    )
    .await;
    wait_for(&app, &root, "guest_down", &format!("al/{down}"), "resolved").await;

    // storage_full: quiet above the fullest storage's use, firing at or below it.
    let storage = get_json(&app, "/api/v1/servers/al/storage", &root).await;
    let (fullest, percent) = storage["storages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["total"].as_u64().unwrap() > 0)
        .map(|s| {
            let percent = s["used"].as_u64().unwrap() * 100 / s["total"].as_u64().unwrap();
            let subject = format!(
                "al/{}/{}",
                s["node"].as_str().unwrap(),
                s["storage"].as_str().unwrap()
            );
            (subject, percent)
        })
        .max_by_key(|(_, p)| *p)
        .expect("the simulator has storages");
    assert!((1..100).contains(&percent), "{fullest} is {percent}% full");
    let percent = i64::try_from(percent).unwrap();
    set_rule(&app, &root, "storage_full", percent + 1, 0).await;
    settle().await;
    assert_eq!(alerts(&app, &root, "storage_full", "firing").await, vec![]);
    set_rule(&app, &root, "storage_full", percent, 0).await;
    let title = wait_for(&app, &root, "storage_full", &fullest, "firing").await;
    assert!(title.contains(&format!("{percent}% full")), "{title}");
    set_rule(&app, &root, "storage_full", 100, 0).await;
    wait_for(&app, &root, "storage_full", &fullest, "resolved").await;

    // backup_stale: a fresh backup is quiet; aged past the allowed days it fires.
    let backup = json!({ "storage": "local" });
    let path = format!("/api/v1/guests/al/{idle}/actions/backup");
    run_job(&app, &root, &path, backup.clone()).await;
    settle().await;
    assert_eq!(alerts(&app, &root, "backup_stale", "firing").await, vec![]);
    sim.age_backups(8 * 86_400);
    let title = wait_for(&app, &root, "backup_stale", &format!("al/{idle}"), "firing").await;
    assert!(title.contains("8 days old"), "{title}");
    run_job(&app, &root, &path, backup).await;
    wait_for(
        &app,
        &root,
        "backup_stale",
        &format!("al/{idle}"),
        "resolved",
    )
    .await;
}

/// A backup storage that is offline (listed `active: 0`, its content answering 500) is marked
/// unreadable in a guest's backups, which list what the other storages hold, and the backup-age
/// scan keeps going past it.
async fn an_offline_backup_storage_costs_a_warning_not_the_list_or_the_scan(engine: Engine) {
    let app = spawn_app_with(engine, |c| {
        c.inventory_idle_secs = 1;
        c.inventory_busy_ms = 150;
        c.task_poll_ms = 50;
        c.alert_interval_secs = 1;
        c.alert_scan_interval_secs = 1;
    })
    .await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    let sim = sim("al", 8).await;
    add_server(&app, &root, &sim, "al").await;
    let page = until(&app, "/api/v1/guests?node=pve1&per_page=100", &root, |p| {
        p["total"].as_u64() > Some(0)
    })
    .await;
    let guest = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["template"] == false)
        .unwrap()["vmid"]
        .as_u64()
        .unwrap();
    run_job(
        &app,
        &root,
        &format!("/api/v1/guests/al/{guest}/actions/backup"),
        json!({ "storage": "local" }),
    )
    .await;
    // `local` holds backups on every node; on pve2 it goes offline.
    sim.set_fault(
        Some("pve2"),
        pve_sim::Fault {
            storages_down: vec!["local".to_owned()],
            ..pve_sim::Fault::default()
        },
    );
    let backups = get_json(&app, &format!("/api/v1/guests/al/{guest}/backups"), &root).await;
    assert_eq!(backups["backups"].as_array().unwrap().len(), 1, "{backups}");
    assert_eq!(backups["unreadable"], json!(["pve2/local"]), "{backups}");
    // The scan reads past it: the guest's aged backup still fires.
    set_rule(&app, &root, "backup_stale", 7, 0).await;
    sim.age_backups(8 * 86_400);
    let title = wait_for(
        &app,
        &root,
        "backup_stale",
        &format!("al/{guest}"),
        "firing",
    )
    .await;
    assert!(title.contains("8 days old"), "{title}");
}
