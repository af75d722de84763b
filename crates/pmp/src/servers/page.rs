//! The server pages: the servers one may see with their health said plainly; adding one in
//! two steps (the address, then the presented certificate's fingerprint shown for the
//! administrator to confirm, with the credentials); a server's page with its members, the
//! permission self-test and the commands that grant what is missing, and, after a
//! certificate change, the new fingerprint to confirm.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::access::routes::{Access, Routes};
use crate::access::{Privilege, Target};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{AppError, Client, FormFields, form_value};
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::guard::Viewer;
use crate::ids::ServerId;
use crate::inventory::Health;
use crate::servers::ServersState;
use crate::servers::onboarding::{self, NewServer};
use crate::servers::store::{self, Server};
use crate::servers::{address, connect};
use crate::ui::PageError;
use crate::ui::{Shell, render};
use axum::extract::FromRef;

const MANAGE: Access = Access::Privilege(Privilege::ServerManage);

/// Server pages.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    ServersState: FromRef<S>,
{
    Routes::new()
        .add("/servers", &["GET"], Access::SignedIn, get(list))
        .add("/servers", &["POST"], MANAGE, post(add))
        .add("/servers/probe", &["POST"], MANAGE, post(probe))
        .add(
            "/servers/{server}",
            &["GET"],
            Access::OnServer(Privilege::ServerView),
            get(detail),
        )
        .add(
            "/servers/{server}/pin",
            &["POST"],
            Access::OnServer(Privilege::ServerManage),
            post(pin),
        )
}

struct Row {
    server: Server,
    health: Health,
    guests: usize,
}

#[derive(Template)]
#[template(path = "servers/list.html")]
struct ListPage {
    shell: Shell,
    rows: Vec<Row>,
    may_add: bool,
    probed: Option<(String, String)>,
    error: Option<String>,
}

fn row(state: &ServersState, server: Server) -> Row {
    let live = state.inventory.server(&server.id);
    Row {
        health: live.as_ref().map_or(Health::Unknown, |s| s.health.clone()),
        guests: live.map_or(0, |s| s.guests.len()),
        server,
    }
}

async fn page(
    state: &ServersState,
    viewer: &Viewer,
    probed: Option<(String, String)>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let servers = store::list(&state.db)
        .await
        .map_err(|e| PageError::in_shell(AppError::internal(e), viewer.shell.clone()))?;
    let rows = servers
        .into_iter()
        .filter(|s| {
            ServerId::parse(&s.id).is_ok_and(|id| {
                viewer
                    .grants
                    .authorize(Privilege::ServerView, Target::Server(id))
                    .is_ok()
            })
        })
        .map(|s| row(state, s))
        .collect();
    let may_add = viewer
        .grants
        .authorize(Privilege::ServerManage, Target::Root)
        .is_ok();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        &ListPage {
            shell: viewer.shell.clone(),
            rows,
            may_add,
            probed,
            error,
        },
        status,
    )
}

async fn list(State(state): State<ServersState>, viewer: Viewer) -> Result<Response, PageError> {
    page(&state, &viewer, None, None).await
}

async fn probe(
    State(state): State<ServersState>,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let url = match address::check(form_value(&fields, "url")).await {
        Ok(url) => url,
        Err(why) => return page(&state, &viewer, None, Some(why)).await,
    };
    match pve::probe_fingerprint(&url).await {
        Ok(fingerprint) => page(&state, &viewer, Some((url, fingerprint.to_string())), None).await,
        Err(e) => page(&state, &viewer, None, Some(e.to_string())).await,
    }
}

fn optional(fields: &FormFields, name: &str) -> Option<String> {
    Some(form_value(fields, name).trim().to_owned()).filter(|v| !v.is_empty())
}

async fn add(
    State(state): State<ServersState>,
    client: Client,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let token = optional(&fields, "token_id").is_some();
    let body = NewServer {
        id: form_value(&fields, "id").trim().to_owned(),
        name: form_value(&fields, "name").to_owned(),
        url: form_value(&fields, "url").to_owned(),
        fingerprint: form_value(&fields, "fingerprint").to_owned(),
        token_id: optional(&fields, "token_id"),
        token_secret: token.then(|| form_value(&fields, "token_secret").to_owned()),
        username: optional(&fields, "username").filter(|_| !token),
        password: (!token).then(|| form_value(&fields, "password").to_owned()),
        totp_secret: optional(&fields, "totp_secret").filter(|_| !token),
    };
    let probed = Some((body.url.clone(), body.fingerprint.clone()));
    match onboarding::add(&state, body).await {
        Ok((server, _)) => {
            let subject = Subject::user(&viewer.user.id, &viewer.user.username);
            let detail = format!("server {} added", server.id);
            events::record(&state.db, Kind::ServerChanged, subject, &client, &detail)
                .await
                .map_err(|e| PageError::in_shell(AppError::internal(e), viewer.shell.clone()))?;
            Ok(Redirect::to(&format!("/servers/{}?check=1", server.id)).into_response())
        }
        Err(AppError::BadRequest(why) | AppError::Conflict(why) | AppError::BadGateway(why)) => {
            page(&state, &viewer, probed, Some(why)).await
        }
        Err(e) => Err(PageError::in_shell(e, viewer.shell.clone())),
    }
}

