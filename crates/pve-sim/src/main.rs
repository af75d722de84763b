//! `pve-sim`: runs the simulated Proxmox VE cluster on its own and prints one JSON line with
//! each node's URL and certificate fingerprint, the credentials and the control endpoint.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// A simulated Proxmox VE cluster over HTTPS.
#[derive(Debug, Parser)]
#[command(name = "pve-sim", version)]
struct Args {
    /// Address and port of the first node; the others take the next free ports (port 0: any).
    #[arg(long, default_value = "127.0.0.1:8006")]
    listen: SocketAddr,
    /// Address of the fault-injection control endpoint (plain HTTP, keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    control_listen: SocketAddr,
    /// How long each task (start, migrate, snapshot, ...) runs, in milliseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    task_ms: u64,
    /// Number of cluster nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    nodes: u16,
    /// Number of guests (VMs and containers) spread over the nodes.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    guests: u32,
    /// Seed for generating the cluster: the same seed gives the same guests.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Cluster name.
    #[arg(long, default_value = "sim")]
    cluster_name: String,
    /// Password of `root@pam` for ticket logins [default: random, printed at start].
    #[arg(long)]
    root_password: Option<String>,
    /// API token with full rights, `USER@REALM!NAME=SECRET` [default: a random secret for
    /// root@pam!pmp, printed at start].
    #[arg(long, value_parser = parse_token)]
    api_token: Option<(String, String)>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = pve_sim::SimConfig {
        listen: args.listen,
        control_listen: args.control_listen,
        task_duration: std::time::Duration::from_millis(args.task_ms),
        seed: pve_sim::Seed {
            name: args.cluster_name.clone(),
            nodes: usize::from(args.nodes),
            guests: usize::try_from(args.guests).unwrap_or(usize::MAX),
            seed: args.seed,
        },
        ..pve_sim::SimConfig::default()
    };
    let config = pve_sim::SimConfig {
        root_password: args
            .root_password
            .clone()
            .unwrap_or(config.root_password.clone()),
        token: args.api_token.clone().unwrap_or(config.token.clone()),
        ..config
    };
    let sim = match pve_sim::Simulator::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("pve-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    // One JSON line on stdout for scripts and tests; each node has its own port and certificate.
    let nodes: Vec<_> = sim
        .nodes()
        .into_iter()
        .map(|n| serde_json::json!({ "name": n.name, "url": n.url, "fingerprint": n.fingerprint }))
        .collect();
    let ready = serde_json::json!({
        "cluster": args.cluster_name,
        "nodes": nodes,
        "guests": args.guests,
        "user": "root@pam",
        "password": sim.root_password(),
        "tokens": [format!("{}={}", sim.token_id(), sim.token_secret())],
        "control_url": sim.control_url(),
    });
    println!("{ready}");
    let _ = tokio::signal::ctrl_c().await;
    sim.stop().await;
    ExitCode::SUCCESS
}

fn parse_token(raw: &str) -> Result<(String, String), String> {
    let (id, secret) = raw
        .rsplit_once('=')
        .ok_or("expected USER@REALM!NAME=SECRET")?;
    let valid = id.contains('@') && id.contains('!') && !secret.is_empty();
    valid
        .then(|| (id.to_owned(), secret.to_owned()))
        .ok_or_else(|| "expected USER@REALM!NAME=SECRET".to_owned())
}
