//! The authorization matrix, on both engines, over two simulated servers: three tenants, an
//! operator of one server, a viewer and an auditor of everything. For every guest route (from
//! the route table) × principal × owned, foreign and nonexistent guest, and every server route
//! × principal × granted, other and nonexistent server, the answer is what the roles say:
//! allowed, 403 when the resource is visible but the privilege is missing, 404 when it is not
//! visible (exactly like one that does not exist), and each refusal leaves an audit entry.
//! Foreign ids in bodies, queries and nested names (snapshots) answer 404 too. Lists and
//! counts show only what each may see.

use std::collections::BTreeMap;

use pmp::access::Privilege;
use pmp::access::routes::Access;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::pve::{add_server, fast_app, grant, sim, token, until};
use crate::support::{Engine, call, get_json, queued};

crate::on_both_engines!(every_guest_route_answers_each_principal_as_its_roles_say,);

/// What a principal holds, per server, or on one guest.
#[derive(Clone)]
enum Reach {
    /// These privileges on one guest.
    Guest(&'static str, u64, &'static [Privilege]),
    /// These privileges on every guest of these servers.
    Servers(&'static [&'static str], &'static [Privilege]),
}

const TENANT: &[Privilege] = &[
    Privilege::GuestView,
    Privilege::GuestPower,
    Privilege::GuestConsole,
    Privilege::GuestSnapshot,
    Privilege::GuestBackup,
    Privilege::JobView,
];
const OPERATOR: &[Privilege] = &[
    Privilege::GuestView,
    Privilege::GuestPower,
    Privilege::GuestConsole,
    Privilege::GuestSnapshot,
    Privilege::GuestBackup,
    Privilege::GuestConfig,
    Privilege::GuestClone,
    Privilege::GuestMigrate,
    Privilege::ServerView,
];
const VIEW: &[Privilege] = &[Privilege::GuestView, Privilege::ServerView];

fn holds(reach: &Reach, server: &str, vmid: u64, privilege: Privilege) -> bool {
    match reach {
        Reach::Guest(s, v, privs) => *s == server && *v == vmid && privs.contains(&privilege),
        Reach::Servers(servers, privs) => servers.contains(&server) && privs.contains(&privilege),
    }
}

