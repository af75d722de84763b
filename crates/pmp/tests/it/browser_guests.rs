//! In real Chromium: add a server after confirming its certificate's fingerprint, see its
//! guests, start one and watch its status change without a reload, take a snapshot, and open
//! the graphs. Screenshots go to `target/screenshots/`.

use std::time::{Duration, Instant};

use fantoccini::Locator;

use crate::browser::Browser;
use crate::pve::{fast_app, sim};
use crate::support::{Engine, PASSWORD};

async fn fill(browser: &Browser, field: &str, value: &str) {
    let input = browser
        .client
        .wait()
        .for_element(Locator::Css(field))
        .await
        .unwrap_or_else(|e| panic!("{field}: {e}"));
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

async fn click(browser: &Browser, selector: &str) {
    browser
        .client
        .wait()
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn text(browser: &Browser, selector: &str) -> String {
    let found = browser
        .client
        .wait()
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"));
    found.text().await.unwrap()
}

#[tokio::test]
async fn add_a_server_see_guests_start_one_live_snapshot_and_graphs() {
    let app = fast_app(Engine::Sqlite).await;
    app.create_admin("admin").await;
    let sim = sim("lab", 16).await;
    let browser = Browser::start().await;
    browser.client.goto(&app.url("/login")).await.unwrap();
    fill(&browser, "#username", "admin").await;
    fill(&browser, "#password", PASSWORD).await;
    click(&browser, "[data-login-form] button").await;
    browser
        .client
        .wait()
        .for_element(Locator::Css("[data-welcome]"))
        .await
        .unwrap();

    // Step 1: the address; the page shows the certificate's fingerprint to compare.
    browser.client.goto(&app.url("/servers")).await.unwrap();
    fill(&browser, "#url", &sim.url()).await;
    click(&browser, "[data-probe-server] button").await;
    let shown = text(&browser, "[data-fingerprint]").await;
    assert_eq!(shown, sim.fingerprint());
    browser.screenshot("server-fingerprint").await;
    // Step 2: confirm with credentials.
    fill(&browser, "#id", "lab").await;
    fill(&browser, "#name", "<b>Lab</b> cluster").await;
    fill(&browser, "#token_id", sim.token_id()).await;
    fill(&browser, "#token_secret", sim.token_secret()).await;
    click(&browser, "[data-add-server] button").await;
    let test = text(&browser, "[data-self-test]").await;
    assert!(test.contains("Every portal feature can be used"), "{test}");
    let title = text(&browser, "h1").await;
    assert!(
        title.contains("<b>Lab</b> cluster"),
        "the name is shown as text: {title}"
    );
    browser.screenshot("server-added").await;

    // The guest list, then a stopped VM whose badge changes live once started.
    let deadline = Instant::now() + Duration::from_secs(15);
    let row = loop {
        browser
            .client
            .goto(&app.url("/guests?status=stopped&type=qemu"))
            .await
            .unwrap();
        if let Ok(row) = browser.client.find(Locator::Css("[data-guest]")).await {
            break row;
        }
        assert!(
            Instant::now() < deadline,
            "the inventory never listed the guests"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let key = row.attr("data-guest").await.unwrap().unwrap();
    browser.screenshot("guests").await;
    browser
        .client
        .goto(&app.url(&format!("/guests/{key}")))
        .await
        .unwrap();
    assert_eq!(text(&browser, "[data-guest-status]").await, "stopped");
    click(&browser, "[data-power=start]").await;
    browser
        .client
        .wait()
        .for_element(Locator::Css("[data-job-started]"))
        .await
        .unwrap();
    let badge = browser
        .client
        .find(Locator::Css("[data-guest-status]"))
        .await
        .unwrap();
    let url_before = browser.client.current_url().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = badge.text().await.unwrap();
        if now == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "the badge still says {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        browser.client.current_url().await.unwrap(),
        url_before,
        "no reload"
    );
    browser.screenshot("guest-running-live").await;

    // A snapshot, then the graphs.
    fill(&browser, "#snapname", "before_change").await;
    fill(&browser, "#snapdesc", "<script>alert(1)</script>").await;
    click(&browser, "[data-snapshot-form] button").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        browser.client.refresh().await.unwrap();
        let list = text(&browser, "[data-snapshots]").await;
        if list.contains("before_change") {
            assert!(
                list.contains("<script>alert(1)</script>"),
                "shown as text: {list}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the snapshot never appeared: {list}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let addresses = text(&browser, "[data-guest-addresses]").await;
    assert!(
        addresses.contains("fd00:10::"),
        "the running guest's addresses: {addresses}"
    );
    let charts = browser
        .client
        .find_all(Locator::Css("[data-graphs] svg.chart"))
        .await
        .unwrap();
    assert_eq!(charts.len(), 4);
    browser
        .client
        .goto(&app.url(&format!("/guests/{key}?timeframe=week")))
        .await
        .unwrap();
    browser
        .client
        .wait()
        .for_element(Locator::Css("[data-graphs] svg.chart polyline"))
        .await
        .unwrap();
    browser
        .eval("document.querySelector('[data-graphs]').scrollIntoView()")
        .await;
    browser.screenshot("guest-graphs").await;
    browser
        .assert_no_console_errors_besides("no expected errors")
        .await;
    sim.stop().await;
}
