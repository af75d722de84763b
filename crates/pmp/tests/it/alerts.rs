//! Alerts over real traffic: each anomaly rule fires on a scripted scenario and stays quiet on
//! a normal one (both engines); notifications reach a local webhook receiver signed, and a
//! local SMTP sink as mail; internal destinations are refused in every spelling.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support::{Engine, PASSWORD, TestApp, call, get_json, spawn_app_with};

crate::on_both_engines!(each_anomaly_rule_fires_on_its_scenario_and_not_on_normal_use);

/// A portal that believes `X-Forwarded-For` from the test (to sign in from many addresses)
/// and may notify 127.0.0.2, where the test's receivers listen.
async fn app(engine: Engine) -> TestApp {
    spawn_app_with(engine, |c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.notify_allow = vec!["127.0.0.2/32".parse().unwrap()];
        c.alert_interval_secs = 1;
        c.task_poll_ms = 50;
    })
    .await
}

async fn sign_in(app: &TestApp, user: &str, password: &str, from: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/token"))
        .header("x-forwarded-for", from)
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, user: &str, password: &str, from: &str) -> StatusCode {
    sign_in(app, user, password, from).await.status()
}

async fn firing(app: &TestApp, token: &str) -> Vec<String> {
    let alerts = get_json(app, "/api/v1/alerts?state=firing", token).await;
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_owned())
        .collect()
}

async fn set_rule(app: &TestApp, token: &str, rule: &str, threshold: i64, window: i64) {
    let body = json!({"enabled": true, "threshold": threshold, "window_secs": window});
    let path = format!("/api/v1/alert-rules/{rule}");
    let answer = call(app, Method::PUT, &path, token, Some(body)).await;
    assert_eq!(answer.status(), StatusCode::OK, "{path}");
}

async fn each_anomaly_rule_fires_on_its_scenario_and_not_on_normal_use(engine: Engine) {
    let app = app(engine).await;
    app.create_admin("root").await;
    app.create_user("bob", false).await;
    let root = app.api_token("root").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Normal use: a typo, then sign-ins from one network, a few looks at what exists.
    assert_eq!(
        login(&app, "bob", "typo typo typo", "198.51.100.7").await,
        401
    );
    for _ in 0..3 {
        assert_eq!(login(&app, "bob", PASSWORD, "198.51.100.7").await, 200);
    }
    assert_eq!(login(&app, "bob", PASSWORD, "198.51.100.99").await, 200);
    assert!(
        firing(&app, &root).await.is_empty(),
        "{:?}",
        firing(&app, &root).await
    );

    // A password-guessing burst against one account, from one address, until throttling locks
    // the account (itself an alert).
    set_rule(&app, &root, "login_failures_address", 4, 300).await;
    for _ in 0..10 {
        login(&app, "bob", "guess guess guess", "203.0.113.66").await;
    }
    // A sign-in from a network bob never used (the lock is lifted first).
    pmp::identity::signin::throttle::clear_account(app.portal.db(), "bob")
        .await
        .unwrap();
    let answer = sign_in(&app, "bob", PASSWORD, "192.0.2.10").await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    let bob = answer["access_token"].as_str().unwrap().to_owned();
    // Probing for ids: refused requests in a burst.
    for vmid in 100..112 {
        let path = format!("/api/v1/guests/alpha/{vmid}/actions/start");
        let status = call(&app, Method::POST, &path, &bob, Some(json!({})))
            .await
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // A spent refresh token presented again.
    let pair = app.api_token("root").await;
    let refresh = json!({"refresh_token": pair["refresh_token"]});
    assert_eq!(
        app.post_json("/api/v1/auth/refresh", refresh.clone())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_json("/api/v1/auth/refresh", refresh)
            .await
            .status(),
        401
    );
    // A mass action and an unusual hour, scripted at the store: guest actions need a PVE, and
    // the clock cannot be moved, so earlier sign-ins are written six hours back.
    set_rule(&app, &root, "mass_action", 3, 60).await;
    set_rule(&app, &root, "unusual_hour", 2, 86_400).await;
    let db = app.portal.db();
    let carol_id = app.create_user("carol", false).await;
    let client = pmp::http::Client {
        ip: "198.51.100.50".parse().unwrap(),
        user_agent: "test".to_owned(),
        trail: pmp::http::Trail::detached("user"),
    };
    let carol = pmp::audit::events::Subject::user(&carol_id, "carol");
    use pmp::audit::events::{Kind, record};
    for _ in 0..3 {
        record(db, Kind::GuestAction, carol, &client, "start alpha/100")
            .await
            .unwrap();
    }
    let earlier = pmp::db::now() - 6 * 3_600;
    for i in 0..2 {
        let entry = pmp::audit::Entry {
            at: earlier + i,
            kind: "login.succeeded",
            user_id: Some(&carol_id),
            username: Some("carol"),
            ip: "198.51.100.50",
            user_agent: "test",
            detail: "",
            actor: "anonymous",
            target: "user:carol",
            outcome: "success",
            request_id: "",
        };
        pmp::audit::append(db, &entry).await.unwrap();
    }
    assert_eq!(login(&app, "carol", PASSWORD, "198.51.100.50").await, 200);

    let mut rules = firing(&app, &root).await;
    rules.sort();
    assert_eq!(
        rules,
        [
            "denial_burst",
            "lockout",
            "login_failures_account",
            "login_failures_address",
            "mass_action",
            "new_network",
            "refresh_reuse",
            "unusual_hour",
        ]
    );
    // A repeated condition counts hits on the one alert rather than raising another.
    login(&app, "bob", "guess guess guess", "203.0.113.66").await;
    let alerts = get_json(&app, "/api/v1/alerts?state=firing", &root).await;
    let account: Vec<&Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "login_failures_account")
        .collect();
    assert_eq!(account.len(), 1);
    assert!(account[0]["hits"].as_i64().unwrap() >= 2, "{}", account[0]);
    // Resolving by hand; the viewer may not.
    let id = account[0]["id"].as_str().unwrap();
    let path = format!("/api/v1/alerts/{id}/resolve");
    assert_eq!(
        call(&app, Method::POST, &path, &bob, None).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, Method::POST, &path, &root, None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::POST, &path, &root, None).await.status(),
        StatusCode::NOT_FOUND
    );
    let bad = json!({"enabled": true, "threshold": 0, "window_secs": 60});
    let status = call(
        &app,
        Method::PUT,
        "/api/v1/alert-rules/mass_action",
        &root,
        Some(bad),
    )
    .await
    .status();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let status = call(
        &app,
        Method::PUT,
        "/api/v1/alert-rules/%3Cscript%3E",
        &root,
        Some(json!({})),
    )
    .await
    .status();
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
}

