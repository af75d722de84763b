//! Tasks: actions answer UPIDs that parse back to their fields, run, end with an exit status,
//! change the guest, log lines that page as PVE pages them, and wrong-state actions fail.

use pve_sim::Upid;

use crate::support::Sim;

#[tokio::test]
async fn a_start_runs_as_a_task_and_the_guest_ends_up_running() {
    let sim = Sim::start().await;
    let vmid = sim.guest_on_pve1("qemu", false).await;
    let (status, body) = sim
        .post(&format!("/nodes/pve1/qemu/{vmid}/status/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    let text = body["data"].as_str().unwrap();
    let upid: Upid = text.parse().unwrap();
    assert_eq!(upid.to_string(), text);
    assert_eq!(upid.node, "pve1");
    assert_eq!(upid.kind, "qmstart");
    assert_eq!(upid.id, vmid.to_string());
    assert_eq!(upid.user, sim.sim.token_id());

    let (_, running) = sim.get(&format!("/nodes/pve1/tasks/{text}/status")).await;
    assert_eq!(running["data"]["status"], "running");
    assert!(running["data"].get("exitstatus").is_none());
    // Like PVE's qmstart, the task writes nothing while it runs: its log is PVE's placeholder,
    // at any start.
    for start in [0, 1, 5] {
        let (_, log) = sim
            .get(&format!("/nodes/pve1/tasks/{text}/log?start={start}"))
            .await;
        assert_eq!(
            log,
            serde_json::json!({"data": [{"n": 1, "t": "no content"}], "total": 1}),
            "start={start}"
        );
    }
    let done = sim.wait(text).await;
    assert_eq!(done["exitstatus"], "OK");
    assert_eq!(done["upid"], text);
    let (_, log) = sim.get(&format!("/nodes/pve1/tasks/{text}/log")).await;
    assert_eq!(
        log,
        serde_json::json!({"data": [{"n": 1, "t": "TASK OK"}], "total": 1})
    );

    let (_, current) = sim
        .get(&format!("/nodes/pve1/qemu/{vmid}/status/current"))
        .await;
    assert_eq!(current["data"]["status"], "running");
    assert!(current["data"]["uptime"].as_u64().unwrap() > 0);

    let (status, body) = sim
        .post(&format!("/nodes/pve1/qemu/{vmid}/status/start"))
        .await;
    assert_eq!(status, 500);
    assert_eq!(body["message"], format!("VM {vmid} already running"));
}

#[tokio::test]
async fn task_logs_page_like_pve_and_lists_filter() {
    let sim = Sim::start().await;
    let vmid = sim.guest_on_pve1("lxc", true).await;
    let (_, body) = sim
        .post(&format!("/nodes/pve1/lxc/{vmid}/status/shutdown"))
        .await;
    let upid = body["data"].as_str().unwrap().to_owned();
    let (_, active) = sim.get("/nodes/pve1/tasks?source=active").await;
    assert_eq!(active["data"][0]["upid"], upid.as_str());
    sim.wait(&upid).await;

    let (_, all) = sim
        .get(&format!("/nodes/pve1/tasks/{upid}/log?limit=0"))
        .await;
    // The first line, two progress lines, and the final status line.
    assert_eq!(all["total"], 4);
    assert_eq!(all["data"][0]["n"], 1);
    assert_eq!(all["data"][1]["t"], "progress 33%");
    assert_eq!(all["data"][3]["t"], "TASK OK");
    let (_, second) = sim
        .get(&format!("/nodes/pve1/tasks/{upid}/log?start=1&limit=1"))
        .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["n"], 2);
    assert_eq!(second["total"], 4);

    let (_, listed) = sim
        .get(&format!(
            "/nodes/pve1/tasks?vmid={vmid}&typefilter=vzshutdown"
        ))
        .await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["data"][0]["status"], "OK");
    assert!(listed["data"][0]["endtime"].as_u64().is_some());
    let (_, none) = sim.get("/nodes/pve1/tasks?source=active").await;
    assert_eq!(none["total"], 0);
    let (_, elsewhere) = sim.get("/nodes/pve2/tasks").await;
    assert_eq!(elsewhere["total"], 0);

    let (_, stopped) = sim
        .get(&format!("/nodes/pve1/lxc/{vmid}/status/current"))
        .await;
    assert_eq!(stopped["data"]["status"], "stopped");
    let (status, body) = sim
        .post(&format!("/nodes/pve1/lxc/{vmid}/status/stop"))
        .await;
    assert_eq!(status, 500);
    assert_eq!(body["message"], format!("CT {vmid} not running"));
}

