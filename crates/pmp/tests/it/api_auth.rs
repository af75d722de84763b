//! The API's authentication contract on both engines: setup over JSON (with a race), access
//! and refresh tokens, rotation and reuse detection, forged JWTs, and revocation that takes
//! effect on the very next request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pmp::identity::tokens::jwt::{self, Claims};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Engine, PASSWORD, TestApp, spawn_app};

crate::on_both_engines!(
    api_setup_needs_the_token_and_a_race_creates_one_admin,
    tokens_refresh_and_me_follow_the_contract,
    a_spent_refresh_token_revokes_its_family,
    forged_and_expired_access_tokens_are_refused,
    a_disabled_user_is_refused_on_the_next_request,
    bad_bodies_get_json_errors_without_internals,
);

fn setup_token(app: &TestApp) -> String {
    let link = app.portal.setup_link().expect("setup open");
    link.split_once("token=").unwrap().1.to_owned()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
    body["error"].as_str().unwrap().to_owned()
}

async fn api_setup_needs_the_token_and_a_race_creates_one_admin(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = setup_token(&app);
    let wrong = app
        .post_json(
            "/api/v1/setup",
            json!({"setup_token": "guess", "username": "root", "password": PASSWORD}),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let weak = app
        .post_json(
            "/api/v1/setup",
            json!({"setup_token": token, "username": "root", "password": "short"}),
        )
        .await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);

    let attempt = |name: &'static str| {
        app.post_json(
            "/api/v1/setup",
            json!({"setup_token": token, "username": name, "password": PASSWORD}),
        )
    };
    let (a, b) = tokio::join!(attempt("first"), attempt("second"));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    let users = pmp::identity::users::list(app.portal.db()).await.unwrap();
    assert_eq!(users.len(), 1);
    assert!(users[0].is_admin);
    let later = app
        .post_json(
            "/api/v1/setup",
            json!({"setup_token": token, "username": "third", "password": PASSWORD}),
        )
        .await;
    assert_eq!(later.status(), StatusCode::CONFLICT);
    assert!(
        app.event_kinds()
            .await
            .contains(&"setup.completed".to_owned())
    );
}

async fn tokens_refresh_and_me_follow_the_contract(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let wrong = app
        .post_json(
            "/api/v1/auth/token",
            json!({"username": "alice", "password": "not the password"}),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(wrong).await, "invalid_credentials");

    let tokens = app.api_token("alice").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap();
    let me = app.get_bearer("/api/v1/me", access).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["authenticated_by"], "access_token");
    assert_eq!(
        app.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let junk = app.get_bearer("/api/v1/me", "junk").await;
    assert_eq!(junk.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(junk).await, "unauthorized");

    let refreshed = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_bearer("/api/v1/me", access).await.status(),
        StatusCode::OK
    );
    let kinds = app.event_kinds().await;
    assert!(kinds.contains(&"login.failed".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"login.succeeded".to_owned()), "{kinds:?}");
}

async fn a_spent_refresh_token_revokes_its_family(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let first = app.api_token("alice").await;
    let refresh =
        |token: Value| app.post_json("/api/v1/auth/refresh", json!({"refresh_token": token}));
    let second: Value = refresh(first["refresh_token"].clone())
        .await
        .json()
        .await
        .unwrap();
    // The thief replays the first token: refused, and the legitimate successor dies with it.
    let replay = refresh(first["refresh_token"].clone()).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(replay).await, "invalid_refresh_token");
    let successor = refresh(second["refresh_token"].clone()).await;
    assert_eq!(successor.status(), StatusCode::UNAUTHORIZED);
    assert!(
        app.event_kinds()
            .await
            .contains(&"api.refresh_reused".to_owned())
    );
    // Another family of the same user is untouched.
    let other = app.api_token("alice").await;
    assert_eq!(
        refresh(other["refresh_token"].clone()).await.status(),
        StatusCode::OK
    );
    let garbage = refresh(json!("pmr_' OR 1=1 --")).await;
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
}

async fn forged_and_expired_access_tokens_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let user_id = pmp::identity::users::list(app.portal.db()).await.unwrap()[0]
        .id
        .clone();
    let now = pmp::db::now();
    let claims = Claims {
        sub: user_id,
        iat: now,
        exp: now + 600,
        epoch: 0,
    };
    let key = app.jwt_secret();
    let good = jwt::encode(&key, &claims);
    assert_eq!(
        app.get_bearer("/api/v1/me", &good).await.status(),
        StatusCode::OK
    );

    let expired = jwt::encode(
        &key,
        &Claims {
            iat: now - 7200,
            exp: now - 3600,
            ..claims.clone()
        },
    );
    let wrong_key = jwt::encode(b"an attacker's key of 32 bytes or more", &claims);
    let (header, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        rest.split_once('.').unwrap().0
    );
    let forged_payload = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&Claims {
            exp: now + 999_999,
            ..claims.clone()
        })
        .unwrap(),
    );
    let tampered = format!("{header}.{forged_payload}.{signature}");
    let stale_epoch = jwt::encode(
        &key,
        &Claims {
            epoch: 1,
            ..claims.clone()
        },
    );
    for (what, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("alg none", none),
        ("tampered", tampered),
        ("other epoch", stale_epoch),
    ] {
        let response = app.get_bearer("/api/v1/me", &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
}

async fn a_disabled_user_is_refused_on_the_next_request(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let bob = app.create_user("bob", false).await;
    let tokens = app.api_token("bob").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let cookie = app.sign_in("bob").await;
    let (_, api_token) =
        pmp::identity::tokens::api_tokens::create(app.portal.db(), &bob, "script", None, None)
            .await
            .unwrap()
            .unwrap();
    for credential in [&access, &api_token] {
        assert_eq!(
            app.get_bearer("/api/v1/me", credential).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        app.get_with("/api/v1/me", &cookie).await.status(),
        StatusCode::OK
    );

    pmp::identity::users::update(app.portal.db(), &bob, false, true)
        .await
        .unwrap();
    for credential in [&access, &api_token] {
        let response = app.get_bearer("/api/v1/me", credential).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.get_with("/api/v1/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    let login = app
        .post_json(
            "/api/v1/auth/token",
            json!({"username": "bob", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
}

async fn bad_bodies_get_json_errors_without_internals(engine: Engine) {
    let app = spawn_app(engine).await;
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/token"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type) in [
        ("{not json", "application/json"),
        (r#"{"username": 5, "password": []}"#, "application/json"),
        (r#"{"username": "a"}"#, "application/json"),
        ("username=a&password=b", "application/x-www-form-urlencoded"),
    ] {
        let response = send(body, content_type).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("line 1") && !text.contains("serde"),
            "{text}"
        );
        assert!(text.contains("\"error\":\"bad_request\""), "{text}");
    }
    let huge = format!(
        r#"{{"username": "{}", "password": "x"}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let hostile = app
        .post_json(
            "/api/v1/auth/token",
            json!({"username": "admin'; DROP TABLE users; --\u{202e}<script>", "password": "x\u{0}"}),
        )
        .await;
    assert_eq!(hostile.status(), StatusCode::UNAUTHORIZED);
    assert!(pmp::identity::users::list(app.portal.db()).await.is_ok());
}
