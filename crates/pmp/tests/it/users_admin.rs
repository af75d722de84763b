//! User administration on both engines: only administrators manage users; resets force a new
//! password and revoke everything; demotion and disabling revoke at once; the last
//! administrator stays; the second-factor policy gates sign-in; hostile input is refused.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Engine, PASSWORD, TestApp, call, spawn_app};

crate::on_both_engines!(
    only_administrators_manage_users_and_input_is_checked,
    a_reset_forces_a_new_password_and_revokes_every_credential,
    demotion_revokes_and_the_last_administrator_stays,
    a_required_second_factor_gates_pages_and_api,
);

async fn admin_token(app: &TestApp) -> String {
    app.api_token("root").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn only_administrators_manage_users_and_input_is_checked(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    app.create_user("bob", false).await;
    let bob = app.api_token("bob").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let root = admin_token(&app).await;
    let post = reqwest::Method::POST;
    assert_eq!(
        call(&app, reqwest::Method::GET, "/api/v1/users", &bob, None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let by_bob = call(
        &app,
        post.clone(),
        "/api/v1/users",
        &bob,
        Some(json!({"username": "eve", "is_admin": true})),
    )
    .await;
    assert_eq!(by_bob.status(), StatusCode::FORBIDDEN);
    for bad in [
        "<script>x</script>",
        "admin'--",
        "../etc/passwd",
        "ad\u{202e}min",
        "a",
    ] {
        let response = call(
            &app,
            post.clone(),
            "/api/v1/users",
            &root,
            Some(json!({"username": bad})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let dup = call(
        &app,
        post.clone(),
        "/api/v1/users",
        &root,
        Some(json!({"username": "BOB"})),
    )
    .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let wrong_type = call(
        &app,
        post.clone(),
        "/api/v1/users",
        &root,
        Some(json!({"username": "carol", "is_admin": "yes"})),
    )
    .await;
    assert_eq!(wrong_type.status(), StatusCode::BAD_REQUEST);
    for id in ["nope", "00000000-0000-0000-0000-000000000000", "1 OR 1=1"] {
        let response = call(
            &app,
            reqwest::Method::GET,
            &format!("/api/v1/users/{id}"),
            &root,
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
    let users: Value = call(&app, reqwest::Method::GET, "/api/v1/users", &root, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert!(users.to_string().find("password_hash").is_none());
    // The users page is for administrators only, and escapes what it shows.
    let bob_cookie = app.sign_in("bob").await;
    assert_eq!(
        app.get_with("/users", &bob_cookie).await.status(),
        StatusCode::FORBIDDEN
    );
    let root_cookie = app.sign_in("root").await;
    let page = app
        .get_with("/users", &root_cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-user=\"bob\""));
}

async fn a_reset_forces_a_new_password_and_revokes_every_credential(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    let bob_id = app.create_user("bob", false).await;
    let root = admin_token(&app).await;
    let bob_cookie = app.sign_in("bob").await;
    let bob_tokens = app.api_token("bob").await;
    let reset = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/users/{bob_id}/reset-password"),
        &root,
        None,
    )
    .await;
    assert_eq!(reset.status(), StatusCode::OK);
    let temporary = reset.json::<Value>().await.unwrap()["temporary_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get_with("/api/v1/me", &bob_cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let access = bob_tokens["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_bearer("/api/v1/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refresh_token": bob_tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.post_json(
            "/api/v1/auth/token",
            json!({"username": "bob", "password": PASSWORD})
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );
    // With the temporary password bob may do one thing: choose his own.
    let tokens: Value = app
        .post_json(
            "/api/v1/auth/token",
            json!({"username": "bob", "password": temporary}),
        )
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let me: Value = app
        .get_bearer("/api/v1/me", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["must_change_password"], true);
    assert_eq!(
        app.get_bearer("/api/v1/tokens", access).await.status(),
        StatusCode::FORBIDDEN
    );
    let page = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "bob"), ("password", temporary.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["location"], "/account/password");
    let change = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/me/password",
        access,
        Some(
            json!({"current_password": temporary, "new_password": "a private passphrase of mine"}),
        ),
    )
    .await;
    assert_eq!(change.status(), StatusCode::NO_CONTENT);
    let fresh = app
        .post_json(
            "/api/v1/auth/token",
            json!({"username": "bob", "password": "a private passphrase of mine"}),
        )
        .await;
    let fresh = fresh.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get_bearer("/api/v1/tokens", &fresh).await.status(),
        StatusCode::OK
    );
    assert!(
        app.event_kinds()
            .await
            .contains(&"password.reset".to_owned())
    );
}

async fn demotion_revokes_and_the_last_administrator_stays(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    let carol = app.create_user("carol", true).await;
    let root = admin_token(&app).await;
    let carol_cookie = app.sign_in("carol").await;
    let (_, carol_api) =
        pmp::identity::tokens::api_tokens::create(app.portal.db(), &carol, "job", None, None)
            .await
            .unwrap()
            .unwrap();
    let patch = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{carol}"),
        &root,
        Some(json!({"is_admin": false})),
    )
    .await;
    assert_eq!(patch.status(), StatusCode::OK);
    assert_eq!(
        app.get_with("/api/v1/me", &carol_cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_bearer("/api/v1/me", &carol_api).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown_field = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{carol}"),
        &root,
        Some(json!({"is_admin": true, "id": "x"})),
    )
    .await;
    assert_eq!(unknown_field.status(), StatusCode::BAD_REQUEST);

    let root_id = pmp::identity::users::list(app.portal.db())
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "root")
        .unwrap()
        .id;
    for (method, path, body) in [
        (
            reqwest::Method::PATCH,
            format!("/api/v1/users/{root_id}"),
            Some(json!({"disabled": true})),
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/users/{root_id}"),
            Some(json!({"is_admin": false})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/users/{root_id}"),
            None,
        ),
    ] {
        let response = call(&app, method, &path, &root, body).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{path}");
    }
    let deleted = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/users/{carol}"),
        &root,
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let kinds = app.event_kinds().await;
    assert!(
        kinds.contains(&"user.changed".to_owned()) && kinds.contains(&"user.deleted".to_owned())
    );
}

async fn a_required_second_factor_gates_pages_and_api(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    app.create_user("bob", false).await;
    let root = admin_token(&app).await;
    let bad = call(
        &app,
        reqwest::Method::PUT,
        "/api/v1/security/totp-policy",
        &root,
        Some(json!({"require": "sometimes"})),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let set = call(
        &app,
        reqwest::Method::PUT,
        "/api/v1/security/totp-policy",
        &root,
        Some(json!({"require": "admins"})),
    )
    .await;
    assert_eq!(set.status(), StatusCode::OK);
    // The administrator must enrol before anything else; bob is not concerned.
    assert_eq!(
        app.get_bearer("/api/v1/users", &root).await.status(),
        StatusCode::FORBIDDEN
    );
    let cookie = app.sign_in("root").await;
    let home = app.get_with("/", &cookie).await;
    assert_eq!(home.headers()["location"], "/account/2fa");
    assert_eq!(
        app.get_with("/account/2fa", &cookie).await.status(),
        StatusCode::OK
    );
    let bob = app.api_token("bob").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get_bearer("/api/v1/tokens", &bob).await.status(),
        StatusCode::OK
    );
    let (_, codes) = crate::account::enrol(&app, "root").await;
    assert_eq!(app.get_with("/", &cookie).await.status(), StatusCode::OK);

    // A policy naming a role reaches whoever holds it, anywhere, directly or via a group.
    let signed_in: Value = app
        .post_json("/api/v1/auth/token", json!({"username": "root", "password": crate::support::PASSWORD, "totp_code": codes[0]}))
        .await
        .json()
        .await
        .unwrap();
    let root = signed_in["access_token"].as_str().unwrap().to_owned();
    let unknown = call(
        &app,
        reqwest::Method::PUT,
        "/api/v1/security/totp-policy",
        &root,
        Some(json!({"require": "roles", "roles": ["ghost"]})),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let operators = call(
        &app,
        reqwest::Method::PUT,
        "/api/v1/security/totp-policy",
        &root,
        Some(json!({"require": "roles", "roles": ["operator"]})),
    )
    .await;
    assert_eq!(
        operators.json::<Value>().await.unwrap(),
        json!({"require": "roles", "roles": ["operator"]})
    );
    let bob_id = pmp::identity::users::list(app.portal.db())
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "bob")
        .unwrap()
        .id;
    let entry = json!({"user_id": bob_id, "path": "/servers/lab", "role_id": "operator"});
    assert_eq!(
        call(
            &app,
            reqwest::Method::POST,
            "/api/v1/acl",
            &root,
            Some(entry)
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.get_bearer("/api/v1/tokens", &bob).await.status(),
        StatusCode::FORBIDDEN
    );
}
