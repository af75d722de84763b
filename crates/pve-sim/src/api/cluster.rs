//! Cluster-wide and node endpoints: version, node list, cluster status, resources, node status.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Answer, ApiState, Principal, PveError, data, params::Params};
use crate::read;
use crate::state::{Cluster, Node};

pub(super) async fn version(params: Params) -> Answer {
    params.only(&[])?;
    data(json!({
        "release": "9.1",
        "version": "9.1.1",
        "repoid": "42d36f9a",
        "console": "html5",
    }))
}

/// A node as `GET /nodes` and `/cluster/resources` list it: one that is down has no figures.
fn node_entry(state: &ApiState, node: &Node) -> Value {
    let cluster = &state.cluster;
    if state.faults.offline(&node.name) {
        return json!({ "node": node.name, "status": "offline", "level": "" });
    }
    json!({
        "node": node.name,
        "status": "online",
        "cpu": cluster.node_cpu(node),
        "maxcpu": node.maxcpu,
        "mem": cluster.node_mem(node),
        "maxmem": node.maxmem,
        "uptime": cluster.uptime(),
        "level": "",
    })
}

pub(super) async fn nodes(State(state): State<ApiState>, params: Params) -> Answer {
    params.only(&[])?;
    data(
        state
            .cluster
            .nodes
            .iter()
            .map(|n| {
                // Every member's certificate fingerprint, from the cluster file system: a
                // member that is down has one too.
                let der = state.certificate_der(&n.name).unwrap_or_default();
                let mut entry = node_entry(&state, n);
                entry["ssl_fingerprint"] = json!(crate::fingerprint_of(&der));
                entry
            })
            .collect(),
    )
}

pub(super) async fn status(State(state): State<ApiState>, params: Params) -> Answer {
    params.only(&[])?;
    let cluster = &state.cluster;
    let up = |node: &Node| !state.faults.offline(&node.name);
    let online = cluster.nodes.iter().filter(|n| up(n)).count();
    let mut entries = vec![json!({
        "type": "cluster",
        "id": "cluster",
        "name": cluster.name,
        "nodes": cluster.nodes.len(),
        "quorate": u8::from(online * 2 > cluster.nodes.len()),
        "version": cluster.nodes.len() + 1,
    })];
    entries.extend(cluster.nodes.iter().enumerate().map(|(i, node)| {
        let mut entry = json!({
            "type": "node",
            "id": format!("node/{}", node.name),
            "name": node.name,
            "nodeid": node.id,
            "online": u8::from(up(node)),
            "local": u8::from(i == 0),
            "level": "",
        });
        // PVE leaves the address out for some members that are down.
        if !state.faults.unaddressed(&node.name) {
            entry["ip"] = json!(node.ip.to_string());
        }
        entry
    }));
    data(Value::Array(entries))
}

pub(super) async fn resources(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    params: Params,
) -> Answer {
    params.only(&["type"])?;
    let wanted = params.get("type");
    if let Some(kind) = wanted.filter(|k| !matches!(*k, "vm" | "storage" | "node" | "sdn")) {
        let why = format!(
            "value '{kind}' does not have a value in the enumeration 'vm, storage, node, sdn'"
        );
        return Err(PveError::parameter("type", why));
    }
    let cluster = &state.cluster;
    let access = read(&state.access);
    let sees = |path: &str, pool: Option<&str>, privilege: &str| {
        access.holds(&principal.0, path, pool, privilege)
    };
    let mut entries = Vec::new();
    if matches!(wanted, None | Some("node")) {
        let visible = cluster
            .nodes
            .iter()
            .filter(|n| sees(&format!("/nodes/{}", n.name), None, "Sys.Audit"));
        entries.extend(visible.map(|node| {
            let mut entry = node_entry(&state, node);
            if let Value::Object(map) = &mut entry {
                map.insert("id".into(), json!(format!("node/{}", node.name)));
                map.insert("type".into(), json!("node"));
                map.insert("disk".into(), json!(node.maxdisk / 4));
                map.insert("maxdisk".into(), json!(node.maxdisk));
            }
            entry
        }));
    }
    if matches!(wanted, None | Some("vm")) {
        let elapsed = cluster.elapsed();
        cluster.with_guests(|guests| {
            let visible =
                guests.filter(|g| sees(&format!("/vms/{}", g.vmid), g.pool.as_deref(), "VM.Audit"));
            entries.extend(visible.map(|g| {
                let entry = g.resource(elapsed);
                if state.faults.down_long(&g.node) {
                    reduced(&entry)
                } else {
                    entry
                }
            }));
        });
    }
    data(Value::Array(entries))
}

