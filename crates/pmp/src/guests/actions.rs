//! Operations on guests that run as jobs: power, snapshots (take, delete, roll back),
//! migration and backup, one guest at a time or in bulk over a selection (power and
//! snapshots), each permission-checked on every guest, audited, and answered 202 with the
//! job's id. A bulk job runs its items a few at a time per server.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde::Deserialize;

use crate::access::Privilege;
use crate::access::routes::{Access, Routes};
use crate::audit::events::{self, Kind, Subject};
use crate::guests::api::row;
use crate::guests::jobs::{KIND, Payload};
use crate::guests::ops::Op;
use crate::http::{ApiJson, AppError, Client};
use crate::identity::principal::Principal;
use crate::identity::sessions::guard::Viewer;
use crate::jobs::queue::{self, NewJob};
use crate::servers::ServersState;
use axum::extract::FromRef;

/// Routes of operations; each declares its privilege on the guest.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    ServersState: FromRef<S>,
{
    Routes::new()
        .add(
            "/api/v1/guests/{server}/{vmid}/actions/{action}",
            &["POST"],
            Access::OnGuest(Privilege::GuestPower),
            post(power),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/snapshots",
            &["POST"],
            Access::OnGuest(Privilege::GuestSnapshot),
            post(snapshot),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/snapshots/{snapshot}",
            &["DELETE"],
            Access::OnGuest(Privilege::GuestSnapshot),
            delete(delete_snapshot),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/snapshots/{snapshot}/rollback",
            &["POST"],
            Access::OnGuest(Privilege::GuestSnapshot),
            post(rollback),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/actions/migrate",
            &["POST"],
            Access::OnGuest(Privilege::GuestMigrate),
            post(migrate),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/actions/backup",
            &["POST"],
            Access::OnGuest(Privilege::GuestBackup),
            post(backup),
        )
        .add(
            "/api/v1/guests/{server}/{vmid}/actions/clone",
            &["POST"],
            Access::OnGuest(Privilege::GuestClone),
            post(clone),
        )
        // Each selected guest is checked in the handler, as the route guard does for one.
        .add(
            "/api/v1/guests/bulk",
            &["POST"],
            Access::SignedIn,
            post(super::bulk::bulk),
        )
}

/// Who acts: the signed-in person behind an API call or a page.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
    pub client: &'a Client,
}

impl<'a> Actor<'a> {
    /// The person behind a page's form.
    pub fn of(viewer: &'a Viewer, client: &'a Client) -> Self {
        Self {
            user_id: &viewer.user.id,
            username: &viewer.user.username,
            client,
        }
    }
}

impl<'a> From<&'a Principal> for Actor<'a> {
    fn from(p: &'a Principal) -> Self {
        Self {
            user_id: &p.user.id,
            username: &p.user.username,
            client: &p.client,
        }
    }
}

pub(super) async fn audit(
    state: &ServersState,
    actor: Actor<'_>,
    detail: &str,
) -> Result<(), AppError> {
    let subject = Subject::user(actor.user_id, actor.username);
    events::record(&state.db, Kind::GuestAction, subject, actor.client, detail)
        .await
        .map_err(AppError::internal)
}

/// Enqueues `op` on the guest as a job and returns its id.
pub async fn start_job(
    state: &ServersState,
    actor: Actor<'_>,
    server: &str,
    vmid: u32,
    op: Op,
) -> Result<String, AppError> {
    if let Some(row) = state.inventory.guest(server, vmid)
        && row.status == "unknown"
    {
        return Err(AppError::Conflict(format!(
            "Node {} is not answering, so the state of guest {vmid} is unknown; nothing can be \
             done to it until the node is back.",
            row.node
        )));
    }
    let description = op.describe();
    let payload = Payload {
        server: server.to_owned(),
        vmid,
        op,
    };
    let mut job = NewJob::new(
        KIND,
        serde_json::to_value(&payload).map_err(AppError::internal)?,
    );
    job.created_by = Some(actor.user_id.to_owned());
    job.target = Some(format!("{server}/{vmid}"));
    let id = queue::enqueue(&state.db, &job)
        .await
        .map_err(AppError::internal)?;
    audit(
        state,
        actor,
        &format!("guest {server}/{vmid}: {description} (job {id})"),
    )
    .await?;
    Ok(id)
}

