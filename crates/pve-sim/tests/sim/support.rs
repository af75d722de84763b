//! A simulator started for one test, and an HTTPS client that trusts exactly its certificate.

use std::time::Duration;

use pve_sim::{SimConfig, Simulator};
use serde_json::Value;

/// A client that trusts exactly the simulator's certificate, reaching it as `localhost`.
pub fn trusting_client(sim: &Simulator) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = reqwest::Certificate::from_der(&sim.certificate_der()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([cert])
        .resolve("localhost", sim.addr())
        .build()
        .unwrap()
}

pub struct Sim {
    pub sim: Simulator,
    http: reqwest::Client,
}

impl Sim {
    /// A simulator whose tasks take 100 ms.
    pub async fn start() -> Self {
        let config = SimConfig {
            task_duration: Duration::from_millis(100),
            ..SimConfig::default()
        };
        let sim = Simulator::start(config).await.unwrap();
        let http = trusting_client(&sim);
        Self { sim, http }
    }

    /// Calls `method path` with the simulator's API token; returns the status and JSON body.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let url = format!(
            "https://localhost:{}/api2/json{path}",
            self.sim.addr().port()
        );
        let auth = format!(
            "PVEAPIToken={}={}",
            self.sim.token_id(),
            self.sim.token_secret()
        );
        let response = self
            .http
            .request(method, url)
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{status} with a body that is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path).await
    }

    pub async fn post(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::POST, path).await
    }

    /// A guest of `kind` on node pve1 that is running (or not), from `/cluster/resources`.
    pub async fn guest_on_pve1(&self, kind: &str, running: bool) -> u64 {
        let (_, body) = self.get("/cluster/resources?type=vm").await;
        let status = if running { "running" } else { "stopped" };
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["type"] == kind
                    && r["node"] == "pve1"
                    && r["status"] == status
                    && r["template"] == 0
            })
            .and_then(|r| r["vmid"].as_u64())
            .unwrap_or_else(|| panic!("no {status} {kind} guest on pve1 in the default scenario"))
    }

    /// Polls the task until it stops; returns its final status.
    pub async fn wait(&self, upid: &str) -> Value {
        let node = upid.split(':').nth(1).unwrap();
        for _ in 0..100 {
            let (_, body) = self
                .get(&format!("/nodes/{node}/tasks/{upid}/status"))
                .await;
            if body["data"]["status"] == "stopped" {
                return body["data"].clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("task {upid} did not finish");
    }
}
