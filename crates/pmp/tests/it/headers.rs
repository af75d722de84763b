//! Security headers on every kind of route: page, API, static file, and errors of each kind;
//! request ids; HSTS only over TLS.

use pmp::http::CONTENT_SECURITY_POLICY;
use reqwest::header::HeaderMap;

use crate::support::{Engine, spawn_app, spawn_app_with};

fn assert_security_headers(what: &str, headers: &HeaderMap) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: missing {name}"))
            .to_owned()
    };
    let csp = get("content-security-policy");
    assert_eq!(csp, CONTENT_SECURITY_POLICY, "{what}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(get("cross-origin-opener-policy"), "same-origin", "{what}");
    assert!(get("permissions-policy").contains("camera=()"), "{what}");
    assert!(!get("x-request-id").is_empty(), "{what}");
}

fn static_path(html: &str, prefix: &str) -> String {
    let start = html.find(prefix).expect("asset link");
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

#[tokio::test]
async fn every_route_kind_carries_the_security_headers() {
    let app = spawn_app(Engine::Sqlite).await;

    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert_security_headers("page", page.headers());
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.headers().get("strict-transport-security").is_none());
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script in pages");

    let css = static_path(&html, "/static/app.");
    let asset = app.get(&css).await;
    assert_eq!(asset.status(), 200);
    assert_security_headers("static", asset.headers());
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );

    for (what, path, status) in [
        ("api", "/healthz", 200),
        ("api", "/readyz", 200),
        ("api error", "/api/v1/no-such-thing", 404),
        ("page error", "/no-such-page", 404),
        ("static error", "/static/app.css", 404),
        ("traversal", "/static/..%2f..%2fCargo.toml", 404),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_security_headers(what, response.headers());
    }

    let api_error = app.get("/api/v1/no-such-thing").await;
    let body: serde_json::Value = api_error.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(body["message"].is_string());

    let page_error = app.get("/no-such-page").await;
    assert!(
        page_error.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page_error.text().await.unwrap().contains("Not Found"));

    let wrong_method = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_security_headers("method error", wrong_method.headers());
}

#[tokio::test]
async fn request_ids_are_echoed_when_plain_and_replaced_when_hostile() {
    let app = spawn_app(Engine::Sqlite).await;
    let ok = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.headers()["x-request-id"], "trace-123");
    for hostile in ["<script>alert(1)</script>", &"a".repeat(200), "a b"] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", hostile)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, hostile);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}

#[tokio::test]
async fn tls_termination_serves_https_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let app = spawn_app_with(Engine::Sqlite, |c| {
        c.tls_cert = Some(cert_path.clone());
        c.tls_key = Some(key_path.clone());
    })
    .await;
    assert!(app.base_url.starts_with("https://"));
    let ca = reqwest::Certificate::from_der(certified.cert.der()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve("localhost", app.portal.addr())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/", app.portal.addr().port());
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_security_headers("tls page", response.headers());
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}
