//! Every state-changing page form refuses a submission without this session's CSRF token, or
//! from another site, and changes nothing; on both engines.

use reqwest::StatusCode;

use crate::support::{Engine, spawn_app};

crate::on_both_engines!(
    every_form_needs_the_csrf_token_and_writes_nothing_without_it,
    the_alert_rules_form_refuses_what_no_rule_can_mean,
    a_refused_schedule_form_comes_back_with_what_was_typed,
    job_and_session_buttons_need_the_csrf_token_too,
);

/// A schedule the portal refuses comes back on its page, answered 400 with the reason and
/// every field as typed (escaped: markup stays text), and nothing is stored.
async fn a_refused_schedule_form_comes_back_with_what_was_typed(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    let cookie = app.sign_in("root").await;
    let csrf = crate::audit_coverage::csrf(&app, &cookie).await;
    for (cron, targets) in [
        ("61 * * * *", "lab/100"),
        ("30 2 * * *", "../../etc/passwd"),
        ("30 2 * * *", "nowhere/100"),
    ] {
        let fields = [
            ("csrf", csrf.as_str()),
            ("name", "<script>alert(1)</script> nightly"),
            ("cron", cron),
            ("timezone", "Europe/Berlin"),
            ("op", "power"),
            ("action", "shutdown"),
            ("keep_last", "7"),
            ("targets", targets),
        ];
        let answer = app
            .client
            .post(app.url("/schedules"))
            .header("cookie", &cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{cron} {targets}");
        let html = answer.text().await.unwrap();
        assert!(html.contains("data-error"), "{cron} {targets}");
        assert!(!html.contains("<script>alert"), "markup must stay text");
        assert!(
            html.contains("value=\"&#60;script&#62;alert(1)&#60;/script&#62; nightly\"")
                || html.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt; nightly\""),
            "{html}"
        );
        assert!(html.contains(&format!("value=\"{}\"", cron)), "{cron}");
        assert!(html.contains("value=\"Europe/Berlin\""));
        assert!(html.contains("<option value=\"power\" selected>"));
        assert!(html.contains("<option selected>shutdown</option>"));
        assert!(html.contains("value=\"7\""));
    }
    assert!(
        pmp::schedules::store::list(app.portal.db())
            .await
            .unwrap()
            .is_empty()
    );
}

/// The buttons of the jobs and sessions pages pass the same check as every other form: no
/// token, a forged one or another site is refused with 403 and changes nothing.
async fn job_and_session_buttons_need_the_csrf_token_too(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    let cookie = app.sign_in("root").await;
    let other = app.sign_in("root").await;
    let sessions = pmp::identity::users::list(app.portal.db()).await.unwrap();
    let root = &sessions[0].id;
    let listed = pmp::identity::sessions::list_for(
        app.portal.db(),
        &pmp::identity::sessions::SessionPolicy {
            idle_secs: 1800,
            absolute_secs: 43200,
            secure: false,
        },
        root,
    )
    .await
    .unwrap();
    assert_eq!(listed.len(), 2);
    let mut paths = vec![
        "/jobs/00000000-0000-4000-8000-000000000000/cancel".to_owned(),
        "/jobs/00000000-0000-4000-8000-000000000000/retry".to_owned(),
    ];
    paths.extend(listed.iter().map(|s| format!("/sessions/{}/revoke", s.id)));
    for path in &paths {
        for (csrf, site) in [
            (None, "same-origin"),
            (Some("forged"), "same-origin"),
            (None, "cross-site"),
        ] {
            let body: Vec<(&str, &str)> = csrf.map(|c| ("csrf", c)).into_iter().collect();
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
        }
    }
    // Both sessions still work.
    for cookie in [&cookie, &other] {
        assert_eq!(
            app.get_with("/api/v1/me", cookie).await.status(),
            StatusCode::OK
        );
    }
}

