//! `pmp demo`: the portal on its embedded default (SQLite) beside an in-process simulated
//! Proxmox VE cluster, so a newcomer can try the product with one command.

use std::time::Duration;

use crate::app::Portal;
use crate::app::portal::StartError;
use crate::config::Config;

/// Starts the simulator and the portal, prints where to go, and runs until SIGTERM/SIGINT.
pub async fn run(
    config: &Config,
    sim_nodes: usize,
    sim_guests: usize,
    stop: impl Future<Output = ()>,
) -> Result<(), StartError> {
    let sim = pve_sim::Simulator::start(pve_sim::SimConfig {
        seed: pve_sim::Seed {
            name: "demo".to_owned(),
            nodes: sim_nodes,
            guests: sim_guests,
            seed: 42,
        },
        ..pve_sim::SimConfig::default()
    })
    .await
    .map_err(|e| StartError::Serve(format!("the simulated cluster did not start: {e}")))?;
    let portal = Portal::start(config).await?;
    println!();
    println!("  Proxmox Manager Portal demo");
    println!("  Portal:          {}/", portal.base_url());
    match portal.setup_link() {
        Some(link) => println!("  One-time setup:  {link}"),
        None => println!("  Setup:           done; an administrator already exists"),
    }
    println!(
        "  Simulated PVE:   {}/api2/json ({sim_nodes} nodes, {sim_guests} guests)",
        sim.url()
    );
    println!("  PVE certificate: {}", sim.fingerprint());
    println!(
        "  PVE API token:   {}={}",
        sim.token_id(),
        sim.token_secret()
    );
    println!("  PVE login:       root@pam / {}", sim.root_password());
    println!("  Stop with Ctrl-C.");
    println!();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let result = crate::app::portal::run(portal, grace, stop).await;
    sim.stop().await;
    result
}
