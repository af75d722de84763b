//! One poller per server: reads the stored server (so edits, re-pinning and removal take
//! effect on the next round), keeps one client while the record is unchanged, asks PVE for
//! `/cluster/resources`, turns the answer into rows and health, and sleeps as the inventory's
//! interval says, waking early when nudged.

use std::sync::Arc;

use pve::{Resource, ResourceKind};

use crate::db::Db;
use crate::ids::ServerId;
use crate::inventory::{GuestRow, Health, Inventory, NodeRow, ServerState};
use crate::jobs::queue::now_ms;
use crate::secrets::Keys;
use crate::servers::connect::client_for;
use crate::servers::store;

/// Starts a poller for every registered server now, and for servers other instances add,
/// as it finds them (every idle interval), until `stop` turns true.
pub fn supervise(
    inventory: &Inventory,
    db: Db,
    keys: Arc<Keys>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let inventory = inventory.clone();
    tokio::spawn(async move {
        loop {
            match store::list(&db).await {
                Ok(servers) => {
                    for server in servers {
                        if let Ok(id) = ServerId::parse(&server.id) {
                            start(&inventory, db.clone(), keys.clone(), id);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "inventory: cannot list servers"),
            }
            tokio::select! {
                () = tokio::time::sleep(inventory.idle()) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    });
}

/// Starts polling `server` unless a poller for it already runs; it ends by itself when the
/// server is removed.
pub fn start(inventory: &Inventory, db: Db, keys: Arc<Keys>, server: ServerId) {
    if !inventory.claim(server.as_str()) {
        return;
    }
    let inventory = inventory.clone();
    tokio::spawn(async move {
        run(&inventory, &db, &keys, &server).await;
        inventory.release(server.as_str());
    });
}

fn guest_row(server: &str, r: Resource) -> Option<GuestRow> {
    let kind = match r.kind {
        ResourceKind::Qemu => "qemu",
        ResourceKind::Lxc => "lxc",
        _ => return None,
    };
    Some(GuestRow {
        server: server.to_owned(),
        vmid: u32::try_from(r.vmid?).ok()?,
        kind,
        name: r.name.unwrap_or_default(),
        node: r.node.unwrap_or_default(),
        status: r.status.unwrap_or_else(|| "unknown".to_owned()),
        tags: r.tags,
        pool: r.pool,
        template: r.template,
        cpu: r.cpu,
        maxcpu: r.maxcpu,
        mem: r.mem,
        maxmem: r.maxmem,
        disk: r.disk,
        maxdisk: r.maxdisk,
        uptime: r.uptime,
    })
}

fn node_row(r: Resource) -> Option<NodeRow> {
    (r.kind == ResourceKind::Node).then(|| NodeRow {
        name: r.node.unwrap_or_default(),
        status: r.status.unwrap_or_else(|| "unknown".to_owned()),
        cpu: r.cpu,
        maxcpu: r.maxcpu,
        mem: r.mem,
        maxmem: r.maxmem,
        uptime: r.uptime,
    })
}

async fn run(inventory: &Inventory, db: &Db, keys: &Keys, server: &ServerId) {
    let id = server.as_str();
    let notify = inventory.notify(id);
    let mut client: Option<(i64, pve::Client)> = None;
    let mut failures: u32 = 0;
    loop {
        let record = match store::get(db, server).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                inventory.forget(id);
                return;
            }
            Err(e) => {
                tracing::warn!(server = id, error = %e, "inventory: cannot read the server record");
                failures = failures.saturating_add(1);
                tokio::select! {
                    () = tokio::time::sleep(inventory.interval(id, failures)) => {}
                    () = notify.notified() => {}
                }
                continue;
            }
        };
        let previous = inventory.server(id);
        let keep = |health: Health| ServerState {
            health,
            guests: previous
                .as_ref()
                .map(|p| p.guests.clone())
                .unwrap_or_default(),
            nodes: previous
                .as_ref()
                .map(|p| p.nodes.clone())
                .unwrap_or_default(),
            updated_ms: previous.as_ref().and_then(|p| p.updated_ms),
            generation: 0,
        };
        if !record.enabled {
            client = None;
            inventory.publish(id, keep(Health::Disabled));
        } else {
            if client
                .as_ref()
                .is_none_or(|(at, _)| *at != record.updated_at_ms)
            {
                client = match store::auth(db, keys, server).await {
                    Ok(Some(auth)) => client_for(&record, auth)
                        .ok()
                        .map(|c| (record.updated_at_ms, c)),
                    _ => None,
                };
            }
            let state = match &client {
                None => {
                    failures = failures.saturating_add(1);
                    keep(Health::Unreachable {
                        message:
                            "the server's credentials or addresses cannot be used; edit the server"
                                .to_owned(),
                    })
                }
                Some((_, pve)) => match pve.resources(None).await {
                    Ok(resources) => {
                        failures = 0;
                        fresh(id, resources)
                    }
                    Err(pve::Error::FingerprintMismatch {
                        url,
                        expected,
                        seen,
                    }) => {
                        failures = failures.saturating_add(1);
                        let changed = Health::CertificateChanged {
                            member: url,
                            expected: expected.to_string(),
                            seen: seen.to_string(),
                        };
                        if previous.as_ref().is_none_or(|p| p.health != changed) {
                            tracing::warn!(server = id, health = ?changed, "a Proxmox VE certificate changed; calls are blocked until it is confirmed");
                        }
                        keep(changed)
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        keep(Health::Unreachable {
                            message: e.to_string(),
                        })
                    }
                },
            };
            inventory.publish(id, state);
        }
        tokio::select! {
            () = tokio::time::sleep(inventory.interval(id, failures)) => {}
            () = notify.notified() => {}
        }
    }
}

/// The state a successful poll gives.
fn fresh(server: &str, resources: Vec<Resource>) -> ServerState {
    let mut guests = Vec::new();
    let mut nodes = Vec::new();
    for r in resources {
        match r.kind {
            ResourceKind::Qemu | ResourceKind::Lxc => guests.extend(guest_row(server, r)),
            ResourceKind::Node => nodes.extend(node_row(r)),
            _ => {}
        }
    }
    guests.sort_by_key(|g| g.vmid);
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let down: Vec<&str> = nodes
        .iter()
        .filter(|n| n.status != "online")
        .map(|n| n.name.as_str())
        .collect();
    let health = if down.is_empty() {
        Health::Up
    } else {
        Health::Degraded {
            message: format!("not online: {}", down.join(", ")),
        }
    };
    ServerState {
        health,
        guests,
        nodes,
        updated_ms: Some(now_ms()),
        generation: 0,
    }
}
