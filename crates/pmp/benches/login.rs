//! Login under attack: sign-in latency (p50, p99) and the throughput of a cheap authenticated
//! endpoint (`GET /api/v1/me` with a bearer token), first on a quiet portal (the baseline),
//! then while a distributed login flood runs (wrong passwords from thousands of forwarded
//! addresses, so throttling never short-circuits the password hashing). Prints each figure
//! under flood as a ratio against the baseline measured in the same run.
//!
//! `cargo bench -p pmp --bench login`

// A benchmark fails loudly on purpose; a panic is the run failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pmp::app::portal::Portal;
use pmp::config::Config;
use serde_json::json;

const PASSWORD: &str = "violet harbour lantern";
const LOGINS: usize = 40;
const WINDOW: Duration = Duration::from_secs(4);
const FLOODERS: usize = 64;

async fn login(http: &reqwest::Client, base: &str) -> Duration {
    let started = Instant::now();
    let response = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": "bench", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    started.elapsed()
}

async fn login_latencies(http: &reqwest::Client, base: &str) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(LOGINS);
    for _ in 0..LOGINS {
        samples.push(login(http, base).await);
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

/// Requests per second on `GET /api/v1/me` from 8 concurrent clients over `WINDOW`.
async fn me_throughput(http: &reqwest::Client, base: &str, token: &str) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + WINDOW;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (http, url, token, done) = (
            http.clone(),
            format!("{base}/api/v1/me"),
            token.to_owned(),
            done.clone(),
        );
        workers.spawn(async move {
            while Instant::now() < deadline {
                let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(response.status(), 200);
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    workers.join_all().await;
    done.load(Ordering::Relaxed) as f64 / WINDOW.as_secs_f64()
}

fn start_flood(
    http: &reqwest::Client,
    base: &str,
    stop: &Arc<AtomicBool>,
    sent: &Arc<AtomicU64>,
) -> tokio::task::JoinSet<()> {
    let mut flood = tokio::task::JoinSet::new();
    for worker in 0..FLOODERS {
        let (http, url, stop, sent) = (
            http.clone(),
            format!("{base}/api/v1/auth/token"),
            stop.clone(),
            sent.clone(),
        );
        flood.spawn(async move {
            let mut n: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                // A new address and a new name each time: no throttle key ever fills up.
                let address = format!("10.{}.{}.{}", worker, (n >> 8) & 255, n & 255);
                let _ = http
                    .post(&url)
                    .header("x-forwarded-for", address)
                    .json(&json!({"username": format!("guess{worker}x{n}"), "password": "hunter2hunter2"}))
                    .send()
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    flood
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_owned(),
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Config::default()
    };
    let portal = Portal::start(&config).await.unwrap();
    let base = portal.base_url();
    let name = pmp::identity::users::Username::parse("bench").unwrap();
    let hash = pmp::identity::signin::password::hash(PASSWORD.to_owned())
        .await
        .unwrap();
    pmp::identity::setup::create_first_admin(portal.db(), &name, &hash)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": "bench", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    let (quiet_p50, quiet_p99) = login_latencies(&http, &base).await;
    let quiet_rps = me_throughput(&http, &base, &token).await;

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flood_started = Instant::now();
    let flood = start_flood(&http, &base, &stop, &sent);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flood_rps = me_throughput(&http, &base, &token).await;
    let (flood_p50, flood_p99) = login_latencies(&http, &base).await;
    stop.store(true, Ordering::Relaxed);
    flood.join_all().await;
    let flood_rate = sent.load(Ordering::Relaxed) as f64 / flood_started.elapsed().as_secs_f64();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("login flood benchmark ({FLOODERS} flooding clients, {LOGINS} logins per phase)");
    println!("  flood rate:            {flood_rate:.0} wrong logins/s answered");
    println!(
        "  login p50: quiet {:.1} ms, under flood {:.1} ms (x{:.1})",
        ms(quiet_p50),
        ms(flood_p50),
        ms(flood_p50) / ms(quiet_p50)
    );
    println!(
        "  login p99: quiet {:.1} ms, under flood {:.1} ms (x{:.1})",
        ms(quiet_p99),
        ms(flood_p99),
        ms(flood_p99) / ms(quiet_p99)
    );
    println!(
        "  GET /api/v1/me: quiet {quiet_rps:.0} req/s, under flood {flood_rps:.0} req/s (ratio {:.2})",
        flood_rps / quiet_rps
    );
    portal.shutdown(Duration::from_secs(1));
    portal.wait().await.unwrap();
}
