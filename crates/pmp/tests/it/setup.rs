//! The first-run wizard on both engines: token required, hostile input refused and escaped,
//! exactly one administrator under racing submissions, closed for good afterwards.

use pmp::with_pool;
use reqwest::StatusCode;

use crate::support::{Engine, TestApp, spawn_app};

crate::on_both_engines!(
    the_wizard_needs_the_current_token,
    bad_input_is_refused_escaped_and_writes_nothing,
    setup_creates_one_admin_and_closes_for_good,
    racing_submissions_create_exactly_one_admin,
);

use crate::support::PASSWORD;

fn token(app: &TestApp) -> String {
    let link = app.portal.setup_link().expect("setup open");
    link.split_once("token=").unwrap().1.to_owned()
}

async fn submit(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url("/setup"))
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn user_count(app: &TestApp) -> i64 {
    with_pool!(app.portal.db(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool).await.unwrap())
}

async fn the_wizard_needs_the_current_token(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = token(&app);
    assert_eq!(app.get("/setup").await.status(), StatusCode::FORBIDDEN);
    let wrong = app.get("/setup?token=guess").await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(wrong.text().await.unwrap().contains("most recent one"));
    let page = app.get(&format!("/setup?token={token}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Create the first administrator"));

    let response = submit(
        &app,
        &[
            ("token", "guess"),
            ("username", "admin"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(user_count(&app).await, 0);
}

async fn bad_input_is_refused_escaped_and_writes_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = token(&app);
    let cases: [(&str, &str, &str, &str); 6] = [
        (
            "admin",
            "qwerty123456",
            "qwerty123456",
            "commonly used passwords",
        ),
        (
            "<script>alert(1)</script>",
            PASSWORD,
            PASSWORD,
            "a username is",
        ),
        ("admin", "short", "short", "at least 12 characters"),
        (
            "admin",
            PASSWORD,
            "different password!",
            "the two passwords differ",
        ),
        (
            "admin",
            "admin-is-my-password",
            "admin-is-my-password",
            "must not contain the username",
        ),
        (
            "x'); DROP TABLE users; --",
            PASSWORD,
            PASSWORD,
            "a username is",
        ),
    ];
    for (username, password, confirm, expected) in cases {
        let response = submit(
            &app,
            &[
                ("token", &token),
                ("username", username),
                ("password", password),
                ("password_confirm", confirm),
            ],
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{username}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(expected), "{expected} missing for {username}");
        assert!(
            !html.contains("<script>alert(1)</script>"),
            "unescaped input"
        );
        assert!(
            !html.contains(password) || password == "short",
            "password echoed"
        );
    }
    let escaped = submit(
        &app,
        &[("token", &token), ("username", "<script>alert(1)</script>")],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(escaped.contains("&#60;script&#62;") || escaped.contains("&lt;script&gt;"));

    // Wrong types and oversized bodies: a clear 4xx, nothing stored.
    let not_a_form = app
        .client
        .post(app.url("/setup"))
        .header("content-type", "application/json")
        .body("{\"username\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(not_a_form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = "a".repeat(2 * 1024 * 1024);
    let too_big = submit(&app, &[("token", &token), ("username", &huge)]).await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let cross_site = app
        .client
        .post(app.url("/setup"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("token", token.as_str()),
            ("username", "admin"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(user_count(&app).await, 0);
}

async fn setup_creates_one_admin_and_closes_for_good(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = token(&app);
    let fields = [
        ("token", token.as_str()),
        ("username", " Alice.Admin "),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    let done = submit(&app, &fields).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("alice.admin"));

    let (name, hash, admin): (String, String, bool) = with_pool!(app.portal.db(), pool =>
        sqlx::query_as("SELECT username, password_hash, EXISTS (SELECT 1 FROM acl \
            WHERE acl.user_id = users.id AND acl.path = '/' AND acl.role_id = 'administrator') FROM users")
            .fetch_one(pool).await.unwrap());
    assert_eq!(name, "alice.admin");
    assert!(admin);
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
    assert!(
        pmp::identity::signin::password::verify(PASSWORD.to_owned(), hash)
            .await
            .unwrap()
    );

    // Closed for good: the old link, a replay of the form and a new start all find nothing.
    assert_eq!(
        app.get(&format!("/setup?token={token}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(submit(&app, &fields).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        pmp::identity::setup::issue_token(app.portal.db())
            .await
            .unwrap(),
        None
    );
    assert_eq!(user_count(&app).await, 1);
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("An administrator exists."));
}

async fn racing_submissions_create_exactly_one_admin(engine: Engine) {
    let app = spawn_app(engine).await;
    let token = token(&app);
    let attempts = (0..8).map(|i| {
        let (client, url, token) = (app.client.clone(), app.url("/setup"), token.clone());
        tokio::spawn(async move {
            let username = format!("admin{i}");
            client
                .post(url)
                .form(&[
                    ("token", token.as_str()),
                    ("username", username.as_str()),
                    ("password", PASSWORD),
                    ("password_confirm", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        statuses.push(attempt.await.unwrap());
    }
    let created = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::NOT_FOUND),
        "late submissions must find setup closed: {statuses:?}"
    );
    assert_eq!(user_count(&app).await, 1);
}
