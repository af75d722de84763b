//! Scale benchmark: a 50-node cluster with 10,000 guests. Prints the memory the seeded state
//! takes and the time `/cluster/resources` needs over real HTTPS, as a ratio against
//! `/version` (the baseline: same connection, auth and envelope, almost no payload) measured
//! in the same run.

// A benchmark fails loudly on purpose; a panic is the run failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pve_sim::{Seed, SimConfig, Simulator};

const ROUNDS: u32 = 30;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

async fn time(http: &reqwest::Client, url: &str, auth: &str) -> (Duration, usize) {
    let mut bytes = 0;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let body = http
            .get(url)
            .header("Authorization", auth)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        bytes = body.len();
    }
    (started.elapsed() / ROUNDS, bytes)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let before = resident_bytes();
    let sim = Simulator::start(SimConfig {
        seed: Seed {
            name: "bench".to_owned(),
            nodes: 50,
            guests: 10_000,
            seed: 7,
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let state = resident_bytes().saturating_sub(before);
    let cert = reqwest::Certificate::from_der(&sim.certificate_der()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([cert])
        .resolve("localhost", sim.addr())
        .build()
        .unwrap();
    let base = format!("https://localhost:{}/api2/json", sim.addr().port());
    let auth = format!("PVEAPIToken={}={}", sim.token_id(), sim.token_secret());
    // Warm the connection so neither side pays for the TLS handshake.
    time(&http, &format!("{base}/version"), &auth).await;
    let (baseline, _) = time(&http, &format!("{base}/version"), &auth).await;
    let (resources, bytes) = time(&http, &format!("{base}/cluster/resources"), &auth).await;
    println!("pve-sim scale: 50 nodes, 10000 guests");
    println!(
        "  state memory (RSS growth at start): {:.1} MiB",
        state as f64 / 1048576.0
    );
    println!(
        "  GET /version            {:>8.2} ms (baseline)",
        baseline.as_secs_f64() * 1e3
    );
    println!(
        "  GET /cluster/resources  {:>8.2} ms for {:.1} MiB of JSON, {:.1}x the baseline",
        resources.as_secs_f64() * 1e3,
        bytes as f64 / 1048576.0,
        resources.as_secs_f64() / baseline.as_secs_f64()
    );
    sim.stop().await;
}