async fn every_guest_route_answers_each_principal_as_its_roles_say(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    let (alpha, beta) = (sim("alpha", 10).await, sim("beta", 10).await);
    add_server(&app, &root, &alpha, "alpha").await;
    add_server(&app, &root, &beta, "beta").await;
    let all = until(&app, "/api/v1/guests?per_page=500", &root, |p| {
        p["total"] == 20
    })
    .await;
    let stopped = |server: &str| -> Vec<u64> {
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["server"] == server && g["template"] == false)
            .filter_map(|g| g["vmid"].as_u64())
            .collect()
    };
    let (a, b) = (stopped("alpha"), stopped("beta"));
    let guests = [("alpha", a[0]), ("alpha", a[1]), ("beta", b[0])];
    let people: Vec<(&str, &str, &str, Reach)> = vec![
        (
            "tenant1",
            "tenant",
            "guest0",
            Reach::Guest("alpha", guests[0].1, TENANT),
        ),
        (
            "tenant2",
            "tenant",
            "guest1",
            Reach::Guest("alpha", guests[1].1, TENANT),
        ),
        (
            "tenant3",
            "tenant",
            "guest2",
            Reach::Guest("beta", guests[2].1, TENANT),
        ),
        (
            "operator",
            "operator",
            "/servers/alpha",
            Reach::Servers(&["alpha"], OPERATOR),
        ),
        (
            "viewer",
            "viewer",
            "/",
            Reach::Servers(&["alpha", "beta"], VIEW),
        ),
        (
            "auditor",
            "auditor",
            "/",
            Reach::Servers(&["alpha", "beta"], VIEW),
        ),
    ];
    let mut tokens = BTreeMap::new();
    for (name, role, path, _) in &people {
        let id = app.create_user(name, false).await;
        let path = match *path {
            "guest0" => format!("/guests/alpha/{}", guests[0].1),
            "guest1" => format!("/guests/alpha/{}", guests[1].1),
            "guest2" => format!("/guests/beta/{}", guests[2].1),
            p => p.to_owned(),
        };
        grant(&app, &root, &id, &path, role).await;
        tokens.insert(*name, token(&app, name).await);
    }
    let (_, table) = pmp::app::route_table().into_parts();
    let routes: Vec<(Method, &str, Privilege)> = table
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/guests/{server}/{vmid}"))
        .flat_map(|r| {
            let Access::OnGuest(p) = r.access else {
                panic!("{} declares no guest privilege", r.path)
            };
            r.methods
                .iter()
                .map(move |m| (Method::from_bytes(m.as_bytes()).unwrap(), r.path, p))
        })
        .collect();
    let mut cells = 0;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, _, _, reach) in &people {
        let bearer = &tokens[name];
        let targets = guests
            .iter()
            .map(|(s, v)| (*s, *v, true))
            .chain([("alpha", 99_999, false)]);
        for (server, vmid, exists) in targets {
            for (method, template, privilege) in &routes {
                let path = template
                    .replace("{server}", server)
                    .replace("{vmid}", &vmid.to_string())
                    .replace("{action}", "start")
                    .replace("{snapshot}", "nosuch");
                let body = (*method != Method::GET).then(|| json!({}));
                let status = call(&app, method.clone(), &path, bearer, body)
                    .await
                    .status();
                let sees = exists && holds(reach, server, vmid, Privilege::GuestView);
                let verdict = if !sees {
                    "hidden"
                } else if holds(reach, server, vmid, *privilege) {
                    "allowed"
                } else {
                    "forbidden"
                };
                let ok = as_expected(verdict, status, template.contains("{snapshot}"));
                assert!(
                    ok,
                    "{name} {method} {path}: expected {verdict}, got {status}"
                );
                *counts.entry(verdict).or_default() += 1;
                cells += 1;
            }
        }
        // Lists and counts: exactly the visible guests, and servers only where granted.
        let list = get_json(&app, "/api/v1/guests?per_page=500", bearer).await;
        let expected = match reach {
            Reach::Guest(..) => 1,
            Reach::Servers(servers, _) => servers.len() * 10,
        };
        assert_eq!(list["total"], expected, "{name} sees {}", list["total"]);
        let servers = get_json(&app, "/api/v1/servers", bearer).await;
        let server_count = if matches!(reach, Reach::Guest(..)) {
            0
        } else {
            expected / 10
        };
        assert_eq!(
            servers.as_array().unwrap().len(),
            server_count,
            "{name}: {servers}"
        );
    }
    // Server routes: visible with server.view there, managed by nobody here.
    let server_routes: Vec<(Method, &str, Privilege)> = table
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/servers/{server}"))
        .flat_map(|r| {
            let Access::OnServer(p) = r.access else {
                panic!("{} declares no server privilege", r.path)
            };
            r.methods
                .iter()
                .map(move |m| (Method::from_bytes(m.as_bytes()).unwrap(), r.path, p))
        })
        .collect();
    for (name, _, _, reach) in &people {
        for server in ["alpha", "beta", "nowhere"] {
            for (method, template, privilege) in &server_routes {
                let path = template
                    .replace("{server}", server)
                    .replace("{node}", "pve1")
                    .replace("{storage}", "local");
                let body = (*method != Method::GET).then(|| json!({}));
                let status = call(&app, method.clone(), &path, &tokens[name], body)
                    .await
                    .status();
                let holds = |p: Privilege| matches!(reach, Reach::Servers(servers, privs) if servers.contains(&server) && privs.contains(&p));
                let verdict = if !holds(Privilege::ServerView) {
                    "hidden"
                } else if holds(*privilege) {
                    "allowed"
                } else {
                    "forbidden"
                };
                let ok = as_expected(verdict, status, false);
                assert!(
                    ok,
                    "{name} {method} {path}: expected {verdict}, got {status}"
                );
                *counts.entry(verdict).or_default() += 1;
                cells += 1;
            }
        }
    }
    // Foreign ids in bodies and queries, and a foreign snapshot name on one's own guest.
    let denials = || async {
        app.event_kinds()
            .await
            .iter()
            .filter(|k| *k == "access.denied")
            .count()
    };
    let before = denials().await;
    let tenant1 = &tokens["tenant1"];
    let foreign = json!([{ "server": "beta", "vmid": guests[2].1 }]);
    let bulk = call(
        &app,
        Method::POST,
        "/api/v1/guests/bulk",
        tenant1,
        Some(json!({ "op": "power", "action": "start", "guests": foreign })),
    )
    .await;
    assert_eq!(bulk.status(), StatusCode::NOT_FOUND);
    let schedule = json!({ "name": "x", "cron": "* * * * *", "timezone": "UTC", "action": { "op": "power", "action": "start", "guests": foreign } });
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/schedules",
            tenant1,
            Some(schedule)
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_json(&app, "/api/v1/guests?server=beta", tenant1).await["total"],
        0
    );
    let theirs = format!("/api/v1/guests/beta/{}/snapshots", guests[2].1);
    let job = queued(
        &app,
        Method::POST,
        &theirs,
        &root,
        Some(json!({ "name": "only_theirs" })),
    )
    .await;
    assert_eq!(
        crate::pve::job_end(&app, &root, &job).await["state"],
        "succeeded"
    );
    let mine = format!("/api/v1/guests/alpha/{}/snapshots/only_theirs", guests[0].1);
    assert_eq!(
        call(&app, Method::DELETE, &mine, tenant1, None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("{mine}/rollback"),
            tenant1,
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        denials().await >= before + 4,
        "bulk, schedule and both snapshot refusals are audited"
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("{theirs}/only_theirs"),
            &tokens["tenant3"],
            None
        )
        .await
        .status(),
        StatusCode::ACCEPTED,
        "its owner may"
    );
    // Every refusal left an audit entry.
    let denied = app
        .event_kinds()
        .await
        .iter()
        .filter(|k| *k == "access.denied")
        .count();
    let refusals =
        counts.get("hidden").copied().unwrap_or(0) + counts.get("forbidden").copied().unwrap_or(0);
    assert!(
        denied >= refusals,
        "{denied} access.denied events for {refusals} refusals"
    );
    // Jobs: each tenant sees their own only.
    for (name, ..) in people.iter().take(3) {
        let jobs = get_json(&app, "/api/v1/jobs?limit=500", &tokens[name]).await;
        let mine: Value = get_json(&app, "/api/v1/me", &tokens[name]).await;
        assert!(
            jobs["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|j| j["created_by"] == mine["id"]),
            "{name} sees others' jobs"
        );
    }
    println!(
        "authorization matrix: {cells} cells ({} guest routes x {} principals x 4 guests + {} server routes x {} principals x 3 servers): {counts:?}",
        routes.len(),
        people.len(),
        server_routes.len(),
        people.len()
    );
    assert!(routes.len() >= 10, "every guest route is in the matrix");
    assert_eq!(
        cells,
        (routes.len() * 4 + server_routes.len() * 3) * people.len()
    );
    alpha.stop().await;
    beta.stop().await;
}

/// Whether `status` is what a cell's `verdict` calls for. An allowed call on a nested name
/// the guest does not have (`nested_absent`: a snapshot resolved through its guest) is 404.
fn as_expected(verdict: &str, status: StatusCode, nested_absent: bool) -> bool {
    match verdict {
        "hidden" => status == StatusCode::NOT_FOUND,
        "forbidden" => status == StatusCode::FORBIDDEN,
        _ if nested_absent => status == StatusCode::NOT_FOUND,
        _ => ![
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
        ]
        .contains(&status),
    }
}
