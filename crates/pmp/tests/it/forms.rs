//! Every state-changing page form refuses a submission without this session's CSRF token, or
//! from another site, and changes nothing; on both engines.

use reqwest::StatusCode;

use crate::support::{Engine, spawn_app};

crate::on_both_engines!(every_form_needs_the_csrf_token_and_writes_nothing_without_it);

async fn every_form_needs_the_csrf_token_and_writes_nothing_without_it(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    let bob = app.create_user("bob", false).await;
    let cookie = app.sign_in("root").await;
    let forms = [
        "/account/tokens".to_owned(),
        "/account/password".to_owned(),
        "/account/2fa".to_owned(),
        "/account/2fa/disable".to_owned(),
        "/users".to_owned(),
        "/users/policy".to_owned(),
        format!("/users/{bob}"),
        format!("/users/{bob}/reset-password"),
        format!("/users/{bob}/reset-2fa"),
        format!("/users/{bob}/delete"),
        "/access/roles".to_owned(),
        "/access/roles/viewer/delete".to_owned(),
        "/access/groups".to_owned(),
        format!("/access/groups/{bob}/delete"),
        format!("/access/groups/{bob}/members"),
        "/access/acl".to_owned(),
        format!("/access/acl/admin-{bob}/delete"),
        "/servers".to_owned(),
        "/servers/probe".to_owned(),
        "/schedules".to_owned(),
        "/schedules/x/pause".to_owned(),
        "/logout".to_owned(),
    ];
    let fields = [
        ("name", "x"),
        ("username", "mallory"),
        ("role", "admin"),
        ("state", "disabled"),
        ("require", "everyone"),
        ("current", "correct horse battery staple"),
        ("new", "a brand new passphrase"),
        ("confirm", "a brand new passphrase"),
        ("password", "correct horse battery staple"),
        ("privilege", "user.manage"),
        ("principal", "user:x"),
        ("path", "/"),
        ("role_id", "administrator"),
        ("url", "https://127.0.0.1:8006"),
        ("cron", "* * * * *"),
    ];
    for path in &forms {
        for (csrf, site) in [
            (None, "same-origin"),
            (Some("forged"), "same-origin"),
            (None, "cross-site"),
        ] {
            let mut body: Vec<(&str, &str)> = fields.to_vec();
            if let Some(csrf) = csrf {
                body.push(("csrf", csrf));
            }
            let response = app
                .client
                .post(app.url(path))
                .header("cookie", &cookie)
                .header("sec-fetch-site", site)
                .form(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{path} {csrf:?} {site}"
            );
            let html = response.text().await.unwrap();
            assert!(html.contains("<html") && !html.contains("sqlx"), "{path}");
        }
    }
    let users = pmp::identity::users::list(app.portal.db()).await.unwrap();
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| !u.disabled && !u.must_change_password));
    let bob_user = users.iter().find(|u| u.username == "bob").unwrap();
    assert!(!bob_user.is_admin);
    assert!(
        pmp::identity::api_tokens::list(app.portal.db(), &users[0].id)
            .await
            .unwrap()
            .is_empty()
    );
    let policy = pmp::identity::guard::totp_policy(app.portal.db())
        .await
        .unwrap();
    assert_eq!(policy, pmp::identity::guard::TotpPolicy::Optional);
    assert!(
        pmp::servers::store::list(app.portal.db())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        pmp::schedules::store::list(app.portal.db())
            .await
            .unwrap()
            .is_empty()
    );
    // The session survived every forged sign-out.
    assert_eq!(
        app.get_with("/api/v1/me", &cookie).await.status(),
        StatusCode::OK
    );
}
