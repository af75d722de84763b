//! Server onboarding against the simulator over HTTPS, on both engines: the probe, pinning
//! the entry node and learning every member's certificate from the cluster, the permission
//! self-test, sealed secrets, health, a certificate rotation that blocks calls until the new
//! certificate is confirmed, and hostile input.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::pve::{add_server, fast_app, sim, token, until};
use crate::support::{Engine, call, get_json};

crate::on_both_engines!(
    a_cluster_with_a_member_down_can_be_added,
    onboarding_pins_every_member_and_seals_the_secret,
    a_rotated_certificate_blocks_calls_until_it_is_confirmed,
    hostile_server_input_is_refused_before_anything_is_contacted,
);

/// A cluster with one member down is added all the same: every member's certificate comes
/// from the cluster's own node list, so the member that is down (whose proxied requests
/// answer 595) costs nothing. With its address in the cluster status it is pinned with the
/// others; without one there is nowhere to reach it, and the live members are pinned.
async fn a_cluster_with_a_member_down_can_be_added(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    for (id, no_ip) in [("withip", false), ("noip", true)] {
        let sim = sim(id, 6).await;
        sim.set_fault(
            Some("pve3"),
            pve_sim::Fault {
                offline: true,
                no_ip,
                ..pve_sim::Fault::default()
            },
        );
        let added = add_server(&app, &root, &sim, id).await;
        let pinned: Vec<(String, String)> = added["server"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["fingerprint"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = sim
            .nodes()
            .into_iter()
            .filter(|n| !(no_ip && n.name == "pve3"))
            .map(|n| (n.name, n.fingerprint))
            .collect();
        assert_eq!(pinned, expected, "{id}");
        // A request for a guest on the member that is down passes PVE's own sentence on.
        let on_pve3 = until(
            &app,
            &format!("/api/v1/guests?server={id}&node=pve3&per_page=500"),
            &root,
            |p| p["total"].as_u64() > Some(0),
        )
        .await;
        let vmid = on_pve3["items"][0]["vmid"].as_u64().unwrap();
        let path = format!("/api/v1/guests/{id}/{vmid}/config");
        let answer = call(&app, Method::GET, &path, &root, None).await;
        assert_eq!(answer.status(), StatusCode::BAD_GATEWAY, "{path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(
            body["message"], "Proxmox VE answered 595: No route to host",
            "{body}"
        );
        sim.stop().await;
    }
}

async fn onboarding_pins_every_member_and_seals_the_secret(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    app.create_user("bob", false).await;
    let root = token(&app, "root").await;
    let bob = token(&app, "bob").await;
    let sim = sim("lab", 30).await;

    let probe = call(
        &app,
        Method::POST,
        "/api/v1/servers/probe",
        &root,
        Some(json!({ "url": sim.url() })),
    )
    .await;
    assert_eq!(probe.status(), StatusCode::OK);
    let probe: Value = probe.json().await.unwrap();
    assert_eq!(probe["fingerprint"], sim.fingerprint());

    // A fingerprint that is not the server's is refused, naming both.
    let mut wrong = json!({
        "id": "lab", "name": "Lab", "url": sim.url(), "fingerprint": "00".repeat(32),
        "token_id": sim.token_id(), "token_secret": sim.token_secret(),
    });
    let refused = call(
        &app,
        Method::POST,
        "/api/v1/servers",
        &root,
        Some(wrong.clone()),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
    let message = refused.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(&sim.fingerprint()) && message.contains("00:00:00"),
        "{message}"
    );
    assert!(!message.contains(sim.token_secret()));

    let added = add_server(&app, &root, &sim, "lab").await;
    let members = added["server"]["members"].as_array().unwrap();
    let expected: Vec<(String, String)> = sim
        .nodes()
        .into_iter()
        .map(|n| (n.name, n.fingerprint))
        .collect();
    let got: Vec<(String, String)> = members
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["fingerprint"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected, "every member pinned to its own certificate");
    assert_eq!(
        added["self_test"]["missing"],
        json!([]),
        "a full-rights token lacks nothing"
    );
    assert!(
        added.to_string().find(sim.token_secret()).is_none(),
        "the answer holds no secret"
    );

    wrong["id"] = json!("lab");
    wrong["fingerprint"] = json!(sim.fingerprint());
    let again = call(&app, Method::POST, "/api/v1/servers", &root, Some(wrong)).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // The secret is sealed: neither the column nor (on SQLite) the database file holds it.
    let sealed: Vec<String> = pmp::servers::store::list(app.portal.db())
        .await
        .unwrap()
        .iter()
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(sealed, ["lab"]);
    let column: String = match app.portal.db() {
        pmp::db::Db::Sqlite(pool) => sqlx::query_scalar("SELECT secret FROM servers")
            .fetch_one(pool)
            .await
            .unwrap(),
        pmp::db::Db::Postgres(pool) => sqlx::query_scalar("SELECT secret FROM servers")
            .fetch_one(pool)
            .await
            .unwrap(),
    };
    assert!(column.starts_with("v1.") && !column.contains(sim.token_secret()));
    if let pmp::db::DatabaseUrl::Sqlite(path) = &app.db.url {
        let path = path.display().to_string();
        for file in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains(sim.token_secret()),
                    "{file} holds the token secret"
                );
            }
        }
    }

    let live = until(&app, "/api/v1/servers/lab", &root, |s| {
        s["health"]["state"] == "up" && s["guests"] == 30
    })
    .await;
    assert_eq!(live["auth_id"], sim.token_id());
    // Bob has no grant: the server is invisible to him, not forbidden.
    assert_eq!(get_json(&app, "/api/v1/servers", &bob).await, json!([]));
    assert_eq!(
        call(&app, Method::GET, "/api/v1/servers/lab", &bob, None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, Method::DELETE, "/api/v1/servers/lab", &bob, None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/servers/probe",
            &bob,
            Some(json!({ "url": sim.url() }))
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert!(
        app.event_kinds()
            .await
            .contains(&"server.changed".to_owned())
    );
    // The server's page graphs each online node.
    let cookie = app.sign_in("root").await;
    let page = app
        .get_with("/servers/lab", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-node-graphs") && page.matches("<svg").count() >= 6,
        "two graphs per node"
    );
    // New credentials are tried before they are kept; bad ones change nothing.
    let bad = call(
        &app,
        Method::PATCH,
        "/api/v1/servers/lab",
        &root,
        Some(json!({ "token_id": sim.token_id(), "token_secret": "wrong" })),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_GATEWAY);
    let secret = sim.add_token("root@pam!rotated", false);
    let good = call(
        &app,
        Method::PATCH,
        "/api/v1/servers/lab",
        &root,
        Some(json!({ "token_id": "root@pam!rotated", "token_secret": secret })),
    )
    .await;
    assert_eq!(good.status(), StatusCode::OK);
    assert_eq!(
        good.json::<Value>().await.unwrap()["auth_id"],
        "root@pam!rotated"
    );
    let mixed = call(
        &app,
        Method::PATCH,
        "/api/v1/servers/lab",
        &root,
        Some(json!({ "token_id": "root@pam!x", "username": "root@pam" })),
    )
    .await;
    assert_eq!(mixed.status(), StatusCode::BAD_REQUEST);
    sim.stop().await;
}

async fn a_rotated_certificate_blocks_calls_until_it_is_confirmed(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    let sim = sim("rot", 10).await;
    add_server(&app, &root, &sim, "rot").await;
    until(&app, "/api/v1/servers/rot", &root, |s| {
        s["health"]["state"] == "up"
    })
    .await;
    let old = sim.fingerprint();
    let new = sim.rotate_certificate("pve1").unwrap();
    let changed = until(&app, "/api/v1/servers/rot", &root, |s| {
        s["health"]["state"] == "certificate_changed"
    })
    .await;
    assert_eq!(changed["health"]["expected"], old);
    assert_eq!(changed["health"]["seen"], new);
    // Calls through the server fail closed meanwhile.
    let check = call(&app, Method::POST, "/api/v1/servers/rot/test", &root, None).await;
    assert_eq!(check.status(), StatusCode::BAD_GATEWAY);
    let bad_pin = call(
        &app,
        Method::POST,
        "/api/v1/servers/rot/pin",
        &root,
        Some(json!({ "member": "pve9", "fingerprint": new })),
    )
    .await;
    assert_eq!(bad_pin.status(), StatusCode::BAD_REQUEST);
    let pin = call(
        &app,
        Method::POST,
        "/api/v1/servers/rot/pin",
        &root,
        Some(json!({ "member": "pve1", "fingerprint": new })),
    )
    .await;
    assert_eq!(pin.status(), StatusCode::OK);
    until(&app, "/api/v1/servers/rot", &root, |s| {
        s["health"]["state"] == "up"
    })
    .await;
    let check = call(&app, Method::POST, "/api/v1/servers/rot/test", &root, None).await;
    assert_eq!(check.status(), StatusCode::OK);
    sim.stop().await;
}

async fn hostile_server_input_is_refused_before_anything_is_contacted(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    for url in [
        "http://127.0.0.1:8006",
        "https://169.254.169.254",
        "https://[::ffff:169.254.169.254]",
        "https://[fd00:ec2::254]:8006",
        "https://[fe80::1]:8006",
        "javascript:alert(1)",
        "https://user:pw@127.0.0.1:8006",
        "https://127.0.0.1:8006/../../etc/passwd",
    ] {
        let probe = call(
            &app,
            Method::POST,
            "/api/v1/servers/probe",
            &root,
            Some(json!({ "url": url })),
        )
        .await;
        assert_eq!(probe.status(), StatusCode::BAD_REQUEST, "{url}");
    }
    let base = json!({
        "id": "x", "name": "X", "url": "https://127.0.0.1:9", "fingerprint": "AA".repeat(32),
        "token_id": "root@pam!t", "token_secret": "s",
    });
    for (field, value) in [
        ("id", json!("../etc")),
        ("id", json!("Robert'); DROP TABLE servers;--")),
        ("name", json!("\u{202e}evil")),
        ("name", json!("")),
        ("fingerprint", json!("not-a-fingerprint")),
        ("token_id", json!("no-bang")),
        ("token_secret", json!("")),
        ("url", json!("https://169.254.169.254")),
    ] {
        let mut body = base.clone();
        body[field] = value.clone();
        let response = call(&app, Method::POST, "/api/v1/servers", &root, Some(body)).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{field} = {value}"
        );
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("sqlx") && !text.contains("panicked"),
            "{text}"
        );
    }
    let mut both = base.clone();
    both["username"] = json!("root@pam");
    both["password"] = json!("pw");
    assert_eq!(
        call(&app, Method::POST, "/api/v1/servers", &root, Some(both))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let mut extra = base;
    extra["is_admin"] = json!(true);
    assert_eq!(
        call(&app, Method::POST, "/api/v1/servers", &root, Some(extra))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert!(
        pmp::servers::store::list(app.portal.db())
            .await
            .unwrap()
            .is_empty(),
        "nothing was written"
    );
}