/// A guest of a node that has been down for more than about five minutes, as PVE lists it:
/// only its id, VMID, node and type with status `unknown`, and tags, lock, pool and HA state
/// when set; no name, no template flag, no figures.
fn reduced(entry: &Value) -> Value {
    let mut kept = serde_json::Map::new();
    for key in [
        "id", "vmid", "node", "type", "tags", "lock", "pool", "hastate",
    ] {
        if let Some(value) = entry.get(key) {
            kept.insert(key.to_owned(), value.clone());
        }
    }
    kept.insert("status".to_owned(), json!("unknown"));
    Value::Object(kept)
}

/// The node named in the path, or PVE's error for an unknown host.
pub(super) fn find_node<'a>(cluster: &'a Cluster, name: &str) -> Result<&'a Node, PveError> {
    cluster.node(name).ok_or_else(|| {
        let message = format!(
            "hostname lookup '{name}' failed - failed to get address info for: {name}: Name or service not known"
        );
        PveError::failed(message)
    })
}

pub(super) async fn node_status(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    params: Params,
) -> Answer {
    params.only(&[])?;
    let cluster = &state.cluster;
    let node = find_node(cluster, &name)?;
    let used = cluster.node_mem(node);
    let cpu = cluster.node_cpu(node);
    let load = |f: f64| format!("{:.2}", cpu * f64::from(node.maxcpu) * f);
    data(json!({
        "cpu": cpu,
        "uptime": cluster.uptime(),
        "loadavg": [load(1.0), load(0.9), load(0.8)],
        "pveversion": "pve-manager/9.1.1/42d36f9a",
        "kversion": "Linux 6.14.8-2-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2",
        "boot-info": { "mode": "efi", "secureboot": 0 },
        "current-kernel": {
            "sysname": "Linux",
            "release": "6.14.8-2-pve",
            "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2",
            "machine": "x86_64",
        },
        "cpuinfo": {
            "cpus": node.maxcpu,
            "cores": node.maxcpu / 2,
            "sockets": 1,
            "model": "AMD EPYC 7302P 16-Core Processor",
        },
        "memory": { "total": node.maxmem, "used": used, "free": node.maxmem - used, "available": node.maxmem - used },
        "swap": { "total": 8u64 << 30, "used": 0, "free": 8u64 << 30 },
        "rootfs": {
            "total": node.maxdisk,
            "used": node.maxdisk / 4,
            "free": node.maxdisk - node.maxdisk / 4,
            "avail": node.maxdisk - node.maxdisk / 4,
        },
        "ksm": { "shared": 0 },
        "idle": 0,
        "wait": 0.001,
    }))
}

/// `GET /nodes/{node}/certificates/info`: the node's current certificate, as PVE lists
/// `pve-ssl.pem`; clients use it to learn every member's fingerprint over a trusted channel.
pub(super) async fn certificates(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    params: Params,
) -> Answer {
    params.only(&[])?;
    let node = find_node(&state.cluster, &name)?;
    let der = state.certificate_der(&node.name).unwrap_or_default();
    data(json!([{
        "filename": "pve-ssl.pem",
        "fingerprint": crate::fingerprint_of(&der),
        "subject": format!("/CN={}.sim", node.name),
        "issuer": "/CN=rcgen self signed cert",
        "san": ["localhost", node.ip.to_string()],
        "public-key-type": "id-ecPublicKey",
        "public-key-bits": 256,
    }]))
}

pub(super) async fn nextid(State(state): State<ApiState>, params: Params) -> Answer {
    params.only(&["vmid"])?;
    match params.integer("vmid")? {
        // With `vmid`, PVE checks that one instead of proposing one.
        Some(vmid) => {
            let id = u32::try_from(vmid).unwrap_or(u32::MAX);
            if state.cluster.vmid_taken(id) {
                let message = format!("VM {vmid} already exists");
                return Err(PveError::new(StatusCode::BAD_REQUEST, message));
            }
            data(json!(vmid))
        }
        // Real PVE sends this as a string ("100"); the schema says integer, and so do we.
        None => data(json!(state.cluster.next_vmid())),
    }
}