/// What a receiver saw: one HTTP request's head and body.
pub type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A one-request-per-connection HTTP receiver on 127.0.0.2 answering 200.
pub async fn receiver() -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let store = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_ascii_lowercase());
                }
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body).await;
                store
                    .lock()
                    .unwrap()
                    .push((head, String::from_utf8_lossy(&body).into_owned()));
                let _ = reader
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (addr, seen)
}

/// A minimal SMTP sink on 127.0.0.2 keeping each message's DATA.
async fn smtp_sink() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails: Arc<Mutex<Vec<String>>> = Arc::default();
    let store = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let mut s = BufReader::new(stream);
                let _ = s.get_mut().write_all(b"220 sink ESMTP\r\n").await;
                let mut line = String::new();
                while s.read_line(&mut line).await.unwrap_or(0) > 0 {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            let _ = s.get_mut().write_all(b"354 go on\r\n").await;
                            let mut data = String::new();
                            let mut l = String::new();
                            while s.read_line(&mut l).await.unwrap_or(0) > 0 && l != ".\r\n" {
                                data.push_str(&l);
                                l.clear();
                            }
                            store.lock().unwrap().push(data);
                            b"250 queued\r\n"
                        }
                        "QUIT" => b"221 bye\r\n",
                        _ => b"250 ok\r\n",
                    };
                    let _ = s.get_mut().write_all(reply).await;
                    if verb == "QUIT" {
                        break;
                    }
                    line.clear();
                }
            });
        }
    });
    (addr, mails)
}

