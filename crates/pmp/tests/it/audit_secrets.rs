//! No secret reaches the audit trail or the logs. A run uses every kind of secret the portal
//! handles (passwords right and wrong, access and refresh tokens, a replayed refresh token, a
//! personal API token, a session cookie and its CSRF token, a TOTP seed and recovery code, a
//! PVE token secret, a secret in a query string), while every log line is captured as JSON;
//! then the audit table and the log are searched for each of those secrets.

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Engine, PASSWORD, TestApp, call};

/// Every log line written while the test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn audit_text(app: &TestApp) -> String {
    const SQL: &str = "SELECT kind, COALESCE(user_id, ''), COALESCE(username, ''), ip, user_agent, \
        detail, actor, target, outcome, request_id FROM security_events";
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    );
    let rows: Vec<Row> = match app.portal.db() {
        pmp::db::Db::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await,
        pmp::db::Db::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await,
    }
    .unwrap();
    format!("{rows:?}")
}

async fn post(app: &TestApp, path: &str, bearer: Option<&str>, body: Value) -> reqwest::Response {
    let request = app.client.post(app.url(path)).json(&body);
    let request = match bearer {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

#[tokio::test]
async fn no_secret_reaches_the_audit_trail_or_the_log() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter("pmp=trace,pve=trace,sqlx=debug,tower_http=debug,pve_sim=warn,info")
        .with_writer(move || writer.clone())
        .init();
    let app = crate::pve::fast_app(Engine::Sqlite).await;
    app.create_admin("root").await;
    let wrong_password = "Wrong-Horse-Battery-42!";
    let failed = post(
        &app,
        "/api/v1/auth/token",
        None,
        json!({"username": "root", "password": wrong_password}),
    )
    .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let pair = app.api_token("root").await;
    let first_refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let renewed: Value = post(
        &app,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": first_refresh}),
    )
    .await
    .json()
    .await
    .unwrap();
    // Replaying the spent refresh token is refused, recorded, and revokes the family.
    let replay = post(
        &app,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": first_refresh}),
    )
    .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let access = app.api_token("root").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created: Value = post(&app, "/api/v1/tokens", Some(&access), json!({"name": "ci"}))
        .await
        .json()
        .await
        .unwrap();
    let api_token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_bearer("/api/v1/me", &api_token).await.status(), 200);
    // A secret where it does not belong, in a query string: the access log names the route.
    let leaky = format!("/api/v1/jobs?state=running&token={api_token}");
    assert_eq!(app.get_bearer(&leaky, &access).await.status(), 200);
    let sim = crate::pve::sim("alpha", 4).await;
    crate::pve::add_server(&app, &access, &sim, "alpha").await;
    let cookie = app.sign_in("root").await;
    let (seed, recovery) = crate::account::enrol(&app, "root").await;
    let new_password = "An-Entirely-New-Passphrase-77";
    let changed = call(
        &app,
        Method::POST,
        "/api/v1/me/password",
        &access,
        Some(json!({"current_password": PASSWORD, "new_password": new_password})),
    )
    .await;
    assert!(changed.status().is_success(), "{}", changed.status());

    let session = cookie.split_once('=').unwrap().1.to_owned();
    let secrets = [
        ("the right password", PASSWORD.to_owned()),
        ("a wrong password", wrong_password.to_owned()),
        ("the new password", new_password.to_owned()),
        ("an access token", access.clone()),
        (
            "a renewed access token",
            renewed["access_token"].as_str().unwrap().to_owned(),
        ),
        ("a spent refresh token", first_refresh),
        (
            "a live refresh token",
            renewed["refresh_token"].as_str().unwrap().to_owned(),
        ),
        ("a personal API token", api_token),
        ("a session cookie", session),
        ("a TOTP seed", seed),
        ("a recovery code", recovery[0].clone()),
        ("a PVE token secret", sim.token_secret().to_owned()),
    ];
    let audit = audit_text(&app).await;
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("\"route\":\"/api/v1/jobs\""), "no access line");
    assert!(
        log.contains("\"request_id\""),
        "access lines carry the request id"
    );
    assert!(audit.contains("api.refresh_reused"), "{audit}");
    for (what, secret) in &secrets {
        assert!(secret.len() >= 6, "{what} is too short to search for");
        assert!(
            !audit.contains(secret.as_str()),
            "{what} is in the audit trail"
        );
        assert!(!log.contains(secret.as_str()), "{what} is in the log");
    }
    println!(
        "{} secrets searched in {} bytes of audit trail and {} bytes of log: none found",
        secrets.len(),
        audit.len(),
        log.len()
    );
}