/// Wrong types, out-of-range numbers, markup and unknown rules are refused with a sentence and
/// change nothing; a sound row is saved; people without `settings.manage` cannot post at all.
async fn the_alert_rules_form_refuses_what_no_rule_can_mean(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    app.create_user("bob", false).await;
    let cookie = app.sign_in("root").await;
    let csrf = crate::audit_coverage::csrf(&app, &cookie).await;
    let post = |path: &str, fields: Vec<(&str, &str)>, cookie: &str| {
        app.client
            .post(app.url(path))
            .header("cookie", cookie)
            .form(&fields)
            .send()
    };
    let rule = pmp::alerts::rules::Rule::GuestDown;
    for (threshold, window) in [
        ("abc", "300"),
        ("5", "1e3"),
        ("0", "300"),
        ("100001", "300"),
        ("5", "-1"),
        ("5", "99999999999999999999"),
        ("<script>alert(1)</script>", "300"),
        ("5' OR '1'='1", "300"),
        ("", ""),
    ] {
        let fields = vec![
            ("csrf", csrf.as_str()),
            ("enabled", "on"),
            ("threshold", threshold),
            ("window_secs", window),
        ];
        let answer = post("/alerts/rules/guest_down", fields, &cookie)
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::BAD_REQUEST,
            "{threshold} {window}"
        );
        let html = answer.text().await.unwrap();
        assert!(
            html.contains("data-error") && !html.contains("<script>alert"),
            "{threshold}"
        );
        let now = pmp::alerts::store::settings(app.portal.db(), rule)
            .await
            .unwrap();
        assert_eq!(
            now,
            rule.defaults(),
            "nothing saved for {threshold} {window}"
        );
    }
    for unknown in ["nope", "..%2F..%2Fetc", "%3Cscript%3E"] {
        let fields = vec![
            ("csrf", csrf.as_str()),
            ("threshold", "5"),
            ("window_secs", "60"),
        ];
        let answer = post(&format!("/alerts/rules/{unknown}"), fields, &cookie)
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{unknown}");
    }
    // Unchecked means off.
    let fields = vec![
        ("csrf", csrf.as_str()),
        ("threshold", "5"),
        ("window_secs", "60"),
    ];
    let answer = post("/alerts/rules/guest_down", fields, &cookie)
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let saved = pmp::alerts::store::settings(app.portal.db(), rule)
        .await
        .unwrap();
    assert_eq!(
        (saved.enabled, saved.threshold, saved.window_secs),
        (false, 5, 60)
    );
    // bob may not change rules, nor see the form.
    let bob = app.sign_in("bob").await;
    let bob_csrf = crate::audit_coverage::csrf(&app, &bob).await;
    let fields = vec![
        ("csrf", bob_csrf.as_str()),
        ("enabled", "on"),
        ("threshold", "1"),
        ("kind", "webhook"),
        ("window_secs", "1"),
    ];
    let answer = post("/alerts/rules/guest_down", fields, &bob)
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let after = pmp::alerts::store::settings(app.portal.db(), rule)
        .await
        .unwrap();
    assert_eq!(after, saved);
}

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
        "/alerts/rules/storage_full".to_owned(),
        "/alerts/channels".to_owned(),
        "/alerts/channels/x/test".to_owned(),
        "/alerts/channels/x/delete".to_owned(),
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
        ("threshold", "1"),
        ("kind", "webhook"),
        ("window_secs", "0"),
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
        pmp::identity::tokens::api_tokens::list(app.portal.db(), &users[0].id)
            .await
            .unwrap()
            .is_empty()
    );
    let policy = pmp::identity::sessions::guard::totp_policy(app.portal.db())
        .await
        .unwrap();
    assert_eq!(policy, pmp::identity::sessions::guard::TotpPolicy::Optional);
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
    let channels = pmp::alerts::channels::list(app.portal.db()).await.unwrap();
    assert!(channels.is_empty());
    let storage_full = pmp::alerts::rules::Rule::StorageFull;
    let rule = pmp::alerts::store::settings(app.portal.db(), storage_full);
    assert_eq!(rule.await.unwrap(), storage_full.defaults());
    // The session survived every forged sign-out.
    assert_eq!(
        app.get_with("/api/v1/me", &cookie).await.status(),
        StatusCode::OK
    );
}
