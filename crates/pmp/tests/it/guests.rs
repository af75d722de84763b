//! Guests through the portal against the simulator, on both engines: the list filtered by
//! permission, 404 for what one may not see, every action a job with exactly one PVE task,
//! a guest migrated behind the portal's back still reachable, and hostile input.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::pve::{add_server, fast_app, grant, job_end, sim, token, until};
use crate::support::{Engine, call, get_json, queued};

crate::on_both_engines!(
    guests_of_a_node_long_down_are_unknown_and_refuse_actions,
    actions_run_as_jobs_with_exactly_one_pve_task_each,
    lists_and_details_show_only_what_the_caller_may_see,
    bulk_jobs_cap_each_server_and_report_every_item,
);

/// A guest of `kind` with `status` from the portal's list.
async fn pick(
    app: &crate::support::TestApp,
    token: &str,
    kind: &str,
    status: &str,
) -> (u32, String) {
    let page = until(
        app,
        &format!("/api/v1/guests?type={kind}&status={status}&per_page=500"),
        token,
        |p| p["total"].as_u64() > Some(0),
    )
    .await;
    let guest = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["template"] == false)
        .unwrap()
        .clone();
    (
        u32::try_from(guest["vmid"].as_u64().unwrap()).unwrap(),
        guest["node"].as_str().unwrap().to_owned(),
    )
}

fn tasks_of(sim: &pve_sim::Simulator, kind: &str, vmid: u32) -> usize {
    sim.tasks()
        .iter()
        .filter(|t| t.upid.kind == kind && t.upid.id == vmid.to_string())
        .count()
}

/// When a node has been down for a while, PVE lists its guests reduced to id, VMID, node and
/// type with status `unknown`. The portal shows them as unknown (never stopped), and refuses
/// an action on one with a sentence, starting no job and no PVE task.
async fn guests_of_a_node_long_down_are_unknown_and_refuse_actions(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    let sim = sim("gone", 24).await;
    add_server(&app, &root, &sim, "gone").await;
    let page = until(&app, "/api/v1/guests?node=pve3&per_page=500", &root, |p| {
        p["total"].as_u64() > Some(0)
    })
    .await;
    let vmid = page["items"][0]["vmid"].as_u64().unwrap();
    sim.set_fault(
        Some("pve3"),
        pve_sim::Fault {
            offline: true,
            down_long: true,
            ..pve_sim::Fault::default()
        },
    );
    let base = format!("/api/v1/guests/gone/{vmid}");
    let guest = until(&app, &base, &root, |g| g["status"] == "unknown").await;
    assert_eq!(guest["node"], "pve3", "{guest}");
    let unknown = until(
        &app,
        "/api/v1/guests?status=unknown&per_page=500",
        &root,
        |p| p["total"].as_u64() > Some(0),
    )
    .await;
    assert!(
        unknown["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["node"] == "pve3"),
        "{unknown}"
    );
    let stopped = get_json(&app, "/api/v1/guests?node=pve3&status=stopped", &root).await;
    assert_eq!(
        stopped["total"], 0,
        "none of them shown as stopped: {stopped}"
    );
    let before = sim.tasks().len();
    let answer = call(
        &app,
        Method::POST,
        &format!("{base}/actions/start"),
        &root,
        None,
    )
    .await;
    assert_eq!(answer.status(), StatusCode::CONFLICT);
    let body: Value = answer.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("pve3") && message.contains("unknown"),
        "{message}"
    );
    assert_eq!(sim.tasks().len(), before, "no PVE task");
    let jobs = get_json(&app, "/api/v1/jobs", &root).await;
    assert_eq!(jobs["items"], json!([]), "no job: {jobs}");
    sim.stop().await;
}

