//! A simulated PVE cluster registered in a test portal, and the calls tests make on both.

use std::time::Duration;

use pve_sim::{Seed, SimConfig, Simulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Engine, TestApp, call, spawn_app_with};

/// A portal that polls fast and follows tasks closely, for tests.
pub async fn fast_app(engine: Engine) -> TestApp {
    spawn_app_with(engine, |c| {
        c.inventory_idle_secs = 1;
        c.inventory_busy_ms = 150;
        c.task_poll_ms = 50;
        c.job_lease_secs = 3;
    })
    .await
}

/// A simulated cluster of 3 nodes and `guests` guests whose tasks take 150 ms.
pub async fn sim(name: &str, guests: usize) -> Simulator {
    Simulator::start(SimConfig {
        seed: Seed {
            name: name.to_owned(),
            nodes: 3,
            guests,
            seed: 11,
        },
        task_duration: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// An access token for `username`.
pub async fn token(app: &TestApp, username: &str) -> String {
    app.api_token(username).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Registers `sim` as server `id` with its full-rights token; returns the answer.
pub async fn add_server(app: &TestApp, admin: &str, sim: &Simulator, id: &str) -> Value {
    let body = json!({
        "id": id,
        "name": format!("Cluster {id}"),
        "url": sim.url(),
        "fingerprint": sim.fingerprint(),
        "token_id": sim.token_id(),
        "token_secret": sim.token_secret(),
    });
    let response = call(app, Method::POST, "/api/v1/servers", admin, Some(body)).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer
}

/// Polls `path` until `done` holds for its JSON, for up to 10 s; returns that JSON.
pub async fn until(app: &TestApp, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let response = call(app, Method::GET, path, token, None).await;
        if response.status() == StatusCode::OK {
            last = response.json().await.unwrap();
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never reached the expected state; last: {last}");
}

/// Waits for the job to end; returns it.
pub async fn job_end(app: &TestApp, token: &str, job: &str) -> Value {
    until(app, &format!("/api/v1/jobs/{job}"), token, |j| {
        matches!(
            j["state"].as_str(),
            Some("succeeded" | "failed" | "dead" | "cancelled")
        )
    })
    .await
}

/// Grants `role` on `path` to `user_id`.
pub async fn grant(app: &TestApp, admin: &str, user_id: &str, path: &str, role: &str) {
    let body = json!({ "user_id": user_id, "path": path, "role_id": role });
    let response = call(app, Method::POST, "/api/v1/acl", admin, Some(body)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}
