//! The inventory at scale: 10,000 guests over 5 simulated clusters (5 nodes each). Prints
//! the guest list API (first page, and filtered) and the guest list page, p50/p99 and
//! requests per second, against `GET /healthz` measured in the same run as the baseline; the
//! portal's memory (RSS growth once every guest is loaded); and the requests per minute the
//! poller sends each server, against a naive poller that asks every guest's status.
//!
//! `cargo bench -p pmp --bench inventory`

// A benchmark fails loudly on purpose; a panic is the run failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pmp::app::portal::Portal;
use pmp::config::Config;
use pve_sim::{Seed, SimConfig, Simulator};
use serde_json::{Value, json};

const CLUSTERS: usize = 5;
const GUESTS: usize = 2000;
const ROUNDS: usize = 300;
const PASSWORD: &str = "correct horse battery staple";
const IDLE_SECS: u64 = 5;

fn resident_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1_048_576.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// p50 and p99 in ms of `ROUNDS` sequential GETs, and requests per second with 8 at once.
async fn measure(http: &reqwest::Client, url: &str, auth: (&str, &str)) -> (f64, f64, f64) {
    let get = || http.get(url).header(auth.0, auth.1).send();
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let response = get().await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.bytes().await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    let window = Duration::from_secs(3);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url, name, value) = (
            http.clone(),
            url.to_owned(),
            auth.0.to_owned(),
            auth.1.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while started.elapsed() < window {
                http.get(&url)
                    .header(&name, &value)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        total as f64 / started.elapsed().as_secs_f64(),
    )
}

fn row(label: &str, (p50, p99, rps): (f64, f64, f64), base: (f64, f64, f64)) {
    println!(
        "  {label:<34} p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  {rps:>7.0} req/s  (p50 x{:.1} the baseline)",
        p50 / base.0
    );
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut sims = Vec::new();
    for i in 0..CLUSTERS {
        let seed = Seed {
            name: format!("c{i}"),
            nodes: 5,
            guests: GUESTS,
            seed: 100 + i as u64,
        };
        sims.push(
            Simulator::start(SimConfig {
                seed,
                ..SimConfig::default()
            })
            .await
            .unwrap(),
        );
    }
    let before_portal = resident_mib();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        worker_enabled: false,
        inventory_idle_secs: IDLE_SECS,
        ..Config::default()
    };
    let portal = Portal::start(&config).await.unwrap();
    let name = pmp::identity::users::Username::parse("bench").unwrap();
    let hash = pmp::identity::signin::password::hash(PASSWORD.to_owned())
        .await
        .unwrap();
    pmp::identity::setup::create_first_admin(portal.db(), &name, &hash)
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = portal.base_url();
    let token: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({ "username": "bench", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    for (i, sim) in sims.iter().enumerate() {
        let body = json!({
            "id": format!("c{i}"), "name": format!("Cluster {i}"), "url": sim.url(), "fingerprint": sim.fingerprint(),
            "token_id": sim.token_id(), "token_secret": sim.token_secret(),
        });
        let added = http
            .post(format!("{base}/api/v1/servers"))
            .header("Authorization", &bearer)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(added.status(), 201);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page: Value = http
            .get(format!("{base}/api/v1/guests?per_page=1"))
            .header("Authorization", &bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["total"] == CLUSTERS * GUESTS {
            break;
        }
        assert!(Instant::now() < deadline, "the inventory never loaded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let portal_mib = resident_mib() - before_portal;

    // The poller's load, idle, over three intervals.
    let requests = |sims: &[Simulator]| sims.iter().map(Simulator::requests).sum::<u64>();
    let window = Duration::from_secs(IDLE_SECS * 3);
    let first = requests(&sims);
    tokio::time::sleep(window).await;
    let polled = requests(&sims) - first;
    let per_minute = polled as f64 / CLUSTERS as f64 * 60.0 / window.as_secs_f64();
    // A naive poller reads every guest's status each interval: time one such sweep.
    let sim = &sims[0];
    let auth = pve::Auth::ApiToken {
        id: sim.token_id().to_owned(),
        secret: sim.token_secret().to_owned(),
    };
    let client = pve::Client::new(
        &sim.url(),
        auth,
        sim.fingerprint().parse().unwrap(),
        Duration::from_secs(30),
    )
    .unwrap();
    let listing = client.resources(Some("vm")).await.unwrap();
    let sweep_started = Instant::now();
    let sweep_before = sim.requests();
    for chunk in listing.chunks(16) {
        let calls = chunk.iter().map(|r| {
            let (client, node, kind, vmid) = (
                client.clone(),
                r.node.clone().unwrap(),
                r.kind,
                r.vmid.unwrap(),
            );
            async move {
                let segment = if kind == pve::ResourceKind::Lxc {
                    "lxc"
                } else {
                    "qemu"
                };
                client
                    .call(
                        reqwest::Method::GET,
                        &format!("/nodes/{node}/{segment}/{vmid}/status/current"),
                        &[],
                    )
                    .await
                    .unwrap();
            }
        });
        futures_util::future::join_all(calls).await;
    }
    let sweep = sweep_started.elapsed();
    let naive_per_sweep = sim.requests() - sweep_before;
    let naive_per_minute = naive_per_sweep as f64 * 60.0 / IDLE_SECS as f64;

    let cookie = {
        let response = http
            .post(format!("{base}/login"))
            .form(&[("username", "bench"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let baseline = measure(&http, &format!("{base}/healthz"), ("x-bench", "1")).await;
    let first_page = measure(
        &http,
        &format!("{base}/api/v1/guests?per_page=50"),
        ("Authorization", &bearer),
    )
    .await;
    let filtered = measure(
        &http,
        &format!("{base}/api/v1/guests?status=running&type=qemu&q=web&sort=name&per_page=50"),
        ("Authorization", &bearer),
    )
    .await;
    let html = measure(&http, &format!("{base}/guests"), ("Cookie", &cookie)).await;
    let html_filtered = measure(
        &http,
        &format!("{base}/guests?status=running&type=qemu&q=web"),
        ("Cookie", &cookie),
    )
    .await;

    println!(
        "inventory: {CLUSTERS} clusters x {GUESTS} guests = {} guests",
        CLUSTERS * GUESTS
    );
    row("GET /healthz (baseline)", baseline, baseline);
    row("GET /api/v1/guests (first page)", first_page, baseline);
    row("GET /api/v1/guests (filtered)", filtered, baseline);
    row("GET /guests page (first page)", html, baseline);
    row("GET /guests page (filtered)", html_filtered, baseline);
    println!("  portal memory (RSS growth with every guest loaded): {portal_mib:.1} MiB");
    println!(
        "  poller load per server: {per_minute:.0} requests/min at a {IDLE_SECS} s interval; a naive per-guest poller: {naive_per_minute:.0} requests/min ({naive_per_sweep} per sweep, one sweep took {:.1} s): ratio {:.5}",
        sweep.as_secs_f64(),
        per_minute / naive_per_minute
    );
    portal.shutdown(Duration::from_secs(1));
    portal.wait().await.unwrap();
    for sim in sims {
        sim.stop().await;
    }
}