async fn until<T>(mut done: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = done() {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("never happened");
}

#[tokio::test]
async fn notifications_arrive_signed_by_webhook_and_by_mail_and_never_go_inside() {
    let app = app(Engine::Sqlite).await;
    app.create_admin("root").await;
    let root = app.api_token("root").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (hook, seen) = receiver().await;
    let create = |body: Value| {
        call(
            &app,
            Method::POST,
            "/api/v1/notification-channels",
            &root,
            Some(body),
        )
    };
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        &format!("http://[::ffff:127.0.0.1]:{}/hook", hook.port()),
        &format!("http://127.0.0.1:{}/hook", hook.port()),
        "http://[fe80::1]/x",
        "file:///etc/passwd",
        "https://user:pw@example.com/",
    ] {
        let answer =
            create(json!({"name": "bad", "kind": "webhook", "target": {"url": url}})).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{url}");
        let text = answer.text().await.unwrap();
        assert!(!text.contains("panicked"), "{text}");
    }
    let bad_name = json!({"name": "", "kind": "webhook", "target": {"url": "https://example.com"}});
    assert_eq!(create(bad_name).await.status(), StatusCode::BAD_REQUEST);
    let unknown = json!({"name": "x", "kind": "pigeon", "target": {}});
    assert!(create(unknown).await.status().is_client_error());

    let url = format!("http://127.0.0.2:{}/hook", hook.port());
    let made =
        create(json!({"name": "<b>ops</b>", "kind": "webhook", "target": {"url": url}})).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let key = made["signing_key"].as_str().unwrap().to_owned();
    let channel = made["channel"]["id"].as_str().unwrap().to_owned();
    let listed = get_json(&app, "/api/v1/notification-channels", &root).await;
    assert!(!listed.to_string().contains(&key), "the key is shown once");
    let test = format!("/api/v1/notification-channels/{channel}/test");
    assert_eq!(
        call(&app, Method::POST, &test, &root, None).await.status(),
        StatusCode::OK
    );
    // An alert: five failed sign-ins raise one, which the job engine delivers.
    for _ in 0..5 {
        login(&app, "root", "wrong wrong wrong", "203.0.113.5").await;
    }
    let requests = until(|| {
        let s = seen.lock().unwrap();
        let raised = s.iter().any(|(_, b)| b.contains("login_failures_account"));
        raised.then(|| s.clone())
    })
    .await;
    for (head, body) in &requests {
        let ts = head
            .lines()
            .find_map(|l| l.strip_prefix("x-pmp-timestamp: "))
            .unwrap()
            .trim();
        let sig = head
            .lines()
            .find_map(|l| l.strip_prefix("x-pmp-signature: "))
            .unwrap()
            .trim();
        let expected = pmp::alerts::send::signature(key.as_bytes(), ts.parse().unwrap(), body);
        assert_eq!(sig, expected, "{body}");
    }
    let test: Value = serde_json::from_str(&requests[0].1).unwrap();
    assert_eq!(test["event"], "test");
    let raised = requests
        .iter()
        .find(|(_, b)| b.contains("login_failures_account"))
        .unwrap();
    let alert: Value = serde_json::from_str(&raised.1).unwrap();
    assert_eq!(alert["event"], "alert.firing");
    assert_eq!(alert["alert"]["rule"], "login_failures_account");

    // Mail through a local SMTP sink; a dead port answers a plain failure, not its details.
    let (sink, mails) = smtp_sink().await;
    let target = json!({"host": "127.0.0.2", "port": sink.port(), "security": "none",
        "from": "portal@example.com", "to": "ops@example.com"});
    let made: Value = create(json!({"name": "mail", "kind": "email", "target": target}))
        .await
        .json()
        .await
        .unwrap();
    let id = made["channel"]["id"].as_str().unwrap();
    let test = format!("/api/v1/notification-channels/{id}/test");
    let answer = call(&app, Method::POST, &test, &root, None).await;
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "{}",
        answer.text().await.unwrap()
    );
    let mail = until(|| mails.lock().unwrap().first().cloned()).await;
    assert!(
        mail.contains("Subject: Test notification from Proxmox Manager Portal"),
        "{mail}"
    );
    assert!(mail.contains("To: ops@example.com"), "{mail}");
    let dead = json!({"host": "127.0.0.2", "port": 9, "security": "none",
        "from": "portal@example.com", "to": "ops@example.com"});
    let made: Value = create(json!({"name": "dead", "kind": "email", "target": dead}))
        .await
        .json()
        .await
        .unwrap();
    let test = format!(
        "/api/v1/notification-channels/{}/test",
        made["channel"]["id"].as_str().unwrap()
    );
    let answer = call(&app, Method::POST, &test, &root, None).await;
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    let text = answer.text().await.unwrap();
    assert!(
        text.contains("could not be delivered") && !text.contains("refused"),
        "{text}"
    );
    // The alerts page shows the alert, escaped.
    let cookie = app.sign_in("root").await;
    let html = app.get_with("/alerts", &cookie).await.text().await.unwrap();
    assert!(html.contains("failed sign-ins for root"), "{html}");
    assert!(
        html.contains("&#60;b&#62;ops") && !html.contains("<b>ops</b>"),
        "{html}"
    );
}
