//! `GET /api/v1/inventory/events`: a server-sent event stream of inventory changes for live
//! pages. Each change sends the caller's visible guests of that server (`guests` event), never
//! anyone else's; while a stream is open the inventory polls at its fast rate.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::access::routes::{Access, Routes};
use crate::identity::principal::Principal;
use crate::inventory::InventoryState;
use crate::inventory::visible;
use axum::extract::FromRef;

/// The stream's route.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    InventoryState: FromRef<S>,
{
    Routes::new().add(
        "/api/v1/inventory/events",
        &["GET"],
        Access::SignedIn,
        get(events),
    )
}

async fn events(
    State(state): State<InventoryState>,
    principal: Principal,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let inventory = state.inventory.clone();
    let busy = inventory.watch();
    let changes = inventory.subscribe();
    let grants = principal.grants;
    let stream = futures_util::stream::unfold(
        (changes, busy, grants, inventory),
        |(mut changes, busy, grants, inventory)| async move {
            loop {
                let server = match changes.recv().await {
                    Ok(server) => server,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                };
                let Some(live) = inventory.server(&server) else {
                    continue;
                };
                let rows: Vec<serde_json::Value> = live
                .guests
                .iter()
                .filter(|g| visible(&grants, g))
                .map(|g| serde_json::json!({ "server": g.server, "vmid": g.vmid, "status": g.status, "node": g.node, "name": g.name }))
                .collect();
                if rows.is_empty() {
                    continue;
                }
                let event = Event::default()
                    .event("guests")
                    .data(serde_json::Value::Array(rows).to_string());
                return Some((Ok(event), (changes, busy, grants, inventory)));
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
