//! The whole first-run and two-factor journey in real Chromium: setup wizard, sign-in, TOTP
//! enrolment (QR code and recovery codes), sign-out, sign-in with a code; then the account
//! and administration pages. Screenshots of each step land in `target/screenshots/`.

use fantoccini::Locator;

use crate::browser::Browser;
use crate::support::{Engine, spawn_app};

const PASSWORD: &str = "violet harbour lantern";

fn code_at(secret: &str, offset: i64) -> String {
    let at = u64::try_from(pmp::db::now() + offset).unwrap();
    pmp::identity::second_factor::totp::code_for(secret, at).unwrap()
}

impl Browser {
    async fn fill(&self, selector: &str, value: &str) {
        let field = self.client.find(Locator::Css(selector)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn click(&self, selector: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// The text of `selector` once it is on the page. Right after a click the previous page
    /// may still be showing a matching element that goes stale as the next page loads, so a
    /// stale read is retried on the new page.
    async fn text_of(&self, selector: &str) -> String {
        let mut last_error = String::new();
        for _ in 0..50 {
            match self.client.wait().for_element(Locator::Css(selector)).await {
                Ok(found) => match found.text().await {
                    Ok(text) => return text,
                    Err(e) => last_error = e.to_string(),
                },
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        self.screenshot("failure").await;
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let page = self.client.source().await.unwrap_or_default();
        panic!("{selector} never readable on {url} ({last_error}); page: {page}");
    }
}

#[tokio::test]
async fn setup_sign_in_enrol_totp_sign_out_and_sign_in_with_a_code() {
    let app = spawn_app(Engine::Sqlite).await;
    let link = app.portal.setup_link().expect("setup open");
    let browser = Browser::start().await;
    browser.client.goto(&link).await.unwrap();
    browser.fill("#username", "admin").await;
    browser.fill("#password", PASSWORD).await;
    browser.fill("#password_confirm", PASSWORD).await;
    browser.click("button[type=submit]").await;
    assert!(browser.text_of("[data-setup-done]").await.contains("admin"));

    browser.client.goto(&app.url("/login")).await.unwrap();
    browser.fill("#username", "admin").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("[data-login-form] button").await;
    assert!(
        browser
            .text_of("[data-welcome]")
            .await
            .contains("Signed in as admin")
    );

    browser.client.goto(&app.url("/account/2fa")).await.unwrap();
    assert!(browser.text_of("[data-totp-status]").await.contains("off"));
    browser.click("[data-totp-start] button").await;
    browser.text_of("[data-totp-qr] svg").await;
    let secret = browser.text_of("[data-totp-secret]").await;
    browser.screenshot("totp-enrol").await;
    browser.fill("#code", &code_at(&secret, 0)).await;
    browser.click("[data-totp-confirm] button").await;
    let codes = browser.text_of("[data-recovery-codes]").await;
    assert_eq!(
        codes.lines().filter(|l| l.len() == 11).count(),
        10,
        "{codes}"
    );
    browser.screenshot("totp-recovery-codes").await;

    browser.click(".signed-in button").await;
    browser.text_of("[data-login-form]").await;
    browser.fill("#username", "admin").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("[data-login-form] button").await;
    browser.text_of("[data-totp-form]").await;
    browser.fill("#code", "123456").await;
    browser.click("[data-totp-form] button").await;
    assert!(
        browser
            .text_of("[data-login-error]")
            .await
            .contains("not valid")
    );
    browser.screenshot("totp-challenge").await;
    // The enrolment spent the current step; the next one is within the allowed skew.
    browser.fill("#code", &code_at(&secret, 30)).await;
    browser.click("[data-totp-form] button").await;
    assert!(
        browser
            .text_of("[data-welcome]")
            .await
            .contains("Signed in as admin")
    );
    browser.screenshot("signed-in-with-totp").await;

    // The account and administration pages render for the signed-in administrator.
    browser
        .client
        .goto(&app.url("/account/tokens"))
        .await
        .unwrap();
    browser.fill("#name", "<script>alert('x')</script>").await;
    browser.click("[data-token-create] button").await;
    assert!(
        browser
            .text_of("[data-new-token]")
            .await
            .starts_with("pmp_")
    );
    assert!(
        browser
            .text_of("[data-tokens]")
            .await
            .contains("<script>alert('x')</script>")
    );
    browser.screenshot("api-tokens").await;
    browser.client.goto(&app.url("/users")).await.unwrap();
    browser.fill("#username", "operator").await;
    browser.click("[data-user-create] button").await;
    assert_eq!(browser.text_of("[data-temporary-password]").await.len(), 20);
    browser.screenshot("users").await;
    // The access page: a custom role, an entry, and the effective-permissions answer.
    browser.client.goto(&app.url("/access")).await.unwrap();
    browser.fill("#role-name", "Restarter").await;
    browser.click("input[value='guest.power']").await;
    browser.click("input[value='guest.view']").await;
    browser.click("[data-role-create] button").await;
    assert!(browser.text_of("[data-roles]").await.contains("Restarter"));
    let operator = pmp::identity::users::list(app.portal.db())
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "operator")
        .unwrap();
    browser
        .client
        .goto(&app.url(&format!(
            "/access?user={}&path=/guests/lab/101",
            operator.id
        )))
        .await
        .unwrap();
    assert!(
        browser
            .text_of("[data-effective-result]")
            .await
            .contains("Nothing")
    );
    browser.screenshot("access").await;
    // The wrong code above was answered 401, which Chromium reports as a failed load.
    browser
        .assert_no_console_errors_besides("status of 401")
        .await;
}
