//! Config edits, clones, storages and their content, backups, pools, RRD data and console
//! tickets, as PVE answers them, including its refusals.

use serde_json::Value;

use crate::support::Sim;

#[tokio::test]
async fn config_edits_check_formats_and_the_digest() {
    let sim = Sim::start().await;
    let vmid = sim.guest_on_pve1("qemu", true).await;
    let config_path = format!("/nodes/pve1/qemu/{vmid}/config");
    let (_, before) = sim.get(&config_path).await;
    let digest = before["data"]["digest"].as_str().unwrap().to_owned();
    let (status, body) = sim
        .call(reqwest::Method::PUT, &format!("{config_path}?name=web-renamed&cores=2&memory=4096&onboot=1&tags=prod%3Bcustomer-a&description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&digest={digest}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, after) = sim.get(&config_path).await;
    let data = &after["data"];
    assert_eq!(
        (data["name"].as_str(), data["cores"].as_u64()),
        (Some("web-renamed"), Some(2))
    );
    assert_eq!(data["tags"], "customer-a;prod");
    assert_eq!(
        data["description"], "<script>alert(1)</script>",
        "stored as text; escaping is the portal's job"
    );
    // The old digest no longer matches: a concurrent edit is refused.
    let (status, body) = sim
        .call(
            reqwest::Method::PUT,
            &format!("{config_path}?cores=4&digest={digest}"),
        )
        .await;
    assert_eq!(status, 500);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("file changed by other user")
    );
    for (query, field) in [
        ("name=bad%20name", "name"),
        ("cores=0", "cores"),
        ("cores=x", "cores"),
        ("memory=8", "memory"),
        ("onboot=yes", "onboot"),
        ("tags=%3Cscript%3E", "tags"),
    ] {
        let (status, body) = sim
            .call(reqwest::Method::PUT, &format!("{config_path}?{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["errors"][field].is_string(), "{query}: {body}");
    }
    let (_, unchanged) = sim.get(&config_path).await;
    assert_eq!(
        unchanged["data"]["cores"], 2,
        "refused edits change nothing"
    );
    let (status, body) = sim.post(&format!("{config_path}?cores=3")).await;
    assert_eq!(status, 200);
    sim.wait(body["data"].as_str().unwrap()).await;
    let (_, done) = sim.get(&config_path).await;
    assert_eq!(
        done["data"]["cores"], 3,
        "the asynchronous edit applied when its task ended"
    );
}

#[tokio::test]
async fn clones_take_their_vmid_at_once_and_refuse_a_taken_one() {
    let sim = Sim::start().await;
    let vmid = sim.guest_on_pve1("qemu", false).await;
    let (status, body) = sim
        .post(&format!(
            "/nodes/pve1/qemu/{vmid}/clone?newid=500&name=copy&target=pve2"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let upid = body["data"].as_str().unwrap().to_owned();
    assert!(upid.contains(":qmclone:"));
    let (status, body) = sim
        .post(&format!("/nodes/pve1/qemu/{vmid}/clone?newid=500"))
        .await;
    assert_eq!(status, 500, "{body}");
    sim.wait(&upid).await;
    let (status, copy) = sim.get("/nodes/pve2/qemu/500/status/current").await;
    assert_eq!((status, copy["data"]["name"].as_str()), (200, Some("copy")));
    let (status, _) = sim
        .post(&format!("/nodes/pve1/qemu/{vmid}/clone?newid=50"))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn backups_land_on_the_storage_and_are_listed_with_their_guest() {
    let sim = Sim::start().await;
    let vmid = sim.guest_on_pve1("qemu", true).await;
    let (_, storages) = sim.get("/nodes/pve1/storage").await;
    let ids: Vec<&str> = storages["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["storage"].as_str())
        .collect();
    assert_eq!(ids, ["local", "local-lvm"]);
    let (status, body) = sim
        .post(&format!(
            "/nodes/pve1/vzdump?vmid={vmid}&storage=local&mode=snapshot&compress=zstd"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let upid = body["data"].as_str().unwrap().to_owned();
    assert!(upid.contains(&format!(":vzdump:{vmid}:")));
    assert_eq!(sim.wait(&upid).await["exitstatus"], "OK");
    let (_, content) = sim
        .get(&format!(
            "/nodes/pve1/storage/local/content?content=backup&vmid={vmid}"
        ))
        .await;
    let volids: Vec<&str> = content["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["volid"].as_str())
        .collect();
    assert_eq!(volids.len(), 1, "{content}");
    assert!(
        volids[0].starts_with(&format!("local:backup/vzdump-qemu-{vmid}-"))
            && volids[0].ends_with(".vma.zst")
    );
    let (_, isos) = sim
        .get("/nodes/pve1/storage/local/content?content=iso")
        .await;
    assert_eq!(isos["data"].as_array().unwrap().len(), 2);
    for (query, status) in [
        (format!("vmid={vmid}&storage=local-lvm"), 400),
        (format!("vmid={vmid}&mode=fast"), 400),
        (format!("vmid={vmid}&compress=rar"), 400),
        ("vmid=99999".to_owned(), 500),
    ] {
        let (got, body) = sim.post(&format!("/nodes/pve1/vzdump?{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
    }
    let (status, _) = sim.get("/nodes/pve1/storage/nowhere/content").await;
    assert_eq!(status, 500);
}

#[tokio::test]
async fn pools_rrd_points_and_console_tickets_read_like_pve() {
    let sim = Sim::start().await;
    let (_, pools) = sim.get("/pools").await;
    assert!(
        pools["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["poolid"].is_string() && p.get("members").is_none())
    );
    let (_, lab) = sim.get("/pools?poolid=lab").await;
    assert!(
        lab["data"][0]["members"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    );

    let vmid = sim.guest_on_pve1("qemu", true).await;
    for frame in ["hour", "day", "week", "month", "year"] {
        let (status, body) = sim
            .get(&format!(
                "/nodes/pve1/qemu/{vmid}/rrddata?timeframe={frame}"
            ))
            .await;
        assert_eq!(status, 200);
        let points = body["data"].as_array().unwrap();
        assert_eq!(points.len(), 70);
        let step = points[1]["time"].as_u64().unwrap() - points[0]["time"].as_u64().unwrap();
        let expected = match frame {
            "hour" => 60,
            "day" => 1800,
            "week" => 10_800,
            "month" => 43_200,
            _ => 604_800,
        };
        assert_eq!(step, expected, "{frame}");
        assert!(
            points
                .iter()
                .all(|p| p["cpu"].as_f64().is_some_and(|c| (0.0..=1.0).contains(&c)))
        );
    }
    let (status, _) = sim.get("/nodes/pve1/rrddata?timeframe=decade").await;
    assert_eq!(status, 400);
    let (_, node) = sim.get("/nodes/pve1/rrddata?timeframe=hour&cf=MAX").await;
    assert!(node["data"][0]["memtotal"].as_u64().is_some());

    let (status, vnc) = sim
        .post(&format!(
            "/nodes/pve1/qemu/{vmid}/vncproxy?websocket=1&generate-password=1"
        ))
        .await;
    assert_eq!(status, 200, "{vnc}");
    let data = &vnc["data"];
    assert!(data["ticket"].as_str().unwrap().starts_with("PVEVNC:"));
    assert!(
        data["cert"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(data["port"].as_u64().is_some() && data["password"].is_string());
    assert!(data["upid"].as_str().unwrap().contains(":vncproxy:"));
    let (status, term) = sim
        .post(&format!("/nodes/pve1/qemu/{vmid}/termproxy"))
        .await;
    assert_eq!(status, 200);
    assert!(term["data"].get("cert").is_none());
    let _: Value = term;
}
