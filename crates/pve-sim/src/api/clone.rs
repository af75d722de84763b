//! `POST .../clone`: a full or linked copy of a guest (or one of its snapshots) under a new
//! VMID, optionally on another node and in a pool. The new VMID is taken at once, as PVE
//! writes the new config (locked) before the copy runs; the schema's compound permission
//! (VM.Clone on the source, VM.Allocate on the new VMID or its pool) is checked here.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::post;
use serde_json::json;

use super::actions::run_task;
use super::check::{allowed, denied};
use super::guests::find_guest;
use super::params::Params;
use super::{Answer, ApiState, Check, Principal, PveError, Row, data};
use crate::guests::GuestKind;

/// The clone rows of the endpoint table.
pub(super) fn routes() -> Vec<Row> {
    [
        (GuestKind::Qemu, "/nodes/{node}/qemu/{vmid}/clone"),
        (GuestKind::Lxc, "/nodes/{node}/lxc/{vmid}/clone"),
    ]
    .into_iter()
    .map(|(kind, path)| {
        let handler = post(
            move |s: State<ApiState>,
                  p: Extension<Principal>,
                  path: Path<(String, String)>,
                  q: Params| { clone(s, p, path, q, kind) },
        );
        (Method::POST, path, Check::Custom, handler)
    })
    .collect()
}

async fn clone(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path((node, vmid)): Path<(String, String)>,
    params: Params,
    kind: GuestKind,
) -> Answer {
    let name_key = match kind {
        GuestKind::Qemu => "name",
        GuestKind::Lxc => "hostname",
    };
    match kind {
        GuestKind::Qemu => params.only(&[
            "bwlimit",
            "description",
            "format",
            "full",
            "name",
            "newid",
            "pool",
            "snapname",
            "storage",
            "target",
        ])?,
        GuestKind::Lxc => params.only(&[
            "bwlimit",
            "description",
            "full",
            "hostname",
            "newid",
            "pool",
            "snapname",
            "storage",
            "target",
        ])?,
    }
    let Some(newid) = params.integer("newid")? else {
        return Err(PveError::parameter(
            "newid",
            "property is missing and it is not optional",
        ));
    };
    let newid = u32::try_from(newid).unwrap_or(u32::MAX);
    if !(100..=999_999_999).contains(&newid) {
        return Err(PveError::parameter(
            "newid",
            format!("value must have a minimum value of 100 (got {newid})"),
        ));
    }
    let user = principal.0.as_str();
    let vms = format!("/vms/{vmid}");
    if !allowed(&state, user, &vms, Check::All("", &["VM.Clone"])) {
        return Err(denied(&vms, &["VM.Clone"]));
    }
    let pool = params.get("pool").map(str::to_owned);
    let target_path = pool
        .as_ref()
        .map_or(format!("/vms/{newid}"), |p| format!("/pool/{p}"));
    if !allowed(&state, user, &target_path, Check::All("", &["VM.Allocate"])) {
        return Err(denied(&target_path, &["VM.Allocate"]));
    }
    let source = find_guest(&state, &node, &vmid, kind)?;
    if let Some(snap) = params.get("snapname")
        && !source.snapshots.iter().any(|s| s.name == snap)
    {
        return Err(PveError::failed(format!(
            "snapshot '{snap}' does not exist"
        )));
    }
    let full = params.get("full").map_or(!source.template, |f| f == "1");
    if !full && !source.template {
        return Err(PveError::failed(
            "Linked clone feature is not supported for drive 'scsi0'".to_owned(),
        ));
    }
    let target = params.get("target").unwrap_or(&node).to_owned();
    if state.cluster.node(&target).is_none() || state.faults.offline(&target) {
        return Err(PveError::failed(format!(
            "target node '{target}' does not exist or is offline"
        )));
    }
    let name = params
        .get(name_key)
        .map_or_else(|| format!("Copy-of-{}", source.name), str::to_owned);
    let mut copy = source.clone();
    copy.vmid = newid;
    copy.node = target;
    copy.name = name;
    copy.running = false;
    copy.paused = false;
    copy.template = false;
    copy.snapshots.clear();
    copy.pool = pool;
    copy.description = params.get("description").unwrap_or_default().to_owned();
    if !state.cluster.insert_guest(copy) {
        return Err(PveError::failed(format!(
            "unable to create VM {newid}: config file already exists"
        )));
    }
    let first_line = format!(
        "create {} clone of {} {}: {}",
        if full { "full" } else { "linked" },
        kind.noun(),
        source.vmid,
        source.name
    );
    let upid = run_task(
        &state,
        &source,
        &kind.worker("clone"),
        user,
        first_line,
        |_| {},
    );
    data(json!(upid))
}
