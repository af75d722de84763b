//! Own-account features on both engines: TOTP enrolment, sign-in with a second factor,
//! replay refusal, recovery codes, password change, and API tokens with CSRF on cookies.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Engine, PASSWORD, TestApp, spawn_app};

crate::on_both_engines!(
    totp_enrolment_then_sign_in_refuses_replays_and_accepts_recovery_codes,
    password_change_needs_the_current_password_and_ends_other_sessions,
    api_tokens_are_shown_once_owner_scoped_and_revocable,
    cookie_requests_need_csrf_even_with_an_authorization_header,
);

fn code_at(secret: &str, offset: i64) -> String {
    let at = u64::try_from(pmp::db::now() + offset).unwrap();
    pmp::identity::second_factor::totp::code_for(secret, at).unwrap()
}

async fn bearer_post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Enrols TOTP for `username` through the API; returns the base32 secret.
pub async fn enrol(app: &TestApp, username: &str) -> (String, Vec<String>) {
    let access = app.api_token(username).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let started: Value = bearer_post(app, "/api/v1/me/totp", &access, json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = started["secret"].as_str().unwrap().to_owned();
    assert!(
        started["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(started["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let wrong = bearer_post(
        app,
        "/api/v1/me/totp/confirm",
        &access,
        json!({"code": "000000"}),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let confirmed = bearer_post(
        app,
        "/api/v1/me/totp/confirm",
        &access,
        json!({"code": code_at(&secret, 0)}),
    )
    .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let body: Value = confirmed.json().await.unwrap();
    let codes: Vec<String> = serde_json::from_value(body["recovery_codes"].clone()).unwrap();
    (secret, codes)
}

async fn login_with(app: &TestApp, code: Option<&str>) -> reqwest::Response {
    let mut body = json!({"username": "alice", "password": PASSWORD});
    if let Some(code) = code {
        body["totp_code"] = json!(code);
    }
    app.post_json("/api/v1/auth/token", body).await
}

async fn totp_enrolment_then_sign_in_refuses_replays_and_accepts_recovery_codes(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let (secret, codes) = enrol(&app, "alice").await;
    assert_eq!(codes.len(), 10);
    // The seed is stored encrypted: its base32 form appears nowhere in the row.
    let stored: String = pmp::with_pool!(app.portal.db(), pool => sqlx::query_scalar("SELECT secret_enc FROM totp")
        .fetch_one(pool).await.unwrap());
    assert!(!stored.contains(&secret) && stored.starts_with("v1."));

    let missing = login_with(&app, None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "totp_required");
    // The confirmation spent the current step; the next step's code (within the skew) works once.
    let next = code_at(&secret, 30);
    assert_eq!(login_with(&app, Some(&next)).await.status(), StatusCode::OK);
    assert_eq!(
        login_with(&app, Some(&next)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // An older code is a replay as well.
    assert_eq!(
        login_with(&app, Some(&code_at(&secret, 0))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let recovery = codes[0].to_uppercase();
    assert_eq!(
        login_with(&app, Some(&recovery)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login_with(&app, Some(&recovery)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let kinds = app.event_kinds().await;
    for kind in ["totp.enabled", "totp.replayed", "totp.recovery_code_used"] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} in {kinds:?}");
    }
    // Re-enrolling over a working factor is refused.
    let access = login_with(&app, Some(&codes[1]))
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = bearer_post(&app, "/api/v1/me/totp", &access, json!({})).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let off = bearer_post(
        &app,
        "/api/v1/me/totp/disable",
        &access,
        json!({"password": "wrong password!"}),
    )
    .await;
    assert_eq!(off.status(), StatusCode::UNAUTHORIZED);
    let off = bearer_post(
        &app,
        "/api/v1/me/totp/disable",
        &access,
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    assert_eq!(login_with(&app, None).await.status(), StatusCode::OK);
}

async fn password_change_needs_the_current_password_and_ends_other_sessions(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let other_session = app.sign_in("alice").await;
    let access = app.api_token("alice").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let change = |current: &'static str, new: &'static str| {
        bearer_post(
            &app,
            "/api/v1/me/password",
            &access,
            json!({"current_password": current, "new_password": new}),
        )
    };
    assert_eq!(
        change("wrong password here", "a brand new passphrase")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        change(PASSWORD, "password1234").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        change(PASSWORD, "a brand new passphrase").await.status(),
        StatusCode::NO_CONTENT
    );
    // Every other credential of the person ends: the other browser and the access token used.
    assert_eq!(
        app.get_with("/api/v1/me", &other_session).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_bearer("/api/v1/me", &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let new = app
        .post_json(
            "/api/v1/auth/token",
            json!({"username": "alice", "password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(new.status(), StatusCode::OK);
    assert!(
        app.event_kinds()
            .await
            .contains(&"password.changed".to_owned())
    );
}

async fn api_tokens_are_shown_once_owner_scoped_and_revocable(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    app.create_user("bob", false).await;
    let alice = app.api_token("alice").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = bearer_post(
        &app,
        "/api/v1/tokens",
        &alice,
        json!({"name": "<script>alert(1)</script>", "expires_in_days": 30}),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pmp_"));
    let me: Value = app
        .get_bearer("/api/v1/me", &secret)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["authenticated_by"], "api_token");
    let list = app
        .get_bearer("/api/v1/tokens", &alice)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !list.contains(&secret) && list.contains("last_used_at"),
        "{list}"
    );
    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "expires_in_days": 0}),
        json!({"name": "a\u{202e}b"}),
    ] {
        let response = bearer_post(&app, "/api/v1/tokens", &alice, bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    // Bob cannot see or revoke Alice's token: 404, as for one that does not exist.
    let bob = app.api_token("bob").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = created["id"].as_str().unwrap();
    for (who, path) in [
        (&bob, format!("/api/v1/tokens/{id}")),
        (&alice, "/api/v1/tokens/../../users".to_owned()),
        (&alice, "/api/v1/tokens/1%27%20OR%201=1".to_owned()),
    ] {
        let response = app
            .client
            .delete(app.url(&path))
            .bearer_auth(who)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let gone = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_bearer("/api/v1/me", &secret).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let kinds = app.event_kinds().await;
    assert!(
        kinds.contains(&"api_token.created".to_owned())
            && kinds.contains(&"api_token.revoked".to_owned())
    );
}

fn csrf_of(html: &str) -> String {
    let rest = html.split("name=\"csrf\" value=\"").nth(1).unwrap();
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn cookie_requests_need_csrf_even_with_an_authorization_header(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let cookie = app.sign_in("alice").await;
    let csrf = csrf_of(
        &app.get_with("/account/tokens", &cookie)
            .await
            .text()
            .await
            .unwrap(),
    );
    let attempt =
        |origin: &'static str, authorization: Option<&'static str>, token: Option<&str>| {
            let mut request = app
                .client
                .post(app.url("/api/v1/tokens"))
                .header("cookie", &cookie)
                .header("origin", origin)
                .json(&json!({"name": "ci"}));
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            if let Some(token) = token {
                request = request.header("x-csrf-token", token);
            }
            request.send()
        };
    let same = app.base_url.clone();
    let same: &'static str = Box::leak(same.into_boxed_str());
    for (origin, authorization, token) in [
        ("https://evil.example", None, None),
        ("https://evil.example", Some("Bearer junk"), None),
        (
            "https://evil.example",
            Some("Bearer junk"),
            Some(csrf.as_str()),
        ),
        (same, None, None),
        (same, Some("Bearer junk"), Some("wrong")),
    ] {
        let response = attempt(origin, authorization, token).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{origin} {authorization:?} {token:?}"
        );
    }
    assert!(app.event_kinds().await.contains(&"csrf.refused".to_owned()));
    let ok = attempt(same, None, Some(&csrf)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    // Safe methods need no token.
    assert_eq!(
        app.get_with("/api/v1/tokens", &cookie).await.status(),
        StatusCode::OK
    );
}
