//! Live migration without HA: `POST .../migrate` moves a guest to another online node when its
//! task ends. A running VM needs `online=1`; a running container can only move in restart
//! mode, as PVE refuses otherwise.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::post;
use serde_json::json;

use super::actions::run_task;
use super::guests::find_guest;
use super::params::Params;
use super::{Answer, ApiState, Check, Principal, PveError, Row, data};
use crate::guests::GuestKind;

/// The migration rows of the endpoint table.
pub(super) fn routes() -> Vec<Row> {
    [
        (GuestKind::Qemu, "/nodes/{node}/qemu/{vmid}/migrate"),
        (GuestKind::Lxc, "/nodes/{node}/lxc/{vmid}/migrate"),
    ]
    .into_iter()
    .map(|(kind, path)| {
        let handler = post(
            move |s: State<ApiState>,
                  p: Extension<Principal>,
                  path: Path<(String, String)>,
                  params: Params| { migrate(s, p, path, params, kind) },
        );
        let check = Check::All("/vms/{vmid}", &["VM.Migrate"]);
        (Method::POST, path, check, handler)
    })
    .collect()
}

async fn migrate(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    match kind {
        GuestKind::Qemu => params.only(&[
            "bwlimit",
            "force",
            "migration_network",
            "migration_type",
            "online",
            "target",
            "targetstorage",
            "with-conntrack-state",
            "with-local-disks",
        ])?,
        GuestKind::Lxc => {
            params.only(&[
                "bwlimit",
                "online",
                "restart",
                "target",
                "target-storage",
                "timeout",
            ])?;
        }
    }
    let Some(target) = params.get("target") else {
        return Err(PveError::parameter(
            "target",
            "property is missing and it is not optional",
        ));
    };
    let guest = find_guest(&state, &node, &vmid, kind)?;
    if target == node {
        return Err(PveError::failed("target is local node.".to_owned()));
    }
    let Some(to) = state.cluster.node(target) else {
        return Err(PveError::failed(format!("no such cluster node '{target}'")));
    };
    if state.faults.offline(&to.name) {
        return Err(PveError::failed(format!(
            "target node '{target}' is not online"
        )));
    }
    let flag = |name: &str| params.get(name) == Some("1");
    if guest.running {
        match kind {
            GuestKind::Qemu if !flag("online") => {
                return Err(PveError::failed(
                    "can't migrate running VM without --online".to_owned(),
                ));
            }
            GuestKind::Lxc if !flag("restart") => {
                return Err(PveError::failed(
                    "lxc live migration is currently not implemented".to_owned(),
                ));
            }
            _ => {}
        }
    }
    let worker = match kind {
        GuestKind::Qemu => "qmigrate",
        GuestKind::Lxc => "vzmigrate",
    };
    let first_line = format!(
        "starting migration of {} {} to node '{target}' ({})",
        kind.noun(),
        guest.vmid,
        to.ip
    );
    let target = target.to_owned();
    let upid = run_task(&state, &guest, worker, &principal.0, first_line, move |g| {
        g.node = target;
    });
    data(json!(upid))
}