async fn actions_run_as_jobs_with_exactly_one_pve_task_each(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    let sim = sim("acts", 24).await;
    add_server(&app, &root, &sim, "acts").await;
    let (vmid, _) = pick(&app, &root, "qemu", "stopped").await;
    let base = format!("/api/v1/guests/acts/{vmid}");

    let job = queued(
        &app,
        Method::POST,
        &format!("{base}/actions/start"),
        &root,
        None,
    )
    .await;
    let ended = job_end(&app, &root, &job).await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(
        tasks_of(&sim, "qmstart", vmid),
        1,
        "one PVE task for one action"
    );
    let log: Value = get_json(&app, &format!("/api/v1/jobs/{job}/log"), &root).await;
    let lines: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["line"].as_str())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("PVE task UPID:")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"TASK OK"),
        "the PVE task log is copied: {lines:?}"
    );
    // A start writes nothing until it ends, so PVE's "no content" placeholder was all the
    // portal saw of it for a while; the copy holds exactly the real line, once.
    let after_upid: Vec<&str> = lines
        .iter()
        .skip_while(|l| !l.contains("PVE task UPID:"))
        .skip(1)
        .copied()
        .collect();
    assert_eq!(after_upid, ["TASK OK"], "{lines:?}");
    until(&app, &base, &root, |g| g["status"] == "running").await;
    let addresses = get_json(&app, &format!("{base}/addresses"), &root).await;
    assert_eq!(
        addresses["addresses"].as_array().unwrap().len(),
        2,
        "{addresses}"
    );

    // A snapshot, listed live from PVE afterwards.
    let job = queued(
        &app,
        Method::POST,
        &format!("{base}/snapshots"),
        &root,
        Some(json!({ "name": "before-test", "description": "<b>kept as text</b>" })),
    )
    .await;
    assert_eq!(job_end(&app, &root, &job).await["state"], "succeeded");
    let list: Value = get_json(&app, &format!("{base}/snapshots"), &root).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "before-test" && s["description"] == "<b>kept as text</b>")
    );

    // Migrated behind the portal's back: the next action still finds it.
    let pve = pve::Client::new(
        &sim.url(),
        pve::Auth::ApiToken {
            id: sim.token_id().into(),
            secret: sim.token_secret().into(),
        },
        sim.fingerprint().parse().unwrap(),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let from = pve.locate(vmid).await.unwrap().node;
    let target = if from == "pve1" { "pve2" } else { "pve1" };
    let upid = pve.migrate(vmid, target).await.unwrap();
    pve.wait_task(&upid, std::time::Duration::from_millis(20), 0, |_| {})
        .await
        .unwrap();
    let job = queued(
        &app,
        Method::POST,
        &format!("{base}/actions/shutdown"),
        &root,
        None,
    )
    .await;
    assert_eq!(job_end(&app, &root, &job).await["state"], "succeeded");
    until(&app, &base, &root, |g| {
        g["node"] == target && g["status"] == "stopped"
    })
    .await;
    assert_eq!(tasks_of(&sim, "qmshutdown", vmid), 1);

    // A clone lands on the chosen node under the new VMID; a taken VMID is refused at once.
    let job = queued(
        &app,
        Method::POST,
        &format!("{base}/actions/clone"),
        &root,
        Some(json!({ "newid": 900, "name": "copy", "target": "pve3" })),
    )
    .await;
    assert_eq!(job_end(&app, &root, &job).await["state"], "succeeded");
    until(&app, "/api/v1/guests/acts/900", &root, |g| {
        g["node"] == "pve3" && g["name"] == "copy"
    })
    .await;
    let taken = call(
        &app,
        Method::POST,
        &format!("{base}/actions/clone"),
        &root,
        Some(json!({ "newid": 900 })),
    )
    .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let metrics = get_json(
        &app,
        "/api/v1/servers/acts/nodes/pve1/metrics?timeframe=day",
        &root,
    )
    .await;
    assert_eq!(metrics.as_array().unwrap().len(), 70);
    // PVE's own refusal ends the job as failed, with PVE's sentence.
    let job = queued(
        &app,
        Method::POST,
        &format!("{base}/actions/shutdown"),
        &root,
        None,
    )
    .await;
    let failed = job_end(&app, &root, &job).await;
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("not running"),
        "{failed}"
    );

    for (method, path, body) in [
        (Method::POST, format!("{base}/actions/explode"), None),
        (
            Method::POST,
            "/api/v1/guests/acts/99999/actions/start".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/api/v1/guests/acts/abc/actions/start".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/api/v1/guests/nowhere/100/actions/start".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/api/v1/guests/..%2F..%2Fetc/100/actions/start".to_owned(),
            None,
        ),
    ] {
        assert_eq!(
            call(&app, method, &path, &root, body).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for body in [
        json!({ "name": "<script>" }),
        json!({ "name": "current" }),
        json!({ "name": "a'; DROP TABLE jobs;--" }),
        json!({ "name": 7 }),
    ] {
        let response = call(
            &app,
            Method::POST,
            &format!("{base}/snapshots"),
            &root,
            Some(body.clone()),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let bad_target = call(
        &app,
        Method::POST,
        &format!("{base}/actions/migrate"),
        &root,
        Some(json!({ "target": "../../pve1" })),
    )
    .await;
    assert_eq!(bad_target.status(), StatusCode::BAD_REQUEST);
    assert!(
        app.event_kinds()
            .await
            .iter()
            .filter(|k| *k == "guest.action")
            .count()
            >= 4
    );
    // The job list filters by target and by who asked.
    let on_guest = get_json(&app, &format!("/api/v1/jobs?target=acts/{vmid}"), &root).await;
    let items = on_guest["items"].as_array().unwrap();
    assert!(
        items.len() >= 4 && items.iter().all(|j| j["target"] == format!("acts/{vmid}")),
        "{on_guest}"
    );
    let elsewhere = get_json(&app, "/api/v1/jobs?target=acts/1", &root).await;
    assert_eq!(elsewhere["items"], json!([]));
    let by_nobody = get_json(&app, "/api/v1/jobs?user=nobody", &root).await;
    assert_eq!(by_nobody["items"], json!([]));
    sim.stop().await;
}

async fn lists_and_details_show_only_what_the_caller_may_see(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let tenant = app.create_user("tenant", false).await;
    let viewer = app.create_user("viewer", false).await;
    let root = token(&app, "root").await;
    let sim = sim("ten", 24).await;
    add_server(&app, &root, &sim, "ten").await;
    let (mine, _) = pick(&app, &root, "qemu", "stopped").await;
    let (theirs, _) = pick(&app, &root, "lxc", "running").await;
    grant(
        &app,
        &root,
        &tenant,
        &format!("/guests/ten/{mine}"),
        "tenant",
    )
    .await;
    grant(&app, &root, &viewer, "/servers/ten", "viewer").await;
    let tenant_t = token(&app, "tenant").await;
    let viewer_t = token(&app, "viewer").await;

    let page: Value = get_json(&app, "/api/v1/guests?per_page=500", &tenant_t).await;
    assert_eq!(page["total"], 1, "a tenant sees their guest only: {page}");
    assert_eq!(page["items"][0]["vmid"], mine);
    let search: Value = get_json(&app, &format!("/api/v1/guests?q={theirs}"), &tenant_t).await;
    assert_eq!(search["total"], 0, "search reveals nothing foreign");
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/guests/ten/{theirs}"),
            &tenant_t,
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/v1/guests/ten/99999",
            &tenant_t,
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND,
        "like a foreign one"
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/guests/ten/{theirs}/actions/stop"),
            &tenant_t,
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_json(&app, "/api/v1/servers", &tenant_t).await,
        json!([])
    );
    let start = call(
        &app,
        Method::POST,
        &format!("/api/v1/guests/ten/{mine}/actions/start"),
        &tenant_t,
        None,
    )
    .await;
    assert_eq!(
        start.status(),
        StatusCode::ACCEPTED,
        "the tenant role may power its guest"
    );
    let migrate = call(
        &app,
        Method::POST,
        &format!("/api/v1/guests/ten/{mine}/actions/migrate"),
        &tenant_t,
        Some(json!({ "target": "pve2" })),
    )
    .await;
    assert_eq!(
        migrate.status(),
        StatusCode::FORBIDDEN,
        "but not migrate it"
    );

    let all: Value = get_json(&app, "/api/v1/guests?per_page=500", &viewer_t).await;
    assert_eq!(all["total"], 24, "a viewer of the server sees every guest");
    for action in [
        "actions/start",
        "actions/stop",
        "snapshots",
        "actions/backup",
        "actions/migrate",
    ] {
        let response = call(
            &app,
            Method::POST,
            &format!("/api/v1/guests/ten/{theirs}/{action}"),
            &viewer_t,
            Some(json!({})),
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "a viewer may not {action}"
        );
    }
    let filtered: Value = get_json(
        &app,
        "/api/v1/guests?type=lxc&sort=name&per_page=5&page=1",
        &viewer_t,
    )
    .await;
    assert!(
        filtered["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["kind"] == "lxc")
    );
    assert!(filtered["items"].as_array().unwrap().len() <= 5);
    // A backup now, then the guest's backups with the newest one's age; storage per server.
    let job = queued(
        &app,
        Method::POST,
        &format!("/api/v1/guests/ten/{mine}/actions/backup"),
        &tenant_t,
        Some(json!({ "storage": "local" })),
    )
    .await;
    assert_eq!(job_end(&app, &tenant_t, &job).await["state"], "succeeded");
    let backups = get_json(
        &app,
        &format!("/api/v1/guests/ten/{mine}/backups"),
        &tenant_t,
    )
    .await;
    assert_eq!(backups["backups"].as_array().unwrap().len(), 1, "{backups}");
    assert!(
        backups["newest_age_secs"]
            .as_u64()
            .is_some_and(|age| age < 60)
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/guests/ten/{theirs}/backups"),
            &tenant_t,
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/v1/servers/ten/storage",
            &tenant_t,
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let storage = get_json(&app, "/api/v1/servers/ten/storage", &viewer_t).await;
    assert_eq!(
        storage["storages"].as_array().unwrap().len(),
        6,
        "two storages on each of three nodes"
    );
    assert!(storage["cluster"]["total"].as_u64() > Some(0));
    let isos = get_json(
        &app,
        "/api/v1/servers/ten/nodes/pve1/storage/local/content",
        &viewer_t,
    )
    .await;
    assert!(isos.as_array().unwrap().iter().any(|v| v["kind"] == "iso"));
    for bad in [
        "/api/v1/servers/ten/nodes/..%2F/storage/local/content",
        "/api/v1/servers/ten/nodes/pve1/storage/..%2Fetc/content",
    ] {
        let status = call(&app, Method::GET, bad, &viewer_t, None).await.status();
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{bad}: {status}"
        );
    }
    // Access to one guest, from its own page: the entries on its path, and the effective
    // permissions of someone granted through the guest's pool (the inventory places it).
    let pooled = get_json(&app, "/api/v1/guests?per_page=500", &root).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["pool"].is_string())
        .cloned()
        .unwrap();
    let (pool, pooled_vmid) = (
        pooled["pool"].as_str().unwrap().to_owned(),
        pooled["vmid"].as_u64().unwrap(),
    );
    let poolie = app.create_user("poolie", false).await;
    grant(
        &app,
        &root,
        &poolie,
        &format!("/pools/ten/{pool}"),
        "tenant",
    )
    .await;
    let admin_cookie = app.sign_in("root").await;
    let page = app
        .get_with(
            &format!("/access?path=/guests/ten/{pooled_vmid}&user={poolie}"),
            &admin_cookie,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("role tenant on /pools/ten/{pool}")),
        "the pool grant explains it"
    );
    let own = app
        .get_with(&format!("/access?path=/guests/ten/{mine}"), &admin_cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        own.contains(&format!("/guests/ten/{mine}")) && !own.contains("/servers/ten</code>"),
        "only this guest's entries"
    );
    let guest_page = app
        .get_with(&format!("/guests/ten/{mine}"), &admin_cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(guest_page.contains("data-guest-access"));
    // Hostile notes and names: refused where PVE would refuse, shown inert everywhere else.
    let config = format!("/api/v1/guests/ten/{mine}/config");
    let notes =
        "<script>alert(1)</script> <a href=\"javascript:alert(2)\">x</a> \u{202e}evil \u{200b}zw";
    let edit = call(
        &app,
        Method::PATCH,
        &config,
        &root,
        Some(json!({ "description": notes })),
    )
    .await;
    assert_eq!(edit.status(), StatusCode::NO_CONTENT);
    for name in [
        "<script>",
        "a\u{202e}b",
        "x\u{200b}y",
        "javascript:alert(1)",
    ] {
        let refused = call(
            &app,
            Method::PATCH,
            &config,
            &root,
            Some(json!({ "name": name })),
        )
        .await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{name}");
    }
    let read = get_json(&app, &config, &root).await;
    assert_eq!(
        read["description"], notes,
        "the API returns the notes as text"
    );
    let cookie = app.sign_in("root").await;
    let html = app
        .get_with(&format!("/guests/ten/{mine}"), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("<script>alert(1)") && !html.contains("<a href=\"javascript:"),
        "notes are inert"
    );
    assert!(html.contains("data-guest-notes"));
    let bogus = call(
        &app,
        Method::GET,
        "/api/v1/guests?per_page=abc",
        &viewer_t,
        None,
    )
    .await;
    assert_eq!(bogus.status(), StatusCode::BAD_REQUEST);
    sim.stop().await;
}

async fn bulk_jobs_cap_each_server_and_report_every_item(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let viewer = app.create_user("viewer", false).await;
    let root = token(&app, "root").await;
    let sim = sim("bulk", 40).await;
    add_server(&app, &root, &sim, "bulk").await;
    grant(&app, &root, &viewer, "/servers/bulk", "viewer").await;
    let stopped = until(
        &app,
        "/api/v1/guests?type=qemu&status=stopped&per_page=500",
        &root,
        |p| p["total"].as_u64() >= Some(6),
    )
    .await;
    let running = until(
        &app,
        "/api/v1/guests?type=qemu&status=running&per_page=500",
        &root,
        |p| p["total"].as_u64() >= Some(1),
    )
    .await;
    let mut selection: Vec<Value> = stopped["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["template"] == false)
        .take(6)
        .map(|g| json!({ "server": "bulk", "vmid": g["vmid"] }))
        .collect();
    // One that is already running: PVE refuses it, and the bulk job says so by name.
    let refused = running["items"][0]["vmid"].as_u64().unwrap();
    selection.push(json!({ "server": "bulk", "vmid": refused }));
    let request = json!({ "op": "power", "action": "start", "guests": selection, "per_server": 2 });

    let viewer_t = token(&app, "viewer").await;
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/guests/bulk",
            &viewer_t,
            Some(request.clone())
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    let mut unknown = request.clone();
    unknown["guests"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "server": "bulk", "vmid": 99_999 }));
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/guests/bulk",
            &root,
            Some(unknown)
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let mut twice = request.clone();
    twice["guests"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "server": "bulk", "vmid": refused }));
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/guests/bulk",
            &root,
            Some(twice)
        )
        .await
        .status(),
        StatusCode::BAD_REQUEST
    );
    let jobs_before: Value = get_json(&app, "/api/v1/jobs", &root).await;
    assert_eq!(
        jobs_before["items"].as_array().unwrap().len(),
        0,
        "refused requests queue nothing"
    );

    let job = queued(
        &app,
        Method::POST,
        "/api/v1/guests/bulk",
        &root,
        Some(request),
    )
    .await;
    // Sample the simulator while it runs: never more than two of these tasks at once.
    let mut most = 0;
    for _ in 0..400 {
        let live = sim
            .tasks()
            .iter()
            .filter(|t| t.exit.is_none() && t.upid.kind == "qmstart")
            .count();
        most = most.max(live);
        let state: Value = get_json(&app, &format!("/api/v1/jobs/{job}"), &root).await;
        if matches!(state["state"].as_str(), Some("failed" | "succeeded")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        (1..=2).contains(&most),
        "at most 2 tasks per server at once, saw {most}"
    );
    let ended = job_end(&app, &root, &job).await;
    assert_eq!(ended["state"], "failed", "{ended}");
    assert!(
        ended["error"]
            .as_str()
            .unwrap()
            .starts_with("1 of 7 items failed")
    );
    let log: Value = get_json(&app, &format!("/api/v1/jobs/{job}/log"), &root).await;
    let lines: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["line"].as_str())
        .collect();
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(": succeeded")).count(),
        6,
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("bulk/{refused}: failed:"))
                && l.contains("already running")),
        "{lines:?}"
    );
    sim.stop().await;
}
