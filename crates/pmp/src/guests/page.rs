//! The guest pages: the list across servers (search, filters, paging on the server) whose
//! status cells follow the inventory live, and one guest with its details, notes (always
//! text), power buttons, snapshots and graphs. Every action is a job; the page links to it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::access::Privilege;
use crate::access::routes::{Access, Routes};
use crate::guests::actions::{Actor, snapshot_name, start_job};
use crate::guests::list::{self, Page};
use crate::guests::ops::Op;
use crate::http::{AppError, Client, FormFields, form_value};
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::guard::Viewer;
use crate::inventory::GuestRow;
use crate::servers::ServersState;
use crate::ui::PageError;
use crate::ui::chart::{human, svg};
use crate::ui::{Shell, render};
use axum::extract::FromRef;

/// Guest pages.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    ServersState: FromRef<S>,
{
    Routes::new()
        .add("/guests", &["GET"], Access::SignedIn, get(list_page))
        .add(
            "/guests/{server}/{vmid}",
            &["GET"],
            Access::OnGuest(Privilege::GuestView),
            get(detail),
        )
        .add(
            "/guests/{server}/{vmid}/actions/{action}",
            &["POST"],
            Access::OnGuest(Privilege::GuestPower),
            post(power),
        )
        .add(
            "/guests/{server}/{vmid}/snapshots",
            &["POST"],
            Access::OnGuest(Privilege::GuestSnapshot),
            post(snapshot),
        )
}

#[derive(Template)]
#[template(path = "guests/list.html")]
struct ListPage {
    shell: Shell,
    page: Page,
    q: String,
    status: String,
    kind: String,
    pages: usize,
}

async fn list_page(
    State(state): State<ServersState>,
    viewer: Viewer,
    Query(query): Query<list::Query>,
) -> Result<Response, PageError> {
    let page = list::page(&state.inventory, &viewer.grants, &query);
    let pages = page.total.div_ceil(page.per_page).max(1);
    let view = ListPage {
        shell: viewer.shell,
        q: query.q.unwrap_or_default(),
        status: query.status.unwrap_or_default(),
        kind: query.kind.unwrap_or_default(),
        pages,
        page,
    };
    render(&view, StatusCode::OK)
}

struct Snapshot {
    name: String,
    description: String,
}

#[derive(Template)]
#[template(path = "guests/detail.html")]
struct DetailPage {
    shell: Shell,
    guest: GuestRow,
    memory: String,
    notes: Option<String>,
    /// From the guest agent or the container, while running.
    addresses: Vec<String>,
    problem: Option<String>,
    snapshots: Vec<Snapshot>,
    charts: Vec<String>,
    job: Option<String>,
    frame: &'static str,
    may_power: bool,
    may_snapshot: bool,
    may_manage_access: bool,
}

#[derive(Deserialize)]
struct DetailQuery {
    #[serde(default)]
    job: Option<String>,
    #[serde(default)]
    timeframe: Option<String>,
}

async fn detail(
    State(state): State<ServersState>,
    viewer: Viewer,
    Path((server, vmid)): Path<(String, u32)>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let guest = state
        .inventory
        .guest(&server, vmid)
        .ok_or_else(|| fail(AppError::NotFound))?;
    let frame = crate::ui::chart::timeframe(q.timeframe.as_deref()).ok_or_else(|| {
        fail(AppError::BadRequest(
            "timeframe is hour, day, week, month or year".to_owned(),
        ))
    })?;
    let mut problem = None;
    let (mut notes, mut snapshots, mut points) =
        (None, Vec::new(), state.rrd.get(&server, vmid, frame.name()));
    let mut addresses = Vec::new();
    match crate::servers::client(&state, &server).await {
        Ok(client) => {
            match client.guest_config(vmid).await {
                Ok(config) => notes = config.description,
                Err(e) => problem = Some(e.to_string()),
            }
            if guest.status == "running"
                && let Ok(found) = client.guest_addresses(vmid).await
            {
                addresses = found.iter().map(ToString::to_string).collect();
            }
            if let Ok(list) = client.snapshots(vmid).await {
                snapshots = list
                    .into_iter()
                    .filter(|s| s.name != "current")
                    .map(|s| Snapshot {
                        name: s.name,
                        description: s.description.unwrap_or_default(),
                    })
                    .collect();
            }
            if points.is_none()
                && let Ok(fresh) = client.guest_rrd(vmid, frame, false).await
            {
                state.rrd.put(&server, vmid, frame.name(), fresh.clone());
                points = Some(fresh);
            }
        }
        Err(e) => problem = Some(e.to_string()),
    }
    let points = points.unwrap_or_default();
    let series =
        |f: fn(&pve::RrdPoint) -> f64| points.iter().map(|p| (p.time, f(p))).collect::<Vec<_>>();
    let charts = vec![
        svg("CPU", "%", &[("cpu", series(|p| p.cpu))]),
        svg(
            "Memory",
            "B",
            &[("used", series(|p| p.mem)), ("size", series(|p| p.maxmem))],
        ),
        svg(
            "Network",
            "B/s",
            &[("in", series(|p| p.netin)), ("out", series(|p| p.netout))],
        ),
        svg(
            "Disk I/O",
            "B/s",
            &[
                ("read", series(|p| p.diskread)),
                ("write", series(|p| p.diskwrite)),
            ],
        ),
    ];
    let place = crate::inventory::target(&guest);
    let may = |p: Privilege| {
        place
            .clone()
            .is_some_and(|t| viewer.grants.authorize(p, t).is_ok())
    };
    let page = DetailPage {
        may_power: may(Privilege::GuestPower),
        may_snapshot: may(Privilege::GuestSnapshot),
        may_manage_access: viewer
            .grants
            .authorize(Privilege::UserManage, crate::access::Target::Root)
            .is_ok(),
        memory: format!(
            "{} / {}",
            human(guest.mem as f64, "B"),
            human(guest.maxmem as f64, "B")
        ),
        shell: viewer.shell.clone(),
        guest,
        notes,
        addresses,
        problem,
        snapshots,
        charts,
        job: q.job.filter(|j| uuid::Uuid::parse_str(j).is_ok()),
        frame: frame.name(),
    };
    render(&page, StatusCode::OK)
}

fn back(server: &str, vmid: u32, job: &str) -> Response {
    Redirect::to(&format!("/guests/{server}/{vmid}?job={job}")).into_response()
}

async fn power(
    State(state): State<ServersState>,
    client: Client,
    Path((server, vmid, action)): Path<(String, u32, String)>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let action = pve::PowerAction::parse(&action).ok_or_else(|| fail(AppError::NotFound))?;
    let actor = Actor::of(&viewer, &client);
    let op = Op::Power {
        action: action.name().to_owned(),
    };
    let job = start_job(&state, actor, &server, vmid, op)
        .await
        .map_err(fail)?;
    Ok(back(&server, vmid, &job))
}

async fn snapshot(
    State(state): State<ServersState>,
    client: Client,
    Path((server, vmid)): Path<(String, u32)>,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let name = snapshot_name(form_value(&fields, "name").trim()).map_err(fail)?;
    let description: String = form_value(&fields, "description")
        .chars()
        .filter(|c| !c.is_control())
        .take(1024)
        .collect();
    let actor = Actor::of(&viewer, &client);
    let op = Op::Snapshot {
        name,
        description,
        vmstate: false,
        retention: None,
    };
    let job = start_job(&state, actor, &server, vmid, op)
        .await
        .map_err(fail)?;
    Ok(back(&server, vmid, &job))
}
