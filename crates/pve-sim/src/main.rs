//! `pve-sim`: runs the simulated Proxmox VE cluster on its own and prints one JSON line with
//! each node's URL and certificate fingerprint, the credentials and the control endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pve_sim::{Scenario, Seed, SimConfig, Simulator};

/// A simulated Proxmox VE cluster over HTTPS.
#[derive(Debug, Parser)]
#[command(name = "pve-sim", version)]
struct Args {
    /// Address and port of the first node; the others take the next addresses or ports.
    #[arg(long, default_value = "127.0.0.1:8006")]
    listen: SocketAddr,
    /// Address of the fault-injection control endpoint (plain HTTP, keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    control_listen: SocketAddr,
    /// A TOML scenario (cluster shape, users, tokens, ACL); flags given here win over it.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Number of cluster nodes [default: 3].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    nodes: Option<u16>,
    /// Number of guests (VMs and containers) spread over the nodes [default: 20].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    guests: Option<u32>,
    /// Seed for generating the cluster: the same seed gives the same guests [default: 42].
    #[arg(long)]
    seed: Option<u64>,
    /// Cluster name [default: sim].
    #[arg(long)]
    cluster_name: Option<String>,
    /// How long each task (start, migrate, snapshot, ...) runs, in milliseconds [default: 2000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    task_ms: Option<u64>,
    /// Password of `root@pam` for ticket logins [default: random, printed at start].
    #[arg(long)]
    root_password: Option<String>,
    /// API token of root@pam with full rights, `root@pam!NAME=SECRET`; repeatable [default: a
    /// random secret for root@pam!pmp, printed at start].
    #[arg(long, value_parser = parse_token)]
    api_token: Vec<(String, String)>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let scenario = match args.scenario.as_deref().map(Scenario::load).transpose() {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => {
            eprintln!("pve-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let defaults = SimConfig::default();
    let name = args
        .cluster_name
        .clone()
        .or(scenario.cluster.clone())
        .unwrap_or_else(|| "sim".to_owned());
    let mut tokens = args.api_token.clone().into_iter();
    let config = SimConfig {
        listen: args.listen,
        control_listen: args.control_listen,
        seed: Seed {
            name: name.clone(),
            nodes: usize::from(args.nodes.or(scenario.nodes).unwrap_or(3)),
            guests: usize::try_from(args.guests.or(scenario.guests).unwrap_or(20))
                .unwrap_or(usize::MAX),
            seed: args.seed.or(scenario.seed).unwrap_or(42),
        },
        token: tokens.next().unwrap_or(defaults.token.clone()),
        task_duration: Duration::from_millis(args.task_ms.or(scenario.task_ms).unwrap_or(2000)),
        root_password: args
            .root_password
            .clone()
            .or(scenario.root_password.clone())
            .unwrap_or(defaults.root_password.clone()),
        ticket_lifetime: scenario
            .ticket_seconds
            .map_or(defaults.ticket_lifetime, Duration::from_secs),
    };
    let sim = match Simulator::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("pve-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut printed = vec![format!("{}={}", sim.token_id(), sim.token_secret())];
    for (id, secret) in tokens {
        sim.add_token_with_secret(&id, &secret, false);
        printed.push(format!("{id}={secret}"));
    }
    scenario.apply(&sim);
    // One JSON line on stdout for scripts and tests; each node has its own port and certificate.
    let nodes: Vec<_> = sim
        .nodes()
        .into_iter()
        .map(|n| serde_json::json!({ "name": n.name, "url": n.url, "fingerprint": n.fingerprint }))
        .collect();
    let ready = serde_json::json!({
        "cluster": name,
        "nodes": nodes,
        "guests": sim.cluster().with_guests(|g| g.count()),
        "user": "root@pam",
        "password": sim.root_password(),
        "tokens": printed,
        "control_url": sim.control_url(),
    });
    println!("{ready}");
    let _ = tokio::signal::ctrl_c().await;
    sim.stop().await;
    ExitCode::SUCCESS
}

/// A full-rights token: it must belong to root@pam, whose rights it carries.
fn parse_token(raw: &str) -> Result<(String, String), String> {
    let expected = "expected root@pam!NAME=SECRET (USER@REALM!NAME=SECRET of root@pam)";
    let (id, secret) = raw.rsplit_once('=').ok_or(expected)?;
    let valid = id.starts_with("root@pam!") && id.len() > "root@pam!".len() && !secret.is_empty();
    valid
        .then(|| (id.to_owned(), secret.to_owned()))
        .ok_or_else(|| expected.to_owned())
}
