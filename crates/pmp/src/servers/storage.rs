//! Storage and node metrics, read live from PVE: each node's storages with usage and capacity (and the
//! cluster's totals, shared storages counted once), a storage's content (ISO images,
//! templates, backups, disks), and a guest's backups with the age of the newest. Storage
//! belongs to a server, so seeing it needs `server.view` there; a guest's backups need
//! `guest.view` on the guest.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::access::Privilege;
use crate::access::routes::{Access, Routes};
use crate::http::AppError;
use crate::ids::Node;
use crate::jobs::queue::now_ms;
use crate::servers::ServersState;
use crate::servers::{client, upstream};
use axum::extract::FromRef;

/// Storage routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    ServersState: FromRef<S>,
{
    let view = Access::OnServer(Privilege::ServerView);
    Routes::new()
        .add(
            "/api/v1/servers/{server}/storage",
            &["GET"],
            view,
            get(storages),
        )
        .add(
            "/api/v1/servers/{server}/nodes/{node}/storage/{storage}/content",
            &["GET"],
            view,
            get(content),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/backups",
            &["GET"],
            Access::OnGuest(Privilege::GuestView),
            get(backups),
        )
        .add(
            "/api/v1/servers/{server}/nodes/{node}/metrics",
            &["GET"],
            view,
            get(node_metrics),
        )
}

#[derive(Serialize)]
struct NodeStorage {
    node: String,
    storage: String,
    kind: String,
    content: String,
    shared: bool,
    total: u64,
    used: u64,
    avail: u64,
}

async fn storages(
    State(state): State<ServersState>,
    Path(server): Path<String>,
) -> Result<Response, AppError> {
    let live = state.inventory.server(&server).ok_or(AppError::NotFound)?;
    let pve = client(&state, &server).await?;
    let mut rows = Vec::new();
    for node in live.nodes.iter().filter(|n| n.status == "online") {
        let list = pve.storages(&node.name).await.map_err(|e| upstream(&e))?;
        rows.extend(list.into_iter().map(|s| NodeStorage {
            node: node.name.clone(),
            storage: s.storage,
            kind: s.kind,
            content: s.content,
            shared: s.shared,
            total: s.total,
            used: s.used,
            avail: s.avail,
        }));
    }
    // Cluster totals: a shared storage is one storage, however many nodes list it.
    let mut seen = BTreeSet::new();
    let (mut total, mut used) = (0u64, 0u64);
    for row in &rows {
        let key = if row.shared {
            row.storage.clone()
        } else {
            format!("{}/{}", row.node, row.storage)
        };
        if seen.insert(key) {
            total += row.total;
            used += row.used;
        }
    }
    Ok(
        Json(serde_json::json!({ "storages": rows, "cluster": { "total": total, "used": used } }))
            .into_response(),
    )
}

fn volume(c: &pve::StorageContent) -> serde_json::Value {
    let kind = match c.kind() {
        pve::ContentKind::Iso => "iso",
        pve::ContentKind::Template => "template",
        pve::ContentKind::Backup => "backup",
        pve::ContentKind::Disk => "disk",
        pve::ContentKind::Other => "other",
    };
    serde_json::json!({ "volid": c.volid, "kind": kind, "size": c.size, "ctime": c.ctime, "vmid": c.vmid, "notes": c.notes, "protected": c.protected })
}

