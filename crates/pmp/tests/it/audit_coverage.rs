//! Every state-changing route leaves an audit entry, enumerated from the route table: each
//! method other than GET is called by an administrator (API routes with a bearer token, pages
//! with the session cookie and its CSRF token) under a request id of the test's choosing, and
//! the audit trail must then hold an entry with that request id, naming the route's outcome.

use std::collections::BTreeMap;

use reqwest::Method;

use crate::support::{Engine, TestApp, spawn_app};

crate::on_both_engines!(every_state_changing_route_leaves_an_audit_entry);

/// `path` with every `{param}` replaced by a well-formed id that names nothing.
fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-4000-8000-000000000000")
        .replace("{user_id}", "00000000-0000-4000-8000-000000000001")
        .replace("{server}", "nowhere")
        .replace("{vmid}", "100")
        .replace("{node}", "pve1")
        .replace("{storage}", "local")
        .replace("{snapshot}", "before-upgrade")
        .replace("{action}", "start")
        .replace("{change}", "pause")
        .replace("{file}", "missing.css")
}

/// The session's CSRF token, read from a page that carries it in a form.
pub async fn csrf(app: &TestApp, cookie: &str) -> String {
    let html = app
        .get_with("/account/password", cookie)
        .await
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[derive(Debug, sqlx::FromRow)]
struct Entry {
    kind: String,
    outcome: String,
    actor: String,
    user_id: Option<String>,
}

async fn entries_of(app: &TestApp, request_id: &str) -> Vec<Entry> {
    const SQL: &str =
        "SELECT kind, outcome, actor, user_id FROM security_events WHERE request_id = $1";
    match app.portal.db() {
        pmp::db::Db::Postgres(p) => sqlx::query_as(SQL).bind(request_id).fetch_all(p).await,
        pmp::db::Db::Sqlite(p) => sqlx::query_as(SQL).bind(request_id).fetch_all(p).await,
    }
    .unwrap()
}

async fn every_state_changing_route_leaves_an_audit_entry(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    let (_, table) = pmp::app::route_table().into_parts();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut checked = 0;
    let mut attributed = 0;
    for route in &table {
        for method in route.methods.iter().filter(|m| **m != "GET") {
            let path = concrete(route.path);
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let request_id = format!("cover-{checked}");
            // Fresh credentials each time: a route may sign its caller out.
            let request = app
                .client
                .request(method.clone(), app.url(&path))
                .header("x-request-id", &request_id)
                .header("sec-fetch-site", "same-origin");
            let request = if path.starts_with("/api/") {
                let token = app.api_token("root").await["access_token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                request.bearer_auth(token).json(&serde_json::json!({}))
            } else {
                let cookie = app.sign_in("root").await;
                let csrf = csrf(&app, &cookie).await;
                request.header("cookie", cookie).form(&[("csrf", csrf)])
            };
            let status = request.send().await.unwrap().status();
            let entries = entries_of(&app, &request_id).await;
            assert!(
                !entries.is_empty(),
                "{method} {} answered {status} and left no audit entry",
                route.path
            );
            for entry in &entries {
                assert!(
                    ["success", "failure", "denied"].contains(&entry.outcome.as_str()),
                    "{method} {}: {entry:?}",
                    route.path
                );
                // Everything past sign-in is attributed to the administrator.
                if entry.kind != "login.succeeded" && entry.kind != "login.failed" {
                    assert!(
                        entry.actor == "user" || entry.actor == "anonymous",
                        "{entry:?}"
                    );
                }
            }
            if status.is_success() || status.is_redirection() {
                assert!(
                    entries.iter().any(|e| e.outcome == "success"),
                    "{method} {} answered {status}: {entries:?}",
                    route.path
                );
            }
            attributed += usize::from(entries.iter().any(|e| e.user_id.is_some()));
            *outcomes.entry(entries[0].outcome.clone()).or_default() += 1;
            checked += 1;
        }
    }
    assert!(checked >= 60, "{checked} state-changing method/route pairs");
    assert!(
        attributed * 2 > checked,
        "only {attributed} of {checked} entries name the administrator"
    );
    println!("{checked} state-changing method/route pairs audited: {outcomes:?}");
}
