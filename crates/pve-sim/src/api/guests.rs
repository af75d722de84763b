//! Guest endpoints under a node: the QEMU and LXC lists, `status/current`, `config` and the
//! snapshot list. A guest is only found on the node that holds it, with PVE's error when asked
//! on another.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::get;
use serde_json::Value;

use super::cluster::find_node;
use super::{Answer, ApiState, Check, Principal, PveError, Row, data, params::Params};
use crate::guests::{Guest, GuestKind};
use crate::read;

type NodePath = Path<String>;
type GuestPath = Path<(String, String)>;

/// The guest rows of the endpoint table: the same four reads for QEMU and LXC.
pub(super) fn routes() -> Vec<Row> {
    const AUDIT: Check = Check::All("/vms/{vmid}", &["VM.Audit"]);
    let mut rows: Vec<Row> = Vec::new();
    for (kind, [list_path, current_path, config_path, snapshot_path]) in [
        (
            GuestKind::Qemu,
            [
                "/nodes/{node}/qemu",
                "/nodes/{node}/qemu/{vmid}/status/current",
                "/nodes/{node}/qemu/{vmid}/config",
                "/nodes/{node}/qemu/{vmid}/snapshot",
            ],
        ),
        (
            GuestKind::Lxc,
            [
                "/nodes/{node}/lxc",
                "/nodes/{node}/lxc/{vmid}/status/current",
                "/nodes/{node}/lxc/{vmid}/config",
                "/nodes/{node}/lxc/{vmid}/snapshot",
            ],
        ),
    ] {
        let handlers: [(&'static str, Check, super::Handler); 4] = [
            (
                list_path,
                // Filtered: only guests with VM.Audit are listed.
                Check::User,
                get(
                    move |s: State<ApiState>, who: Extension<Principal>, p: NodePath, q: Params| {
                        list(s, who, p, q, kind)
                    },
                ),
            ),
            (
                current_path,
                AUDIT,
                get(move |s: State<ApiState>, p: GuestPath, q: Params| current(s, p, q, kind)),
            ),
            (
                config_path,
                AUDIT,
                get(move |s: State<ApiState>, p: GuestPath, q: Params| config(s, p, q, kind)),
            ),
            (
                snapshot_path,
                AUDIT,
                get(move |s: State<ApiState>, p: GuestPath, q: Params| snapshots(s, p, q, kind)),
            ),
        ];
        rows.extend(handlers.map(|(path, check, handler)| (Method::GET, path, check, handler)));
    }
    rows
}

async fn list(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(node): Path<String>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    let allowed: &[&str] = match kind {
        GuestKind::Qemu => &["full"],
        GuestKind::Lxc => &[],
    };
    params.only(allowed)?;
    let cluster = &state.cluster;
    find_node(cluster, &node)?;
    let elapsed = cluster.elapsed();
    let access = read(&state.access);
    let entries = cluster.with_guests(|guests| {
        guests
            .filter(|g| g.kind == kind && g.node == node)
            .filter(|g| {
                let path = format!("/vms/{}", g.vmid);
                access.holds(&principal.0, &path, g.pool.as_deref(), "VM.Audit")
            })
            .map(|g| Value::Object(g.listing(elapsed)))
            .collect()
    });
    data(Value::Array(entries))
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
            Err(PveError::failed(message))
        }
    }
}

/// The guest `vmid` wherever it is, or PVE's error for a VMID that does not exist.
pub(super) fn find_guest_anywhere(state: &ApiState, vmid: &str) -> Result<Guest, PveError> {
    let id = vmid.parse::<u32>().map_err(|_| {
        PveError::parameter(
            "vmid",
            format!("type check ('integer') failed - got '{vmid}'"),
        )
    })?;
    state
        .cluster
        .guest(id)
        .ok_or_else(|| PveError::failed(format!("VM {id} does not exist")))
}

async fn current(
    State(state): State<ApiState>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    params.only(&[])?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    data(guest.current(state.cluster.elapsed()))
}

async fn config(
    State(state): State<ApiState>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    params.only(&["current", "snapshot"])?;
    let guest = find_guest(&state, &node, &vmid, kind)?;
    if let Some(name) = params.get("snapshot") {
        // Snapshot configs are not kept separately; the named snapshot must exist.
        if !guest.snapshots.iter().any(|s| s.name == name) {
            let message = format!("snapshot '{name}' does not exist");
            return Err(PveError::failed(message));
        }
    }
    data(guest.config())
}

async fn snapshots(
    State(state): State<ApiState>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    params.only(&[])?;
    data(find_guest(&state, &node, &vmid, kind)?.snapshot_list())
}