async fn content(
    State(state): State<ServersState>,
    Path((server, node, storage)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let node = Node::parse(&node).map_err(|_| AppError::NotFound)?;
    let list = client(&state, &server)
        .await?
        .storage_content(node.as_str(), &storage, None)
        .await
        .map_err(|e| match e {
            pve::Error::Invalid(why) => AppError::BadRequest(why),
            other => upstream(&other),
        })?;
    Ok(Json(list.iter().map(volume).collect::<Vec<_>>()).into_response())
}

/// What `backups_on` read: the backups, and the storages it could not read (`node/storage`).
#[derive(Debug, Default)]
pub struct Backups {
    /// The backups found.
    pub found: Vec<pve::StorageContent>,
    /// Storages that are inactive, disabled or failed to answer; each costs a warning in the
    /// log, not the whole list.
    pub unreadable: Vec<String>,
}

/// The backups on those of `node`'s `storages` that hold backups, optionally of one guest
/// only. A shared storage lists the same files on every node, so one already in `walked` is
/// skipped (and one read now is added).
pub async fn backups_on(
    pve: &pve::Client,
    node: &str,
    storages: &[pve::StorageStatus],
    walked: &mut BTreeSet<String>,
    vmid: Option<u32>,
) -> Backups {
    let mut backups = Backups::default();
    for storage in storages {
        if !storage.content.split(',').any(|c| c == "backup")
            || (storage.shared && walked.contains(&storage.storage))
        {
            continue;
        }
        let name = format!("{node}/{}", storage.storage);
        // PVE answers 500 for the content of a storage it cannot reach; no need to ask.
        if !(storage.active && storage.enabled) {
            tracing::warn!(storage = %name, "a backup storage is inactive or disabled; the others are read");
            backups.unreadable.push(name);
            continue;
        }
        match pve.storage_content(node, &storage.storage, vmid).await {
            Ok(list) => {
                walked.insert(storage.storage.clone());
                backups.found.extend(
                    list.into_iter()
                        .filter(|c| c.kind() == pve::ContentKind::Backup),
                );
            }
            Err(e) => {
                tracing::warn!(storage = %name, error = %e, "a backup storage cannot be read; the others are");
                backups.unreadable.push(name);
            }
        }
    }
    backups
}

/// The guest's backups on every storage of every online node that holds backups, newest
/// first, and the age in seconds of the newest.
async fn backups(
    State(state): State<ServersState>,
    Path((server, vmid)): Path<(String, u32)>,
) -> Result<Response, AppError> {
    let live = state.inventory.server(&server).ok_or(AppError::NotFound)?;
    let pve = client(&state, &server).await?;
    let mut found: Vec<pve::StorageContent> = Vec::new();
    let mut unreadable = Vec::new();
    let mut walked = BTreeSet::new();
    for node in live.nodes.iter().filter(|n| n.status == "online") {
        let storages = pve.storages(&node.name).await.map_err(|e| upstream(&e))?;
        let on_node = backups_on(&pve, &node.name, &storages, &mut walked, Some(vmid)).await;
        found.extend(on_node.found);
        unreadable.extend(on_node.unreadable);
    }
    found.sort_by_key(|c| std::cmp::Reverse(c.ctime.unwrap_or(0)));
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    let newest_age = found
        .first()
        .and_then(|c| c.ctime)
        .map(|t| now.saturating_sub(t));
    Ok(Json(serde_json::json!({ "backups": found.iter().map(volume).collect::<Vec<_>>(), "newest_age_secs": newest_age, "unreadable": unreadable })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsQuery {
    #[serde(default)]
    timeframe: Option<String>,
}

/// A node's RRD points (CPU, memory, network) over the time frame.
async fn node_metrics(
    State(state): State<ServersState>,
    Path((server, node)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<MetricsQuery>,
) -> Result<Response, AppError> {
    let node = Node::parse(&node).map_err(|_| AppError::NotFound)?;
    let frame = crate::ui::chart::timeframe(q.timeframe.as_deref()).ok_or_else(|| {
        AppError::BadRequest("timeframe is hour, day, week, month or year".to_owned())
    })?;
    let points = client(&state, &server)
        .await?
        .node_rrd(node.as_str(), frame, false)
        .await
        .map_err(|e| upstream(&e))?;
    let body: Vec<_> = points
        .iter()
        .map(|p| serde_json::json!({ "time": p.time, "cpu": p.cpu, "memused": p.memused, "memtotal": p.memtotal, "netin": p.netin, "netout": p.netout }))
        .collect();
    Ok(Json(body).into_response())
}
