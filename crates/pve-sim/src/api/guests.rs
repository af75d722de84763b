//! Guest endpoints under a node: the QEMU and LXC lists, `status/current`, `config` and the
//! snapshot list. A guest is only found on the node that holds it, with PVE's error when asked
//! on another.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

use super::cluster::find_node;
use super::{Answer, ApiState, PveError, data, params::Params};
use crate::guests::{Guest, GuestKind};

async fn list(state: ApiState, node: String, params: Params, kind: GuestKind) -> Answer {
    let allowed: &[&str] = match kind {
        GuestKind::Qemu => &["full"],
        GuestKind::Lxc => &[],
    };
    params.only(allowed)?;
    let cluster = &state.cluster;
    find_node(cluster, &node)?;
    let elapsed = cluster.elapsed();
    let entries = cluster.with_guests(|guests| {
        guests
            .filter(|g| g.kind == kind && g.node == node)
            .map(|g| Value::Object(g.listing(elapsed)))
            .collect()
    });
    data(Value::Array(entries))
}

pub(super) async fn list_qemu(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    params: Params,
) -> Answer {
    list(state, node, params, GuestKind::Qemu).await
}

pub(super) async fn list_lxc(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    params: Params,
) -> Answer {
    list(state, node, params, GuestKind::Lxc).await
}

/// The guest `vmid` of `kind` on `node`, or the error PVE gives.
pub(super) fn find_guest(
    state: &ApiState,
    node: &str,
    vmid: &str,
    kind: GuestKind,
) -> Result<Guest, PveError> {
    find_node(&state.cluster, node)?;
    let Ok(id) = vmid.parse::<u32>() else {
        let why = format!("type check ('integer') failed - got '{vmid}'");
        return Err(PveError::parameter("vmid", why));
    };
    if !(100..=999_999_999).contains(&id) {
        let why = format!("value must have a minimum value of 100 (got {id})");
        return Err(PveError::parameter("vmid", why));
    }
    match state.cluster.guest(id) {
        Some(guest) if guest.kind == kind && guest.node == node => Ok(guest),
        _ => {
            let file = match kind {
                GuestKind::Qemu => format!("nodes/{node}/qemu-server/{id}.conf"),
                GuestKind::Lxc => format!("nodes/{node}/lxc/{id}.conf"),
            };
            let message = format!("Configuration file '{file}' does not exist");
            Err(PveError::new(StatusCode::INTERNAL_SERVER_ERROR, message))
        }
    }
}

async fn current(
    state: ApiState,
    (node, vmid): (String, String),
    params: Params,
    kind: GuestKind,
) -> Answer {
    params.only(&[])?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    data(guest.current(state.cluster.elapsed()))
}

pub(super) async fn current_qemu(
    State(state): State<ApiState>,
    Path(path): Path<(String, String)>,
    params: Params,
) -> Answer {
    current(state, path, params, GuestKind::Qemu).await
}

pub(super) async fn current_lxc(
    State(state): State<ApiState>,
    Path(path): Path<(String, String)>,
    params: Params,
) -> Answer {
    current(state, path, params, GuestKind::Lxc).await
}

async fn config(
    state: ApiState,
    (node, vmid): (String, String),
    params: Params,
    kind: GuestKind,
) -> Answer {
    params.only(&["current", "snapshot"])?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    if let Some(name) = params.get("snapshot") {
        // Snapshot configs are not kept separately; the named snapshot must exist.
        if !guest.snapshots.iter().any(|s| s.name == name) {
            let message = format!("snapshot '{name}' does not exist");
            return Err(PveError::new(StatusCode::INTERNAL_SERVER_ERROR, message));
        }
    }
    data(guest.config())
}

pub(super) async fn config_qemu(
    State(state): State<ApiState>,
    Path(path): Path<(String, String)>,
    params: Params,
) -> Answer {
    config(state, path, params, GuestKind::Qemu).await
}

pub(super) async fn config_lxc(
    State(state): State<ApiState>,
    Path(path): Path<(String, String)>,
    params: Params,
) -> Answer {
    config(state, path, params, GuestKind::Lxc).await
}

async fn snapshots(
    state: ApiState,
    (node, vmid): (String, String),
    params: Params,
    kind: GuestKind,
) -> Answer {
    params.only(&[])?;
    data(find_guest(&state, &node, &vmid, kind)?.snapshot_list())
}

pub(super) async fn snapshots_qemu(
    State(state): State<ApiState>,
    Path(path): Path<(String, String)>,
    params: Params,
) -> Answer {
    snapshots(state, path, params, GuestKind::Qemu).await
}

pub(super) async fn snapshots_lxc(
    State(state): State<ApiState>,
    Path(path): Path<(String, String)>,
    params: Params,
) -> Answer {
    snapshots(state, path, params, GuestKind::Lxc).await
}
