//! The channel forms of the alerts page over HTTP: a webhook added there is signed and its test
//! arrives; internal destinations, unknown kinds and bad ports are refused with a sentence and
//! store nothing; a failed test says so without the remote's answer; markup in a name is shown
//! as text; deleting works once; people without `settings.manage` cannot post.

use reqwest::StatusCode;

use crate::alerts::receiver;
use crate::audit_coverage::csrf;
use crate::support::{Engine, TestApp, spawn_app_with};

async fn post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let answer = app
        .client
        .post(app.url(path))
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

async fn channels(app: &TestApp) -> Vec<pmp::alerts::channels::Channel> {
    pmp::alerts::channels::list(app.portal.db()).await.unwrap()
}

#[tokio::test]
async fn channels_are_added_tested_and_deleted_from_the_page_and_bad_ones_refused() {
    let app = spawn_app_with(Engine::Sqlite, |c| {
        c.notify_allow = vec!["127.0.0.2/32".parse().unwrap()];
    })
    .await;
    app.create_admin("root").await;
    app.create_user("bob", false).await;
    let cookie = app.sign_in("root").await;
    let token = csrf(&app, &cookie).await;
    let csrf = token.as_str();

    for (kind, url, port, why) in [
        (
            "webhook",
            "http://169.254.169.254/latest/meta-data",
            "",
            "169.254.169.254",
        ),
        ("webhook", "http://[::ffff:127.0.0.1]:9/", "", "address"),
        ("ntfy", "file:///etc/passwd", "", "URL"),
        ("nonsense", "https://example.net/", "", "Choose a kind"),
        ("email", "", "99999", "port"),
        ("email", "", "25'; DROP TABLE users;--", "port"),
    ] {
        let fields = [
            ("csrf", csrf),
            ("name", "bad"),
            ("kind", kind),
            ("url", url),
            ("host", "127.0.0.2"),
            ("port", port),
            ("from", "a@example.net"),
            ("to", "b@example.net"),
        ];
        let (status, html) = post(&app, &cookie, "/alerts/channels", &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{kind} {url} {port}");
        assert!(html.contains("data-error"), "{kind} {url}");
        let error = html
            .split("data-error>")
            .nth(1)
            .unwrap()
            .split("</p>")
            .next()
            .unwrap();
        assert!(error.contains(why), "{kind} {url} {port}: {error}");
        assert!(
            channels(&app).await.is_empty(),
            "nothing stored for {kind} {url} {port}"
        );
    }

    // A webhook to a local receiver: the key is shown once, the name as text, the test arrives.
    let (addr, seen) = receiver().await;
    let url = format!("http://{addr}/hook");
    let name = "<script>alert(1)</script> ops";
    let fields = [
        ("csrf", csrf),
        ("name", name),
        ("kind", "webhook"),
        ("url", url.as_str()),
    ];
    let (status, html) = post(&app, &cookie, "/alerts/channels", &fields).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-signing-key") && !html.contains("<script>alert(1)"));
    let added = channels(&app).await;
    assert_eq!(added.len(), 1);
    let id = added[0].id.clone();
    let (status, html) = post(
        &app,
        &cookie,
        &format!("/alerts/channels/{id}/test"),
        &[("csrf", csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Test notification delivered"));
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].0.contains("x-pmp-signature: sha256="),
        "{}",
        requests[0].0
    );
    // The page shows no key again.
    let page = app.get_with("/alerts", &cookie).await.text().await.unwrap();
    assert!(!page.contains("data-signing-key"));

    // A receiver that is gone: a generic failure, nothing of the remote's.
    let gone = std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{gone}/hook");
    let fields = [
        ("csrf", csrf),
        ("name", "gone"),
        ("kind", "webhook"),
        ("url", url.as_str()),
    ];
    assert_eq!(
        post(&app, &cookie, "/alerts/channels", &fields).await.0,
        StatusCode::OK
    );
    let gone_id = channels(&app)
        .await
        .into_iter()
        .find(|c| c.name == "gone")
        .unwrap()
        .id;
    let (status, html) = post(
        &app,
        &cookie,
        &format!("/alerts/channels/{gone_id}/test"),
        &[("csrf", csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let error = html
        .split("data-error>")
        .nth(1)
        .unwrap()
        .split("</p>")
        .next()
        .unwrap();
    assert_eq!(
        error,
        "The test notification could not be delivered; the portal&#39;s log has the reason."
    );

    // bob may not add, test or delete.
    let bob = app.sign_in("bob").await;
    let bob_token = crate::audit_coverage::csrf(&app, &bob).await;
    let fields = [
        ("csrf", bob_token.as_str()),
        ("name", "mine"),
        ("kind", "webhook"),
        ("url", "https://example.net/"),
    ];
    assert_eq!(
        post(&app, &bob, "/alerts/channels", &fields).await.0,
        StatusCode::FORBIDDEN
    );
    let path = format!("/alerts/channels/{id}/delete");
    assert_eq!(
        post(&app, &bob, &path, &[("csrf", bob_token.as_str())])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(channels(&app).await.len(), 2);

    // Deleting works once; an unknown id is not found.
    assert_eq!(
        post(&app, &cookie, &path, &[("csrf", csrf)]).await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        post(&app, &cookie, &path, &[("csrf", csrf)]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(channels(&app).await.len(), 1);
}
