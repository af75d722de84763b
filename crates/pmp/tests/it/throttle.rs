//! Throttling under load and behind proxies, on both engines: a flood from one address is
//! answered 429 while another address still signs in; `X-Forwarded-For` tells clients apart
//! only when the connection comes from a trusted proxy; old hashes are upgraded at sign-in.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Engine, PASSWORD, TestApp, spawn_app, spawn_app_with};

crate::on_both_engines!(
    a_flood_from_one_address_is_throttled_while_another_signs_in,
    forwarded_addresses_count_only_from_a_trusted_proxy,
    weak_hashes_are_upgraded_at_sign_in,
);

async fn token_from(app: &TestApp, forwarded: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/token"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"username": "alice", "password": password}))
        .send()
        .await
        .unwrap()
}

async fn a_flood_from_one_address_is_throttled_while_another_signs_in(engine: Engine) {
    let app = spawn_app_with(engine, |config| {
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    app.create_admin("alice").await;
    let statuses = flood(&app, "198.51.100.7", 100).await;
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(throttled + refused, 100, "{statuses:?}");
    assert!(throttled >= 50, "only {throttled} of 100 throttled");
    let from_flood = token_from(&app, "198.51.100.7", PASSWORD).await;
    assert_eq!(from_flood.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(from_flood.headers().contains_key("retry-after"));
    // The account is not locked for everyone: alice signs in from her own address.
    assert_eq!(
        token_from(&app, "203.0.113.20", PASSWORD).await.status(),
        StatusCode::OK
    );
    let kinds = app.event_kinds().await;
    assert!(kinds.contains(&"login.locked".to_owned()), "{kinds:?}");
    let events = pmp::audit::events::recent(app.portal.db(), None, 500)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.ip == "198.51.100.7" && e.kind == "login.failed")
    );
    assert!(
        events
            .iter()
            .any(|e| e.ip == "203.0.113.20" && e.kind == "login.succeeded")
    );
}

/// Sends `n` wrong sign-ins from `forwarded` all at once; their statuses.
async fn flood(app: &TestApp, forwarded: &str, n: usize) -> Vec<StatusCode> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let request = app
            .client
            .post(app.url("/api/v1/auth/token"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"username": "alice", "password": "a wrong password!"}));
        set.spawn(async move { request.send().await.unwrap().status() });
    }
    set.join_all().await
}

async fn forwarded_addresses_count_only_from_a_trusted_proxy(engine: Engine) {
    // No trusted proxy: the header is the client's own claim and is ignored.
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    for i in 0..30 {
        let response = token_from(&app, &format!("198.51.100.{i}"), "a wrong password!").await;
        assert_ne!(response.status(), StatusCode::OK);
    }
    let dodged = token_from(&app, "203.0.113.99", PASSWORD).await;
    assert_eq!(
        dodged.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a spoofed header must not dodge the lock"
    );
    let events = pmp::audit::events::recent(app.portal.db(), None, 100)
        .await
        .unwrap();
    assert!(
        events.iter().all(|e| e.ip == "127.0.0.1"),
        "peer address recorded, never the header"
    );
    // Cookies are Secure and __Host- prefixed when a trusted proxy terminates TLS.
    let proxied = spawn_app_with(engine, |config| {
        config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        config.proxy_tls = true;
    })
    .await;
    proxied.create_admin("alice").await;
    let response = proxied
        .client
        .post(proxied.url("/login"))
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-pmp_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
}

async fn weak_hashes_are_upgraded_at_sign_in(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    // A hash made with weaker parameters (as an older release might have stored).
    let weak = {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let params = argon2::Params::new(4096, 1, 1, None).unwrap();
        let hasher =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        hasher
            .hash_password(PASSWORD.as_bytes(), &salt)
            .unwrap()
            .to_string()
    };
    pmp::with_pool!(app.portal.db(), pool => sqlx::query("UPDATE users SET password_hash = $1")
        .bind(&weak).execute(pool).await.unwrap().rows_affected());
    assert_eq!(
        token_from(&app, "", PASSWORD).await.status(),
        StatusCode::OK
    );
    let stored: String = pmp::with_pool!(app.portal.db(), pool => sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(pool).await.unwrap());
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(
        token_from(&app, "", PASSWORD).await.status(),
        StatusCode::OK
    );
}
