//! `/metrics` in Prometheus text format: off by default, refused (and audited) without the
//! token or an allowed address, and once in, counting requests by route template (never a
//! raw path or query string), sign-ins, PVE calls per server with their failures, jobs by
//! state, alerts firing and the inventory.

use std::time::Duration;

use pve_sim::Fault;
use reqwest::StatusCode;

use crate::pve::{add_server, sim, token, until};
use crate::support::{Engine, TestApp, spawn_app, spawn_app_with};

crate::on_both_engines!(scrapes_count_requests_logins_pve_calls_and_database_state);

const TOKEN: &str = "scrape-token-0123456789abcdef";

async fn scrape(app: &TestApp, bearer: Option<&str>) -> reqwest::Response {
    let request = app.client.get(app.url("/metrics"));
    let request = match bearer {
        Some(t) => request.bearer_auth(t),
        None => request,
    };
    request.send().await.unwrap()
}

/// The value of the first sample whose line starts with `name{` and has every label given.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[tokio::test]
async fn metrics_are_off_unless_configured() {
    let app = spawn_app(Engine::Sqlite).await;
    assert_eq!(scrape(&app, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        scrape(&app, Some(TOKEN)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_allowed_address_scrapes_without_a_token() {
    let app = spawn_app_with(Engine::Sqlite, |c| {
        c.metrics_allow = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let answer = scrape(&app, None).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("# TYPE pmp_jobs gauge")
    );
}

async fn scrapes_count_requests_logins_pve_calls_and_database_state(engine: Engine) {
    let app = spawn_app_with(engine, |c| {
        c.metrics_token = Some(pmp::config::SecretValue(TOKEN.to_owned()));
        // The test connects from 127.0.0.1, which this does not cover: the token decides.
        c.metrics_allow = vec!["192.0.2.0/24".parse().unwrap()];
        c.inventory_idle_secs = 1;
        c.inventory_busy_ms = 150;
    })
    .await;
    app.create_admin("root").await;

    // Refused without the token, with a wrong one and with a prefix of the right one, and
    // each refusal is in the audit trail.
    for bearer in [None, Some("wrong"), Some(&TOKEN[..20])] {
        let answer = scrape(&app, bearer).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        let body = answer.text().await.unwrap();
        assert!(!body.contains("pmp_"), "{body}");
    }
    let refusals = crate::support::scalar(
        app.portal.db(),
        "SELECT COUNT(*) FROM security_events WHERE kind = 'access.denied' AND detail LIKE '%scrape refused%'",
    )
    .await;
    assert_eq!(refusals, 3);

    // One failed and one successful sign-in.
    let failed = app
        .post_json(
            "/api/v1/auth/token",
            serde_json::json!({"username": "root", "password": "not the password"}),
        )
        .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let root = token(&app, "root").await;

    let sim = sim("mx", 8).await;
    add_server(&app, &root, &sim, "mx").await;
    until(&app, "/api/v1/guests?q=secretmarker", &root, |_| true).await;
    until(&app, "/api/v1/guests", &root, |p| p["total"] == 8).await;
    let _ = app.get("/nope/%3Cscript%3E").await;

    // PVE failing: the poller's calls are counted with the kind of failure.
    sim.set_fault(
        None,
        Fault {
            fail_next: 50,
            ..Fault::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    sim.clear_faults();

    let answer = scrape(&app, Some(TOKEN)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = answer.text().await.unwrap();
    let requests = sample(
        &text,
        "pmp_http_requests_total",
        &[
            "method=\"GET\"",
            "route=\"/api/v1/guests\"",
            "status=\"200\"",
        ],
    );
    assert!(requests >= Some(2.0), "{text}");
    assert!(
        sample(
            &text,
            "pmp_http_request_duration_seconds_bucket",
            &["route=\"/api/v1/guests\"", "le=\"+Inf\""]
        ) >= Some(2.0)
    );
    assert_eq!(
        sample(&text, "pmp_logins_total", &["outcome=\"failure\""]),
        Some(1.0)
    );
    assert!(sample(&text, "pmp_logins_total", &["outcome=\"success\""]) >= Some(1.0));
    assert!(
        sample(
            &text,
            "pmp_security_events_total",
            &["kind=\"access.denied\""]
        ) >= Some(3.0)
    );
    assert!(
        sample(
            &text,
            "pmp_pve_requests_total",
            &["server=\"mx\"", "outcome=\"ok\""]
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "pmp_pve_requests_total",
            &["server=\"mx\"", "outcome=\"api\""]
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "pmp_pve_request_duration_seconds_count",
            &["server=\"mx\""]
        ) >= Some(2.0)
    );
    assert!(
        sample(&text, "pmp_jobs", &["state=\"queued\""]).is_some(),
        "{text}"
    );
    assert!(sample(&text, "pmp_alerts_firing", &["rule=\"job_failed\""]).is_some());
    assert_eq!(
        sample(&text, "pmp_inventory_guests", &["server=\"mx\""]),
        Some(8.0)
    );
    assert!(sample(&text, "pmp_servers", &["health=\"up\""]).is_some());
    // Route templates only: no ids, no query strings, nothing a caller typed.
    assert!(text.contains("route=\"<unmatched>\""), "{text}");
    for leak in [
        "secretmarker",
        "<script>",
        "%3Cscript",
        TOKEN,
        "/api/v1/guests/mx/",
    ] {
        assert!(!text.contains(leak), "{leak} leaked into the metrics");
    }
}