#[tokio::test]
async fn suspend_and_resume_go_through_paused() {
    let sim = Sim::start().await;
    let vmid = sim.guest_on_pve1("qemu", true).await;
    let (status, _) = sim
        .post(&format!("/nodes/pve1/qemu/{vmid}/status/resume"))
        .await;
    assert_eq!(status, 500, "resuming a guest that is not suspended");
    let (_, body) = sim
        .post(&format!("/nodes/pve1/qemu/{vmid}/status/suspend"))
        .await;
    sim.wait(body["data"].as_str().unwrap()).await;
    let (_, current) = sim
        .get(&format!("/nodes/pve1/qemu/{vmid}/status/current"))
        .await;
    assert_eq!(current["data"]["qmpstatus"], "paused");
    let (_, body) = sim
        .post(&format!("/nodes/pve1/qemu/{vmid}/status/resume"))
        .await;
    sim.wait(body["data"].as_str().unwrap()).await;
    let (_, current) = sim
        .get(&format!("/nodes/pve1/qemu/{vmid}/status/current"))
        .await;
    assert_eq!(current["data"]["qmpstatus"], "running");
}

#[tokio::test]
async fn unknown_and_malformed_task_ids_are_refused() {
    let sim = Sim::start().await;
    let (status, body) = sim.get("/nodes/pve1/tasks/not-a-upid/status").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"]["upid"]
            .as_str()
            .unwrap()
            .contains("unable to parse worker upid")
    );
    let unknown = "UPID:pve1:00001234:00ABCDEF:6745A1C2:qmstart:100:root@pam:";
    let (status, body) = sim
        .get(&format!("/nodes/pve1/tasks/{unknown}/status"))
        .await;
    assert_eq!(status, 500);
    assert_eq!(body["message"], "no such task");
}

#[tokio::test]
async fn snapshots_are_created_rolled_back_and_deleted_as_tasks() {
    let sim = Sim::start().await;
    let vmid = sim.guest_on_pve1("qemu", true).await;
    let base = format!("/nodes/pve1/qemu/{vmid}/snapshot");
    let (_, body) = sim
        .post(&format!("{base}?snapname=nightly&description=ok&vmstate=1"))
        .await;
    let done = sim.wait(body["data"].as_str().unwrap()).await;
    assert_eq!(done["type"], "qmsnapshot");
    assert_eq!(done["exitstatus"], "OK");
    let (_, list) = sim.get(&base).await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[names.len() - 2..], ["nightly", "current"]);

    for (query, message) in [
        ("snapname=nightly", "snapshot name 'nightly' already used"),
        ("snapname=current", "snapshot name 'current' is reserved"),
    ] {
        let (status, body) = sim.post(&format!("{base}?{query}")).await;
        assert_eq!(status, 500);
        assert_eq!(body["message"], message);
    }
    let (status, body) = sim.post(&format!("{base}?snapname=../etc")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["snapname"].is_string());

    let (_, body) = sim
        .post(&format!("/nodes/pve1/qemu/{vmid}/status/stop"))
        .await;
    sim.wait(body["data"].as_str().unwrap()).await;
    let (_, body) = sim.post(&format!("{base}/nightly/rollback")).await;
    sim.wait(body["data"].as_str().unwrap()).await;
    let (_, current) = sim
        .get(&format!("/nodes/pve1/qemu/{vmid}/status/current"))
        .await;
    assert_eq!(
        current["data"]["status"], "running",
        "RAM state resumes the VM"
    );

    let (_, body) = sim
        .call(reqwest::Method::DELETE, &format!("{base}/nightly"))
        .await;
    sim.wait(body["data"].as_str().unwrap()).await;
    let (status, body) = sim
        .call(reqwest::Method::DELETE, &format!("{base}/nightly"))
        .await;
    assert_eq!(status, 500);
    assert_eq!(body["message"], "snapshot 'nightly' does not exist");
}
