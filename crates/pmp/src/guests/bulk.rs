//! `POST /api/v1/guests/bulk`: a power action or a snapshot over a selection of guests, as
//! one bulk job whose items run a few at a time per server. Every guest is checked as the
//! route guard checks one: if any is unknown or invisible to the caller the whole request is
//! 404 (naming none), if any is visible but not theirs to act on it is 403; nothing is queued
//! unless all pass.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::access::Privilege;
use crate::guests::actions::{audit, snapshot_name};
use crate::guests::jobs::{KIND, Payload};
use crate::guests::ops::Op;
use crate::http::{ApiJson, AppError};
use crate::identity::principal::Principal;
use crate::inventory::target;
use crate::jobs::bulk::{self, Bulk, Item};
use crate::jobs::queue::{self, NewJob};
use crate::servers::ServersState;

/// Most guests in one bulk request.
pub const MAX_ITEMS: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct Selected {
    server: String,
    vmid: u32,
}

#[derive(Debug, Deserialize)]
pub struct BulkRequest {
    #[serde(flatten)]
    op: Op,
    guests: Vec<Selected>,
    #[serde(default)]
    per_server: Option<usize>,
}

pub async fn bulk(
    State(state): State<ServersState>,
    principal: Principal,
    ApiJson(body): ApiJson<BulkRequest>,
) -> Result<Response, AppError> {
    let result = queue_bulk(&state, &principal, body).await;
    crate::identity::principal::audited(&state.db, &principal, "POST /api/v1/guests/bulk", result)
        .await
}

async fn queue_bulk(
    state: &ServersState,
    principal: &Principal,
    body: BulkRequest,
) -> Result<Response, AppError> {
    let privilege = match &body.op {
        Op::Power { action } if pve::PowerAction::parse(action).is_some() => Privilege::GuestPower,
        Op::Snapshot {
            name, description, ..
        } => {
            snapshot_name(name)?;
            if description.chars().count() > 1024 {
                return Err(AppError::BadRequest(
                    "a snapshot description is at most 1024 characters".to_owned(),
                ));
            }
            Privilege::GuestSnapshot
        }
        _ => {
            return Err(AppError::BadRequest(
                "a bulk job runs a power action or a snapshot".to_owned(),
            ));
        }
    };
    if body.guests.is_empty() || body.guests.len() > MAX_ITEMS {
        return Err(AppError::BadRequest(format!(
            "select 1 to {MAX_ITEMS} guests"
        )));
    }
    let per_server = body.per_server.unwrap_or(4);
    if !(1..=32).contains(&per_server) {
        return Err(AppError::BadRequest("per_server is 1 to 32".to_owned()));
    }
    let mut seen = BTreeSet::new();
    let mut items = Vec::with_capacity(body.guests.len());
    let mut forbidden = false;
    for selected in &body.guests {
        if !seen.insert((selected.server.as_str(), selected.vmid)) {
            return Err(AppError::BadRequest("a guest is selected twice".to_owned()));
        }
        let row = state
            .inventory
            .guest(&selected.server, selected.vmid)
            .ok_or(AppError::NotFound)?;
        let place = target(&row).ok_or(AppError::NotFound)?;
        if principal
            .grants
            .authorize(Privilege::GuestView, place.clone())
            .is_err()
        {
            return Err(AppError::NotFound);
        }
        forbidden |= principal.grants.authorize(privilege, place).is_err();
        let payload = Payload {
            server: row.server.clone(),
            vmid: row.vmid,
            op: body.op.clone(),
        };
        items.push(Item {
            kind: KIND.to_owned(),
            payload: serde_json::to_value(&payload).map_err(AppError::internal)?,
            group: row.server.clone(),
            label: format!("{}/{}", row.server, row.vmid),
        });
    }
    if forbidden {
        return Err(AppError::Forbidden(format!(
            "You do not have the {privilege} privilege on every selected guest."
        )));
    }
    let count = items.len();
    let description = body.op.describe();
    let payload = Bulk {
        items,
        per_group: per_server,
    };
    let mut job = NewJob::new(
        bulk::KIND,
        serde_json::to_value(&payload).map_err(AppError::internal)?,
    );
    job.created_by = Some(principal.user.id.clone());
    let id = queue::enqueue(&state.db, &job)
        .await
        .map_err(AppError::internal)?;
    audit(
        state,
        principal.into(),
        &format!("bulk {description} on {count} guests (job {id})"),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "job_id": id, "items": count })),
    )
        .into_response())
}
