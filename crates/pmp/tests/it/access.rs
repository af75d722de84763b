//! Roles, groups and ACL entries on both engines: built-in roles match the code, grants through
//! groups and their removal take effect on the very next request for sessions, access tokens
//! and API tokens, scoped tokens never exceed their scope, the effective-permissions answer
//! names the granting entry, and hostile input is refused without writing anything.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Engine, TestApp, call, spawn_app};

crate::on_both_engines!(
    built_in_roles_in_the_database_match_the_code,
    group_grants_and_their_removal_apply_on_the_next_request,
    scoped_tokens_stay_within_their_scope,
    effective_permissions_name_the_granting_entry_and_bad_input_is_refused,
);

async fn root_token(app: &TestApp) -> String {
    app.create_admin("root").await;
    app.api_token("root").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn created_id(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn built_in_roles_in_the_database_match_the_code(engine: Engine) {
    let app = spawn_app(engine).await;
    let root = root_token(&app).await;
    let roles: Value = call(&app, Method::GET, "/api/v1/roles", &root, None)
        .await
        .json()
        .await
        .unwrap();
    for role in pmp::access::privilege::BUILTIN_ROLES {
        let stored = roles
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == role.id)
            .unwrap();
        let set = pmp::access::PrivSet::of(role.privileges);
        let names: Vec<&str> = set.iter().map(|p| p.as_str()).collect();
        assert_eq!(stored["privileges"], json!(names), "{}", role.id);
        assert_eq!(stored["builtin"], true);
    }
    let edit = call(
        &app,
        Method::PATCH,
        "/api/v1/roles/viewer",
        &root,
        Some(json!({"name": "Viewer", "privileges": ["user.manage"]})),
    )
    .await;
    assert_eq!(edit.status(), StatusCode::CONFLICT);
}

async fn group_grants_and_their_removal_apply_on_the_next_request(engine: Engine) {
    let app = spawn_app(engine).await;
    let root = root_token(&app).await;
    let bob = app.create_user("bob", false).await;
    let cookie = app.sign_in("bob").await;
    let jwt = app.api_token("bob").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, api) =
        pmp::identity::tokens::api_tokens::create(app.portal.db(), &bob, "ci", None, None)
            .await
            .unwrap()
            .unwrap();
    let group = created_id(
        call(
            &app,
            Method::POST,
            "/api/v1/groups",
            &root,
            Some(json!({"name": "Ops <b>team</b>"})),
        )
        .await,
    )
    .await;
    created_id(
        call(
            &app,
            Method::POST,
            "/api/v1/acl",
            &root,
            Some(json!({"group_id": group, "path": "/", "role_id": "administrator"})),
        )
        .await,
    )
    .await;
    let statuses = || async {
        [
            app.get_bearer("/api/v1/users", &jwt).await.status(),
            app.get_bearer("/api/v1/users", &api).await.status(),
            app.get_with("/api/v1/users", &cookie).await.status(),
        ]
    };
    assert_eq!(statuses().await, [StatusCode::FORBIDDEN; 3]);
    let member = format!("/api/v1/groups/{group}/members/{bob}");
    assert_eq!(
        call(&app, Method::PUT, &member, &root, None).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(statuses().await, [StatusCode::OK; 3]);
    assert_eq!(
        call(&app, Method::DELETE, &member, &root, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(statuses().await, [StatusCode::FORBIDDEN; 3]);
    // A direct entry, then its removal, likewise.
    let entry = created_id(
        call(
            &app,
            Method::POST,
            "/api/v1/acl",
            &root,
            Some(json!({"user_id": bob, "path": "/", "role_id": "administrator"})),
        )
        .await,
    )
    .await;
    assert_eq!(statuses().await, [StatusCode::OK; 3]);
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/api/v1/acl/{entry}"),
            &root,
            None
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(statuses().await, [StatusCode::FORBIDDEN; 3]);
    assert!(
        app.event_kinds()
            .await
            .contains(&"access.changed".to_owned())
    );
}

async fn scoped_tokens_stay_within_their_scope(engine: Engine) {
    let app = spawn_app(engine).await;
    let root = root_token(&app).await;
    let create = |scope: Value| {
        call(
            &app,
            Method::POST,
            "/api/v1/tokens",
            &root,
            Some(json!({"name": "scoped", "scope": scope})),
        )
    };
    let viewer: Value = create(json!({"role_id": "viewer", "path": "/"}))
        .await
        .json()
        .await
        .unwrap();
    let viewer = viewer["token"].as_str().unwrap();
    assert_eq!(
        app.get_bearer("/api/v1/users", viewer).await.status(),
        StatusCode::FORBIDDEN
    );
    let admin: Value = create(json!({"role_id": "administrator", "path": "/"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.get_bearer("/api/v1/users", admin["token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    for bad in [
        json!({"role_id": "nope", "path": "/"}),
        json!({"role_id": "viewer", "path": "/servers/../x"}),
        json!({"role_id": "viewer"}),
    ] {
        assert_eq!(create(bad).await.status(), StatusCode::BAD_REQUEST);
    }
    let tokens: Value = app
        .get_bearer("/api/v1/tokens", &root)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        tokens.as_array().unwrap().len(),
        2,
        "refused tokens were not written"
    );
}

async fn effective_permissions_name_the_granting_entry_and_bad_input_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let root = root_token(&app).await;
    let carol = app.create_user("carol", false).await;
    let role = created_id(
        call(
            &app,
            Method::POST,
            "/api/v1/roles",
            &root,
            Some(json!({"name": "Restarter", "privileges": ["guest.view", "guest.power"]})),
        )
        .await,
    )
    .await;
    let entry = created_id(
        call(
            &app,
            Method::POST,
            "/api/v1/acl",
            &root,
            Some(json!({"user_id": carol, "path": "/servers/lab", "role_id": role})),
        )
        .await,
    )
    .await;
    let answer: Value = call(
        &app,
        Method::GET,
        &format!("/api/v1/users/{carol}/permissions?path=/guests/lab/101"),
        &root,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answer.as_array().unwrap().len(), 2, "{answer}");
    assert_eq!(answer[1]["privilege"], "guest.power");
    assert_eq!(answer[1]["entries"][0]["entry_id"], entry.as_str());
    let elsewhere: Value = call(
        &app,
        Method::GET,
        &format!("/api/v1/users/{carol}/permissions?path=/guests/other/101"),
        &root,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(elsewhere, json!([]));

    for (method, path, body, expected) in [
        (
            Method::POST,
            "/api/v1/roles",
            json!({"name": "x", "privileges": ["root'--"]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/roles",
            json!({"name": "Restarter", "privileges": []}),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/api/v1/roles",
            json!({"name": "a\u{202e}b", "privileges": []}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/acl",
            json!({"user_id": carol, "path": "/servers/../etc", "role_id": "viewer"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/acl",
            json!({"user_id": "nobody", "path": "/", "role_id": "viewer"}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/api/v1/acl",
            json!({"user_id": carol, "group_id": "g", "path": "/", "role_id": "viewer"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/acl",
            json!({"user_id": carol, "path": "/", "role_id": "ghost"}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/api/v1/users/nobody/permissions?path=/",
            Value::Null,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::DELETE,
            "/api/v1/acl/nope",
            Value::Null,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PUT,
            "/api/v1/groups/nope/members/nobody",
            Value::Null,
            StatusCode::NOT_FOUND,
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        assert_eq!(
            call(&app, method, path, &root, body).await.status(),
            expected,
            "{path}"
        );
    }
    let root_entry: Value = call(&app, Method::GET, "/api/v1/acl", &root, None)
        .await
        .json()
        .await
        .unwrap();
    let admin_entry = root_entry
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["username"] == "root")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let last = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/acl/{admin_entry}"),
        &root,
        None,
    )
    .await;
    assert_eq!(
        last.status(),
        StatusCode::CONFLICT,
        "the last administrator stays"
    );
    assert_eq!(root_entry.as_array().unwrap().len(), 2);
}
