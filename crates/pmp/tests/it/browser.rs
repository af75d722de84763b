//! Browser tests in real headless Chromium through chromedriver: the shell renders without
//! console errors, works at 360 px, switches theme, and its CSP blocks injected inline script.
//! Screenshots land in `target/screenshots/`.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use reaper::Reaped;
use serde_json::{Value, json};

use crate::support::{Engine, screenshot_dir, spawn_app};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process with a headless Chromium session; both, and every process Chromium
/// started, are killed on drop (field order: the driver goes before its profile folder).
pub struct Browser {
    pub client: Client,
    _driver: Reaped,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing; scripts/test installs Debian's chromium and chromium-driver"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Reaped::spawn(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1280,900",
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot start a Chromium session: {e}"),
            }
        };
        Self {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Console messages since the last call, as (level, message).
    pub async fn console(&self) -> Vec<(String, String)> {
        let logs = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("browser log");
        logs.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        (
                            e["level"].as_str().unwrap_or_default().to_owned(),
                            e["message"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fails on any console error whose message does not contain `expected`.
    pub async fn assert_no_console_errors_besides(&self, expected: &str) {
        let errors: Vec<_> = self
            .console()
            .await
            .into_iter()
            .filter(|(level, message)| level == "SEVERE" && !message.contains(expected))
            .collect();
        assert!(errors.is_empty(), "console errors: {errors:?}");
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    }

    /// Clicks the page's submit button and returns the text of `selector` on the next page.
    pub async fn submit_and_read(&self, selector: &str) -> String {
        let button = self
            .client
            .find(Locator::Css("button[type=submit]"))
            .await
            .unwrap();
        button.click().await.unwrap();
        let found = self
            .client
            .wait()
            .for_element(Locator::Css(selector))
            .await
            .unwrap();
        found.text().await.unwrap()
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("script runs")
    }
}

/// chromedriver's log endpoint (outside W3C WebDriver, so fantoccini has no method for it).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

#[tokio::test]
async fn home_page_renders_cleanly_adapts_to_small_screens_and_switches_theme() {
    let app = spawn_app(Engine::Sqlite).await;
    let browser = Browser::start().await;
    browser.client.goto(&app.url("/")).await.unwrap();
    let title = browser.client.title().await.unwrap();
    assert!(title.contains("Proxmox Manager Portal"), "{title}");
    let setup = browser
        .client
        .find(Locator::Css("[data-status=setup]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        setup.contains("Waiting for the first administrator"),
        "{setup}"
    );
    // The module loaded: it reveals the theme toggle that is hidden without script.
    let toggle = browser
        .client
        .find(Locator::Css("[data-theme-toggle]"))
        .await
        .unwrap();
    assert!(toggle.is_displayed().await.unwrap());
    browser.screenshot("home-desktop").await;

    const THEME: &str = "return document.documentElement.dataset.theme";
    const BACKGROUND: &str = "return getComputedStyle(document.body).backgroundColor";
    toggle.click().await.unwrap();
    assert_eq!(browser.eval(THEME).await, "light");
    assert_eq!(browser.eval(BACKGROUND).await, "rgb(246, 247, 249)");
    toggle.click().await.unwrap();
    assert_eq!(browser.eval(THEME).await, "dark");
    assert_eq!(browser.eval(BACKGROUND).await, "rgb(16, 20, 26)");
    browser.screenshot("home-dark").await;
    // The choice survives a reload: the server renders it from the cookie.
    browser.client.refresh().await.unwrap();
    assert_eq!(browser.eval(THEME).await, "dark");

    browser.client.set_window_size(360, 740).await.unwrap();
    let overflow = browser
        .eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert_eq!(overflow, 0, "horizontal scrolling at 360 px");
    browser.screenshot("home-360px").await;

    browser
        .client
        .goto(&app.url("/no-such-page"))
        .await
        .unwrap();
    browser.screenshot("not-found").await;

    // The deliberate 404 is reported by Chromium as a failed load; nothing else may be.
    browser
        .assert_no_console_errors_besides("/no-such-page")
        .await;
}

#[tokio::test]
async fn the_csp_blocks_an_injected_inline_script() {
    let app = spawn_app(Engine::Sqlite).await;
    let browser = Browser::start().await;
    browser.client.goto(&app.url("/")).await.unwrap();
    browser
        .eval(
            "window.__violations = [];
             document.addEventListener('securitypolicyviolation',
                 e => window.__violations.push(e.effectiveDirective));
             const s = document.createElement('script');
             s.textContent = 'window.__injected = true;';
             document.body.appendChild(s);
             return true;",
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let violations = loop {
        let v = browser.eval("return window.__violations").await;
        if v.as_array().is_some_and(|a| !a.is_empty()) || Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        browser.eval("return window.__injected === true").await,
        false
    );
    assert_eq!(violations, json!(["script-src-elem"]), "{violations}");
    let console = browser.console().await;
    assert!(
        console
            .iter()
            .any(|(_, m)| m.contains("Content Security Policy")),
        "{console:?}"
    );
}

#[tokio::test]
async fn the_setup_wizard_creates_the_first_administrator_in_the_browser() {
    let app = spawn_app(Engine::Sqlite).await;
    let link = app.portal.setup_link().expect("setup open");
    let browser = Browser::start().await;
    browser.client.goto(&link).await.unwrap();
    let fill = |selector: &'static str, value: &'static str| {
        let client = browser.client.clone();
        async move {
            client
                .find(Locator::Css(selector))
                .await
                .unwrap()
                .send_keys(value)
                .await
                .unwrap();
        }
    };
    fill("#username", "admin").await;
    fill("#password", "short").await;
    fill("#password_confirm", "short").await;
    // Skip the browser's own minlength check to see the server's answer.
    browser
        .eval("document.querySelector('form').noValidate = true; return true;")
        .await;
    let errors = browser.submit_and_read("[data-errors]").await;
    assert!(errors.contains("at least 12 characters"), "{errors}");
    browser.screenshot("setup-errors").await;

    fill("#password", "correct horse battery staple").await;
    fill("#password_confirm", "correct horse battery staple").await;
    let done = browser.submit_and_read("[data-setup-done]").await;
    assert!(done.contains("admin"), "{done}");
    browser.screenshot("setup-done").await;

    // On to signing in with the new account, and out again (the header's button).
    let sign_in = browser
        .client
        .find(Locator::LinkText("Sign in"))
        .await
        .unwrap();
    sign_in.click().await.unwrap();
    fill("#username", "admin").await;
    fill("#password", "correct horse battery staple").await;
    let welcome = browser.submit_and_read("[data-welcome]").await;
    assert!(welcome.contains("Signed in as admin"), "{welcome}");
    browser.screenshot("signed-in").await;
    browser.client.goto(&app.url("/sessions")).await.unwrap();
    let sessions = browser
        .client
        .find(Locator::Css("[data-sessions]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sessions.contains("This session"), "{sessions}");
    browser.screenshot("sessions").await;
    browser.client.goto(&app.url("/")).await.unwrap();
    let form = browser.submit_and_read("[data-login-form]").await;
    assert!(form.contains("Password"), "{form}");
    // The deliberate 422 above is reported by Chromium as a failed load.
    browser
        .assert_no_console_errors_besides("status of 422")
        .await;
}
