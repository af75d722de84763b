//! The audit and alerts pages in real Chromium: an administrator filters the audit trail to
//! one user, every row shown is that user's, and the export link of the page downloads exactly
//! that selection; the alert raised by the same user's failed sign-ins is on the alerts page,
//! and a rule's threshold changed in the rules form is saved.

use fantoccini::Locator;
use serde_json::json;

use crate::browser::Browser;
use crate::support::{Engine, PASSWORD, spawn_app};

#[tokio::test]
async fn the_audit_page_filters_to_one_user_and_exports_it_and_alerts_show() {
    let app = spawn_app(Engine::Sqlite).await;
    app.create_admin("admin").await;
    app.create_user("bob", false).await;
    for _ in 0..5 {
        let wrong = json!({"username": "bob", "password": "not the password at all"});
        app.post_json("/api/v1/auth/token", wrong).await;
    }
    let browser = Browser::start().await;
    browser.client.goto(&app.url("/login")).await.unwrap();
    for (field, value) in [("#username", "admin"), ("#password", PASSWORD)] {
        let input = browser.client.find(Locator::Css(field)).await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    let submit = browser
        .client
        .find(Locator::Css("[data-login-form] button"))
        .await;
    submit.unwrap().click().await.unwrap();
    let wait = browser.client.wait();
    wait.for_element(Locator::Css("[data-welcome]"))
        .await
        .unwrap();

    browser.client.goto(&app.url("/audit")).await.unwrap();
    let select = browser
        .client
        .wait()
        .for_element(Locator::Css("#actor"))
        .await
        .unwrap();
    select.select_by_value("bob").await.unwrap();
    let filter = browser
        .client
        .find(Locator::Css("[data-audit-filter] button"))
        .await;
    filter.unwrap().click().await.unwrap();
    let wait = browser.client.wait();
    wait.for_url(&url::Url::parse(&app.url("/audit?actor=bob&action=&q=")).unwrap())
        .await
        .unwrap();
    let rows = browser
        .client
        .find_all(Locator::Css("[data-audit] [data-who]"))
        .await
        .unwrap();
    assert!(rows.len() >= 5, "{} rows", rows.len());
    for row in &rows {
        assert!(row.text().await.unwrap().starts_with("bob"));
    }
    // Times read as dates to the second, not as Unix numbers.
    let when = browser
        .client
        .find(Locator::Css("[data-audit] time"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let readable = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S UTC", &when);
    assert!(readable.is_ok(), "{when:?}");
    browser.screenshot("audit-filtered").await;
    let link = browser
        .client
        .find(Locator::Css("[data-export-jsonl]"))
        .await
        .unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    assert!(href.contains("actor=bob"), "{href}");
    // The download, fetched by the page itself with its session.
    let script = format!("return fetch({href:?}).then(r => r.text())");
    let exported = browser.eval(&script).await;
    let lines: Vec<serde_json::Value> = exported
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), rows.len(), "the export is the selection shown");
    assert!(lines.iter().all(|l| l["username"] == "bob"));
    assert!(lines.iter().any(|l| l["kind"] == "login.failed"));
    let csv = browser
        .client
        .find(Locator::Css("[data-export-csv]"))
        .await
        .unwrap();
    assert!(
        csv.attr("href")
            .await
            .unwrap()
            .unwrap()
            .contains("format=csv")
    );

    browser.client.goto(&app.url("/alerts")).await.unwrap();
    let table = browser
        .client
        .wait()
        .for_element(Locator::Css("[data-alerts]"))
        .await
        .unwrap();
    let text = table.text().await.unwrap();
    assert!(text.contains("failed sign-ins for bob"), "{text}");
    assert!(text.contains("firing"), "{text}");
    browser.screenshot("alerts").await;

    // The rules form: lower one threshold, save, and the page shows it saved.
    let threshold = browser
        .client
        .find(Locator::Css(
            "[data-rule=\"storage_full\"] input[name=threshold]",
        ))
        .await
        .unwrap();
    threshold.clear().await.unwrap();
    threshold.send_keys("80").await.unwrap();
    browser
        .client
        .find(Locator::Css("[data-rule=\"storage_full\"] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let saved = browser
        .client
        .wait()
        .for_element(Locator::Css(
            "[data-rule=\"storage_full\"] input[name=threshold][value=\"80\"]",
        ))
        .await;
    assert!(saved.is_ok(), "the saved threshold is shown");
    let rule = pmp::alerts::rules::Rule::StorageFull;
    let stored = pmp::alerts::store::settings(app.portal.db(), rule)
        .await
        .unwrap();
    assert_eq!((stored.enabled, stored.threshold), (true, 80));
    let scroll = "document.getElementById('rules').scrollIntoView()";
    browser.client.execute(scroll, vec![]).await.unwrap();
    browser.screenshot("alert-rules").await;

    // The channel form refuses the metadata address and says why.
    for (field, value) in [
        ("#channel-name", "cloud metadata"),
        ("#channel-url", "http://169.254.169.254/latest/meta-data"),
    ] {
        let input = browser.client.find(Locator::Css(field)).await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    browser
        .client
        .find(Locator::Css("[data-channel-form] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = browser
        .client
        .wait()
        .for_element(Locator::Css("[data-error]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("169.254.169.254"), "{error}");
    let channels = pmp::alerts::channels::list(app.portal.db()).await.unwrap();
    assert!(channels.is_empty());
    browser.screenshot("alert-channel-refused").await;
    let scroll = "document.getElementById('channels').scrollIntoView()";
    browser.client.execute(scroll, vec![]).await.unwrap();
    browser.screenshot("alert-channels").await;
    browser
        // The refused channel form is answered 400, which Chromium logs.
        .assert_no_console_errors_besides(
            "/alerts/channels - Failed to load resource: the server responded with a status of 400",
        )
        .await;
}