/// Enqueues `op` on the guest as a job and answers 202 with its id.
pub(super) async fn enqueue(
    state: &ServersState,
    principal: &Principal,
    server: &str,
    vmid: u32,
    op: Op,
) -> Result<Response, AppError> {
    let id = start_job(state, principal.into(), server, vmid, op).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "job_id": id })),
    )
        .into_response())
}

async fn power(
    State(state): State<ServersState>,
    principal: Principal,
    Path((server, vmid, action)): Path<(String, u32, String)>,
) -> Result<Response, AppError> {
    let action = pve::PowerAction::parse(&action).ok_or(AppError::NotFound)?;
    if action == pve::PowerAction::Reset && row(&state, &server, vmid)?.kind == "lxc" {
        return Err(AppError::BadRequest(
            "containers cannot be reset; stop and start them".to_owned(),
        ));
    }
    enqueue(
        &state,
        &principal,
        &server,
        vmid,
        Op::Power {
            action: action.name().to_owned(),
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSnapshot {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    vmstate: bool,
}

pub(super) fn snapshot_name(name: &str) -> Result<String, AppError> {
    if pve::valid_snapshot_name(name) {
        Ok(name.to_owned())
    } else {
        Err(AppError::BadRequest(
            "a snapshot name starts with a letter and has up to 40 letters, digits, '-' or '_'"
                .to_owned(),
        ))
    }
}

async fn snapshot(
    State(state): State<ServersState>,
    principal: Principal,
    Path((server, vmid)): Path<(String, u32)>,
    ApiJson(body): ApiJson<NewSnapshot>,
) -> Result<Response, AppError> {
    let name = snapshot_name(&body.name)?;
    if body.description.chars().count() > 1024
        || body
            .description
            .chars()
            .any(|c| c.is_control() && c != '\n')
    {
        return Err(AppError::BadRequest(
            "a snapshot description is at most 1024 printable characters".to_owned(),
        ));
    }
    let vmstate = body.vmstate && row(&state, &server, vmid)?.kind == "qemu";
    enqueue(
        &state,
        &principal,
        &server,
        vmid,
        Op::Snapshot {
            name,
            description: body.description,
            vmstate,
            retention: None,
        },
    )
    .await
}

/// The snapshot `name` of the guest, resolved through the guest: one that is not the
/// guest's own (another guest's, or none) answers 404 before anything is queued, and the
/// refusal is audited like the guard's own.
async fn own_snapshot(
    state: &ServersState,
    principal: &Principal,
    (server, vmid, name): (&str, u32, &str),
) -> Result<String, AppError> {
    let what = format!(
        "snapshot {server}/{vmid}/{}",
        name.chars().take(40).collect::<String>()
    );
    let found = find_snapshot(state, server, vmid, name).await;
    crate::identity::principal::audited(&state.db, principal, &what, found).await
}

async fn find_snapshot(
    state: &ServersState,
    server: &str,
    vmid: u32,
    name: &str,
) -> Result<String, AppError> {
    let name = snapshot_name(name).map_err(|_| AppError::NotFound)?;
    let list = crate::servers::client(state, server)
        .await?
        .snapshots(vmid)
        .await
        .map_err(|e| crate::servers::upstream(&e))?;
    if list.iter().any(|s| s.name == name && name != "current") {
        Ok(name)
    } else {
        Err(AppError::NotFound)
    }
}

async fn delete_snapshot(
    State(state): State<ServersState>,
    principal: Principal,
    Path((server, vmid, name)): Path<(String, u32, String)>,
) -> Result<Response, AppError> {
    let name = own_snapshot(&state, &principal, (&server, vmid, &name)).await?;
    enqueue(
        &state,
        &principal,
        &server,
        vmid,
        Op::DeleteSnapshot { name },
    )
    .await
}

async fn rollback(
    State(state): State<ServersState>,
    principal: Principal,
    Path((server, vmid, name)): Path<(String, u32, String)>,
) -> Result<Response, AppError> {
    let name = own_snapshot(&state, &principal, (&server, vmid, &name)).await?;
    enqueue(&state, &principal, &server, vmid, Op::Rollback { name }).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Migration {
    target: String,
}

async fn migrate(
    State(state): State<ServersState>,
    principal: Principal,
    Path((server, vmid)): Path<(String, u32)>,
    ApiJson(body): ApiJson<Migration>,
) -> Result<Response, AppError> {
    let live = state.inventory.server(&server).ok_or(AppError::NotFound)?;
    if !live.nodes.iter().any(|n| n.name == body.target) {
        return Err(AppError::BadRequest(
            "the target is not a node of this server".to_owned(),
        ));
    }
    if row(&state, &server, vmid)?.node == body.target {
        return Err(AppError::BadRequest(
            "the guest is on that node already".to_owned(),
        ));
    }
    enqueue(
        &state,
        &principal,
        &server,
        vmid,
        Op::Migrate {
            target: body.target,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Backup {
    storage: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    compress: Option<String>,
}

async fn backup(
    State(state): State<ServersState>,
    principal: Principal,
    Path((server, vmid)): Path<(String, u32)>,
    ApiJson(body): ApiJson<Backup>,
) -> Result<Response, AppError> {
    let mode = body.mode.unwrap_or_else(|| "snapshot".to_owned());
    if !matches!(mode.as_str(), "snapshot" | "suspend" | "stop") {
        return Err(AppError::BadRequest(
            "the backup mode is snapshot, suspend or stop".to_owned(),
        ));
    }
    let storage_ok = (1..=64).contains(&body.storage.len())
        && body
            .storage
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !storage_ok {
        return Err(AppError::BadRequest(
            "a storage id is letters, digits, '-', '_' and '.'".to_owned(),
        ));
    }
    let compress = body.compress.unwrap_or_else(|| "zstd".to_owned());
    if !matches!(compress.as_str(), "0" | "gzip" | "lzo" | "zstd") {
        return Err(AppError::BadRequest(
            "compression is 0, gzip, lzo or zstd".to_owned(),
        ));
    }
    enqueue(
        &state,
        &principal,
        &server,
        vmid,
        Op::Backup {
            storage: body.storage,
            mode,
            compress,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloneRequest {
    newid: u32,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    full: Option<bool>,
}

async fn clone(
    State(state): State<ServersState>,
    principal: Principal,
    Path((server, vmid)): Path<(String, u32)>,
    ApiJson(body): ApiJson<CloneRequest>,
) -> Result<Response, AppError> {
    if !(100..=999_999_999).contains(&body.newid) {
        return Err(AppError::BadRequest(
            "the new VMID is 100 to 999999999".to_owned(),
        ));
    }
    if state.inventory.guest(&server, body.newid).is_some() {
        return Err(AppError::Conflict(format!(
            "VMID {} is taken on this server",
            body.newid
        )));
    }
    if body
        .name
        .as_deref()
        .is_some_and(|n| !n.split('.').all(pve::valid_node))
    {
        return Err(AppError::BadRequest(
            "a guest name is a DNS name: letters, digits, '-' and '.'".to_owned(),
        ));
    }
    if let Some(target) = &body.target {
        let live = state.inventory.server(&server).ok_or(AppError::NotFound)?;
        if !live.nodes.iter().any(|n| &n.name == target) {
            return Err(AppError::BadRequest(
                "the target is not a node of this server".to_owned(),
            ));
        }
    }
    let template = row(&state, &server, vmid)?.template;
    let op = Op::Clone {
        newid: body.newid,
        name: body.name,
        target: body.target,
        full: body.full.unwrap_or(!template),
    };
    enqueue(&state, &principal, &server, vmid, op).await
}
