//! Pools, storages and their content, and `vzdump` backups, with PVE's per-entry filtering
//! (Pool.Audit per pool, Datastore.Audit or AllocateSpace per storage) and its checks on
//! backups (VM.Backup on each guest, Datastore.AllocateSpace on the target storage).

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::actions::{NodeTask, run_node_task};
use super::check::{allowed, denied};
use super::cluster::find_node;
use super::params::Params;
use super::{Answer, ApiState, Check, Principal, PveError, Row, data};
use crate::storage::{Backup, STORAGES, content, stamp};
use crate::tasks::unix_now;

/// The pool, storage and backup rows of the endpoint table.
pub(super) fn routes() -> Vec<Row> {
    vec![
        // Filtered: pools with Pool.Audit.
        (Method::GET, "/pools", Check::User, get(pools)),
        // Filtered: storages with Datastore.Audit or AllocateSpace.
        (
            Method::GET,
            "/nodes/{node}/storage",
            Check::User,
            get(storages),
        ),
        (
            Method::GET,
            "/nodes/{node}/storage/{storage}/content",
            Check::Any(
                "/storage/{storage}",
                &["Datastore.Audit", "Datastore.AllocateSpace"],
            ),
            get(storage_content),
        ),
        // VM.Backup on each guest and Datastore.AllocateSpace on the storage, in the handler.
        (
            Method::POST,
            "/nodes/{node}/vzdump",
            Check::User,
            post(vzdump),
        ),
    ]
}

fn sees(state: &ApiState, principal: &str, path: &str, privs: &'static [&'static str]) -> bool {
    allowed(state, principal, path, Check::Any("", privs))
}

async fn pools(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    params: Params,
) -> Answer {
    params.only(&["poolid", "type"])?;
    let kind = params.get("type");
    if let Some(k) = kind.filter(|k| !matches!(*k, "qemu" | "lxc" | "storage")) {
        let why =
            format!("value '{k}' does not have a value in the enumeration 'qemu, lxc, storage'");
        return Err(PveError::parameter("type", why));
    }
    let elapsed = state.cluster.elapsed();
    let mut members: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    state.cluster.with_guests(|guests| {
        for g in guests {
            if let Some(pool) = &g.pool
                && kind.is_none_or(|k| k == g.kind.as_str())
            {
                members
                    .entry(pool.clone())
                    .or_default()
                    .push(g.resource(elapsed));
            }
        }
    });
    let wanted = params.get("poolid");
    let entries: Vec<Value> = members
        .into_iter()
        .filter(|(id, _)| wanted.is_none_or(|w| w == id))
        .filter(|(id, _)| {
            sees(
                &state,
                &principal.0,
                &format!("/pool/{id}"),
                &["Pool.Audit"],
            )
        })
        .map(|(id, list)| {
            let mut entry = json!({ "poolid": id, "comment": format!("{id} guests") });
            if wanted.is_some() {
                entry["members"] = json!(list);
            }
            entry
        })
        .collect();
    if let Some(id) = wanted
        && entries.is_empty()
    {
        return Err(PveError::failed(format!("pool '{id}' does not exist")));
    }
    data(Value::Array(entries))
}

async fn storages(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(node): Path<String>,
    params: Params,
) -> Answer {
    params.only(&["content", "enabled", "format", "storage", "target"])?;
    find_node(&state.cluster, &node)?;
    let (guests, backups) = (
        state
            .cluster
            .with_guests(|g| g.cloned().collect::<Vec<_>>()),
        state.cluster.backups.on(&node),
    );
    let entries: Vec<Value> = STORAGES
        .iter()
        .filter(|s| params.get("storage").is_none_or(|id| id == s.id))
        .filter(|s| {
            params
                .get("content")
                .is_none_or(|c| s.content.split(',').any(|have| have == c))
        })
        .filter(|s| {
            sees(
                &state,
                &principal.0,
                &format!("/storage/{}", s.id),
                &["Datastore.Audit", "Datastore.AllocateSpace"],
            )
        })
        .map(|s| {
            let used: u64 = content(s.id, &node, &guests, &backups)
                .iter()
                .filter_map(|v| v["size"].as_u64())
                .sum();
            let used = used.min(s.total);
            let active = u8::from(!state.faults.storage_down(&node, s.id));
            json!({
                "storage": s.id, "type": s.kind, "content": s.content, "active": active, "enabled": 1,
                "shared": 0, "total": s.total, "used": used, "avail": s.total - used,
                "used_fraction": used as f64 / s.total as f64,
            })
        })
        .collect();
    data(Value::Array(entries))
}

