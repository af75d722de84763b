//! `/api/v1/guests`: the permission-filtered list, one guest (404 for a guest the caller may
//! not see, exactly as for one that does not exist), its live config, snapshots and graphs
//! data, and config edits (audited). Operations that run as jobs are in `actions`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::access::Privilege;
use crate::access::routes::{Access, Routes};
use crate::guests::actions::audit;
use crate::guests::list::{self, Page};
use crate::http::{ApiJson, AppError};
use crate::identity::principal::Principal;
use crate::inventory::GuestRow;
use crate::servers::ServersState;
use crate::servers::client;
use crate::servers::upstream;
use axum::extract::FromRef;

const ONE: &str = "/api/v1/guests/{server}/{vmid}";

/// Guest routes; every one on a guest declares its privilege on that guest.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    ServersState: FromRef<S>,
{
    Routes::new()
        .add(
            "/api/v1/guests",
            &["GET"],
            Access::SignedIn,
            get(list_guests),
        )
        .add(
            ONE,
            &["GET"],
            Access::OnGuest(Privilege::GuestView),
            get(detail),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/config",
            &["GET"],
            Access::OnGuest(Privilege::GuestView),
            get(config),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/config",
            &["PATCH"],
            Access::OnGuest(Privilege::GuestConfig),
            axum::routing::patch(edit),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/metrics",
            &["GET"],
            Access::OnGuest(Privilege::GuestView),
            get(rrd),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/addresses",
            &["GET"],
            Access::OnGuest(Privilege::GuestView),
            get(addresses),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/snapshots",
            &["GET"],
            Access::OnGuest(Privilege::GuestView),
            get(snapshots),
        )
}

async fn list_guests(
    State(state): State<ServersState>,
    principal: Principal,
    Query(query): Query<list::Query>,
) -> Json<Page> {
    Json(list::page(&state.inventory, &principal.grants, &query))
}

/// The guest in the path; the access guard already found it in the inventory.
pub(super) fn row(state: &ServersState, server: &str, vmid: u32) -> Result<GuestRow, AppError> {
    state
        .inventory
        .guest(server, vmid)
        .ok_or(AppError::NotFound)
}

async fn detail(
    State(state): State<ServersState>,
    Path((server, vmid)): Path<(String, u32)>,
) -> Result<Json<GuestRow>, AppError> {
    Ok(Json(row(&state, &server, vmid)?))
}

async fn config(
    State(state): State<ServersState>,
    Path((server, vmid)): Path<(String, u32)>,
) -> Result<Response, AppError> {
    let config = client(&state, &server)
        .await?
        .guest_config(vmid)
        .await
        .map_err(|e| upstream(&e))?;
    let name = config.name.or(config.hostname);
    let body = serde_json::json!({
        "name": name, "description": config.description, "tags": config.tags,
        "cores": config.cores, "memory_mib": config.memory, "onboot": config.onboot, "digest": config.digest,
    });
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigEdit {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    cores: Option<u32>,
    #[serde(default)]
    memory_mib: Option<u64>,
    #[serde(default)]
    onboot: Option<bool>,
    #[serde(default)]
    digest: Option<String>,
}

async fn edit(
    State(state): State<ServersState>,
    principal: Principal,
    Path((server, vmid)): Path<(String, u32)>,
    ApiJson(body): ApiJson<ConfigEdit>,
) -> Result<StatusCode, AppError> {
    let bad = |m: &str| AppError::BadRequest(m.to_owned());
    if body
        .name
        .as_deref()
        .is_some_and(|n| !pve::valid_node(n) && !n.split('.').all(pve::valid_node))
    {
        return Err(bad(
            "a guest name is a DNS name: letters, digits, '-' and '.'",
        ));
    }
    if body
        .description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 8192)
    {
        return Err(bad("notes are at most 8192 characters"));
    }
    let tag_ok = |t: &String| {
        !t.is_empty()
            && t.len() <= 64
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b))
    };
    if body
        .tags
        .as_ref()
        .is_some_and(|tags| !tags.iter().all(tag_ok))
    {
        return Err(bad("a tag is letters, digits, '-', '_', '+' and '.'"));
    }
    if body.cores.is_some_and(|c| !(1..=512).contains(&c))
        || body
            .memory_mib
            .is_some_and(|m| !(16..=4_194_304).contains(&m))
    {
        return Err(bad("cores are 1 to 512 and memory 16 MiB to 4 TiB"));
    }
    let change = pve::ConfigEdit {
        name: body.name,
        description: body.description,
        tags: body.tags,
        cores: body.cores,
        memory_mib: body.memory_mib,
        onboot: body.onboot,
    };
    let pve = client(&state, &server).await?;
    pve.edit_config(vmid, &change, body.digest.as_deref())
        .await
        .map_err(|e| upstream(&e))?;
    audit(
        &state,
        (&principal).into(),
        &format!("guest {server}/{vmid}: config edited"),
    )
    .await?;
    state.inventory.nudge(&server);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RrdQuery {
    #[serde(default)]
    timeframe: Option<String>,
}

async fn rrd(
    State(state): State<ServersState>,
    Path((server, vmid)): Path<(String, u32)>,
    Query(q): Query<RrdQuery>,
) -> Result<Response, AppError> {
    let frame = crate::ui::chart::timeframe(q.timeframe.as_deref()).ok_or_else(|| {
        AppError::BadRequest("timeframe is hour, day, week, month or year".to_owned())
    })?;
    let points = client(&state, &server)
        .await?
        .guest_rrd(vmid, frame, false)
        .await
        .map_err(|e| upstream(&e))?;
    let body: Vec<_> = points
        .iter()
        .map(|p| serde_json::json!({ "time": p.time, "cpu": p.cpu, "mem": p.mem, "maxmem": p.maxmem, "netin": p.netin, "netout": p.netout, "diskread": p.diskread, "diskwrite": p.diskwrite }))
        .collect();
    Ok(Json(body).into_response())
}

async fn snapshots(
    State(state): State<ServersState>,
    Path((server, vmid)): Path<(String, u32)>,
) -> Result<Response, AppError> {
    let list = client(&state, &server)
        .await?
        .snapshots(vmid)
        .await
        .map_err(|e| upstream(&e))?;
    let body: Vec<_> = list
        .iter()
        .filter(|s| s.name != "current")
        .map(|s| serde_json::json!({ "name": s.name, "description": s.description, "parent": s.parent, "snaptime": s.snaptime, "vmstate": s.vmstate }))
        .collect();
    Ok(Json(body).into_response())
}

/// The guest's network addresses, from its agent or its container interfaces.
async fn addresses(
    State(state): State<ServersState>,
    Path((server, vmid)): Path<(String, u32)>,
) -> Result<Response, AppError> {
    let found = client(&state, &server)
        .await?
        .guest_addresses(vmid)
        .await
        .map_err(|e| upstream(&e))?;
    let list: Vec<String> = found.iter().map(ToString::to_string).collect();
    Ok(Json(serde_json::json!({ "addresses": list })).into_response())
}
