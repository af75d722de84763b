//! A job's page in real Chromium follows the job live: the state changes from queued to
//! succeeded without a reload, through the events stream and the page's own script.

use fantoccini::Locator;
use pmp::jobs::queue::{self, NewJob};
use serde_json::json;

use crate::browser::Browser;
use crate::support::{Engine, PASSWORD, spawn_app};

#[tokio::test]
async fn a_job_page_follows_its_job_without_a_reload() {
    let app = spawn_app(Engine::Sqlite).await;
    app.create_admin("admin").await;
    let admin = pmp::identity::users::list(app.portal.db()).await.unwrap()[0]
        .id
        .clone();
    let browser = Browser::start().await;
    browser.client.goto(&app.url("/login")).await.unwrap();
    for (field, value) in [("#username", "admin"), ("#password", PASSWORD)] {
        browser
            .client
            .find(Locator::Css(field))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    browser
        .client
        .find(Locator::Css("[data-login-form] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .client
        .wait()
        .for_element(Locator::Css("[data-welcome]"))
        .await
        .unwrap();
    // Due shortly after the page opens, so the page sees it queued first.
    let mut job = NewJob::new("noop", json!({}));
    job.created_by = Some(admin);
    job.run_at_ms = Some(queue::now_ms() + 2500);
    let id = queue::enqueue(app.portal.db(), &job).await.unwrap();
    queue::log(app.portal.db(), &id, "waiting for its time")
        .await
        .unwrap();
    browser
        .client
        .goto(&app.url(&format!("/jobs/{id}")))
        .await
        .unwrap();
    let badge = browser
        .client
        .wait()
        .for_element(Locator::Css("[data-job-state]"))
        .await
        .unwrap();
    assert_eq!(badge.text().await.unwrap(), "queued");
    browser.screenshot("job-queued").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let text = badge.text().await.unwrap();
        if text == "succeeded" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page still says {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let classes = badge.attr("class").await.unwrap().unwrap_or_default();
    assert!(classes.contains("badge-ok"), "{classes}");
    assert!(
        browser
            .client
            .find(Locator::Css("[data-job-cancel]"))
            .await
            .is_err(),
        "no cancel button once ended"
    );
    let log = browser
        .client
        .find(Locator::Css("[data-job-log]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(log.matches("waiting for its time").count(), 1, "{log}");
    browser.screenshot("job-succeeded").await;
    browser.client.goto(&app.url("/jobs")).await.unwrap();
    let table = browser
        .client
        .wait()
        .for_element(Locator::Css("[data-jobs]"))
        .await
        .unwrap();
    assert!(table.text().await.unwrap().contains("succeeded"));
    browser
        .assert_no_console_errors_besides("no expected errors")
        .await;
}