async fn storage_content(
    State(state): State<ApiState>,
    Path((node, storage)): Path<(String, String)>,
    params: Params,
) -> Answer {
    params.only(&["content", "vmid"])?;
    find_node(&state.cluster, &node)?;
    if !STORAGES.iter().any(|s| s.id == storage) {
        let message = format!("storage '{storage}' does not exist");
        return Err(PveError::failed(message));
    }
    if state.faults.storage_down(&node, &storage) {
        return Err(PveError::failed(format!(
            "storage '{storage}' is not online"
        )));
    }
    let vmid = params.integer("vmid")?;
    let guests = state
        .cluster
        .with_guests(|g| g.cloned().collect::<Vec<_>>());
    let entries: Vec<Value> = content(&storage, &node, &guests, &state.cluster.backups.on(&node))
        .into_iter()
        .filter(|e| params.get("content").is_none_or(|c| e["content"] == c))
        .filter(|e| vmid.is_none_or(|v| e["vmid"] == v))
        .map(|mut e| {
            // Real PVE also sends `content`; the schema's entry is closed without it, and the
            // volume id says the same (`local:iso/...`, `local:backup/...`).
            if let Some(map) = e.as_object_mut() {
                map.remove("content");
            }
            e
        })
        .collect();
    data(Value::Array(entries))
}

async fn vzdump(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(node): Path<String>,
    params: Params,
) -> Answer {
    params.only(&[
        "compress",
        "mode",
        "notes-template",
        "protected",
        "remove",
        "storage",
        "vmid",
    ])?;
    find_node(&state.cluster, &node)?;
    let Some(list) = params.get("vmid") else {
        return Err(PveError::parameter(
            "vmid",
            "property is missing and it is not optional",
        ));
    };
    let storage = params.get("storage").unwrap_or("local");
    if !STORAGES
        .iter()
        .any(|s| s.id == storage && s.content.contains("backup"))
    {
        return Err(PveError::parameter(
            "storage",
            format!("storage '{storage}' does not support backups"),
        ));
    }
    let mode = params.get("mode").unwrap_or("snapshot");
    if !matches!(mode, "snapshot" | "suspend" | "stop") {
        return Err(PveError::parameter(
            "mode",
            format!(
                "value '{mode}' does not have a value in the enumeration 'snapshot, suspend, stop'"
            ),
        ));
    }
    let compress = params.get("compress").unwrap_or("0");
    let extension = match compress {
        "0" => "",
        "1" | "lzo" => ".lzo",
        "gzip" => ".gz",
        "zstd" => ".zst",
        other => {
            return Err(PveError::parameter(
                "compress",
                format!(
                    "value '{other}' does not have a value in the enumeration '0, 1, gzip, lzo, zstd'"
                ),
            ));
        }
    };
    let store_path = format!("/storage/{storage}");
    if !sees(
        &state,
        &principal.0,
        &store_path,
        &["Datastore.AllocateSpace"],
    ) {
        return Err(denied(&store_path, &["Datastore.AllocateSpace"]));
    }
    let mut targets = Vec::new();
    for id in list.split([',', ';', ' ']).filter(|s| !s.is_empty()) {
        let guest = super::guests::find_guest_anywhere(&state, id)?;
        if !sees(
            &state,
            &principal.0,
            &format!("/vms/{}", guest.vmid),
            &["VM.Backup"],
        ) {
            return Err(denied(&format!("/vms/{}", guest.vmid), &["VM.Backup"]));
        }
        if guest.node != node {
            let message = format!("guest {} is not on node '{node}'", guest.vmid);
            return Err(PveError::failed(message));
        }
        targets.push(guest);
    }
    let Some(first) = targets.first() else {
        return Err(PveError::parameter("vmid", "value must not be empty"));
    };
    let notes = params
        .get("notes-template")
        .unwrap_or("{{guestname}}")
        .to_owned();
    let cluster = state.cluster.clone();
    let first_line =
        format!("INFO: starting new backup job: vzdump {list} --storage {storage} --mode {mode}");
    let id = if targets.len() == 1 {
        first.vmid.to_string()
    } else {
        String::new()
    };
    let task = NodeTask {
        node: &node,
        worker: "vzdump",
        id: &id,
        user: &principal.0,
    };
    let upid = run_node_task(&state, &task, first_line, move || {
        let now = unix_now();
        for g in &targets {
            let archive = match g.kind {
                crate::guests::GuestKind::Qemu => "vma",
                crate::guests::GuestKind::Lxc => "tar",
            };
            cluster.backups.add(Backup {
                node: g.node.clone(),
                volid: format!(
                    "local:backup/vzdump-{}-{}-{}.{archive}{extension}",
                    g.kind.as_str(),
                    g.vmid,
                    stamp(now)
                ),
                vmid: g.vmid,
                size: g.disk_gib * 1024 * 1024 * 1024 / 5,
                ctime: now,
                notes: notes
                    .replace("{{guestname}}", &g.name)
                    .replace("{{vmid}}", &g.vmid.to_string()),
            });
        }
    });
    data(json!(upid))
}