#[derive(Template)]
#[template(path = "servers/detail.html")]
struct DetailPage {
    shell: Shell,
    server: Server,
    health: Health,
    guests: usize,
    may_manage: bool,
    self_test: Option<pve::SelfTest>,
    problem: Option<String>,
    may_manage_access: bool,
    /// Per online node: its name and its CPU and memory graphs over the last hour.
    graphs: Vec<(String, String, String)>,
}

#[derive(Deserialize)]
struct DetailQuery {
    #[serde(default)]
    check: Option<u8>,
}

async fn detail(
    State(state): State<ServersState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let id = ServerId::parse(&raw).map_err(|_| fail(AppError::NotFound))?;
    let server = store::get(&state.db, &id)
        .await
        .map_err(|e| fail(AppError::internal(e)))?
        .ok_or_else(|| fail(AppError::NotFound))?;
    let may_manage = viewer
        .grants
        .authorize(Privilege::ServerManage, Target::Server(id.clone()))
        .is_ok();
    let (mut self_test, mut problem) = (None, None);
    if q.check == Some(1) && may_manage {
        match connect::open(&state.db, &state.keys, &id).await {
            Ok(Some((record, client))) => match client
                .permission_self_test(&record.auth_id, &pve::Feature::ALL)
                .await
            {
                Ok(test) => self_test = Some(test),
                Err(e) => problem = Some(e.to_string()),
            },
            Ok(None) => return Err(fail(AppError::NotFound)),
            Err(e) => problem = Some(e.to_string()),
        }
    }
    let graphs = node_graphs(&state, &id).await;
    let live = row(&state, server);
    let page = DetailPage {
        shell: viewer.shell.clone(),
        server: live.server,
        health: live.health,
        guests: live.guests,
        may_manage,
        self_test,
        problem,
        graphs,
        may_manage_access: viewer
            .grants
            .authorize(Privilege::UserManage, Target::Root)
            .is_ok(),
    };
    render(&page, StatusCode::OK)
}

/// CPU and memory graphs of each online node over the last hour, from cached RRD data; a node
/// PVE cannot answer for is left out (the health line already says why).
async fn node_graphs(state: &ServersState, id: &ServerId) -> Vec<(String, String, String)> {
    let Some(live) = state.inventory.server(id.as_str()) else {
        return Vec::new();
    };
    let client = match connect::open(&state.db, &state.keys, id).await {
        Ok(Some((_, client))) => client,
        _ => return Vec::new(),
    };
    let mut graphs = Vec::new();
    for node in live.nodes.iter().filter(|n| n.status == "online") {
        let key = format!("{id}/{}", node.name);
        let points = match state.rrd.get(&key, 0, "hour") {
            Some(points) => points,
            None => match client
                .node_rrd(&node.name, pve::Timeframe::Hour, false)
                .await
            {
                Ok(points) => {
                    state.rrd.put(&key, 0, "hour", points.clone());
                    points
                }
                Err(_) => continue,
            },
        };
        let series = |f: fn(&pve::RrdPoint) -> f64| {
            points.iter().map(|p| (p.time, f(p))).collect::<Vec<_>>()
        };
        let cpu = crate::ui::chart::svg("CPU", "%", &[("cpu", series(|p| p.cpu))]);
        let memory = crate::ui::chart::svg(
            "Memory",
            "B",
            &[
                ("used", series(|p| p.memused)),
                ("size", series(|p| p.memtotal)),
            ],
        );
        graphs.push((node.name.clone(), cpu, memory));
    }
    graphs
}

async fn pin(
    State(state): State<ServersState>,
    client: Client,
    Path(raw): Path<String>,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    let id = ServerId::parse(&raw).map_err(|_| fail(AppError::NotFound))?;
    let fingerprint: pve::Fingerprint = form_value(&fields, "fingerprint")
        .parse()
        .map_err(|_| fail(AppError::BadRequest("not a fingerprint".to_owned())))?;
    let url = form_value(&fields, "member");
    let server = store::get(&state.db, &id)
        .await
        .map_err(|e| fail(AppError::internal(e)))?
        .ok_or_else(|| fail(AppError::NotFound))?;
    let members =
        store::repinned(&server.members, |m| m.url == url, &fingerprint).ok_or_else(|| {
            fail(AppError::BadRequest(
                "the server has no such member".to_owned(),
            ))
        })?;
    store::replace_members(&state.db, &id, &members)
        .await
        .map_err(|e| fail(AppError::internal(e)))?;
    let subject = Subject::user(&viewer.user.id, &viewer.user.username);
    events::record(
        &state.db,
        Kind::ServerChanged,
        subject,
        &client,
        &format!("server {id}: {url} pinned to {fingerprint}"),
    )
    .await
    .map_err(|e| fail(AppError::internal(e)))?;
    state.inventory.nudge(id.as_str());
    Ok(Redirect::to(&format!("/servers/{id}")).into_response())
}
