//! `/api/v1/servers`: probe a certificate, add a server (pinned, members learned from the
//! cluster, permission self-test), list and read servers with their health, edit, re-pin
//! after a certificate rotation, re-run the self-test, and remove. Listing shows only the
//! servers the caller may see; a server they may not see answers 404.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::access::routes::{Access, Routes};
use crate::access::{Privilege, Target};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{ApiJson, AppError};
use crate::identity::principal::Principal;
use crate::ids::ServerId;
use crate::inventory::Health;
use crate::servers::ServersState;
use crate::servers::connect::{self, ConnectError};
use crate::servers::onboarding::{self, NewServer};
use crate::servers::store::{self, Server};
use axum::extract::FromRef;

const MANAGE: Access = Access::Privilege(Privilege::ServerManage);
const MANAGE_ONE: Access = Access::OnServer(Privilege::ServerManage);

/// Server routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    ServersState: FromRef<S>,
{
    Routes::new()
        .add("/api/v1/servers", &["GET"], Access::SignedIn, get(list))
        .add("/api/v1/servers", &["POST"], MANAGE, post(create))
        .add("/api/v1/servers/probe", &["POST"], MANAGE, post(probe))
        .add(
            "/api/v1/servers/{server}",
            &["GET"],
            Access::OnServer(Privilege::ServerView),
            get(detail),
        )
        .add(
            "/api/v1/servers/{server}",
            &["PATCH", "DELETE"],
            MANAGE_ONE,
            axum::routing::patch(update).delete(remove),
        )
        .add(
            "/api/v1/servers/{server}/pin",
            &["POST"],
            MANAGE_ONE,
            post(pin),
        )
        .add(
            "/api/v1/servers/{server}/test",
            &["POST"],
            MANAGE_ONE,
            post(check),
        )
}

/// A server with its live health, as the API shows it.
#[derive(Serialize)]
pub struct ServerView {
    #[serde(flatten)]
    pub server: Server,
    pub health: Health,
    pub guests: usize,
}

fn view(state: &ServersState, server: Server) -> ServerView {
    let live = state.inventory.server(&server.id);
    ServerView {
        health: live.as_ref().map_or(Health::Unknown, |s| s.health.clone()),
        guests: live.map_or(0, |s| s.guests.len()),
        server,
    }
}

fn server_id(raw: &str) -> Result<ServerId, AppError> {
    ServerId::parse(raw).map_err(|_| AppError::NotFound)
}

/// Records a server change in the security events.
pub async fn record(
    state: &ServersState,
    principal: &Principal,
    detail: &str,
) -> Result<(), AppError> {
    let subject = Subject::user(&principal.user.id, &principal.user.username);
    events::record(
        &state.db,
        Kind::ServerChanged,
        subject,
        &principal.client,
        detail,
    )
    .await
    .map_err(AppError::internal)
}

/// A PVE failure as the API answers it: what PVE or the network said, as a 502 (the portal
/// is fine; the server behind it is not). The sentences never hold a secret.
pub fn upstream(e: &pve::Error) -> AppError {
    AppError::BadGateway(e.to_string())
}

fn connect_error(e: ConnectError) -> AppError {
    match e {
        ConnectError::Pve(e) => upstream(&e),
        other => AppError::internal(other),
    }
}

/// The pinned client for the server a request path names: 404 for a malformed or unknown
/// id, 502 when PVE cannot be reached, 500 when the stored credentials cannot be opened.
pub async fn client(state: &ServersState, server: &str) -> Result<pve::Client, AppError> {
    let id = ServerId::parse(server).map_err(|_| AppError::NotFound)?;
    let (_, client) = connect::open(&state.db, &state.keys, &id)
        .await
        .map_err(connect_error)?
        .ok_or(AppError::NotFound)?;
    Ok(client)
}

async fn list(
    State(state): State<ServersState>,
    principal: Principal,
) -> Result<Json<Vec<ServerView>>, AppError> {
    let servers = store::list(&state.db).await.map_err(AppError::internal)?;
    let visible = servers
        .into_iter()
        .filter(|s| {
            ServerId::parse(&s.id).is_ok_and(|id| {
                principal
                    .grants
                    .authorize(Privilege::ServerView, Target::Server(id))
                    .is_ok()
            })
        })
        .map(|s| view(&state, s))
        .collect();
    Ok(Json(visible))
}

async fn detail(
    State(state): State<ServersState>,
    Path(raw): Path<String>,
) -> Result<Json<ServerView>, AppError> {
    let id = server_id(&raw)?;
    let server = store::get(&state.db, &id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    Ok(Json(view(&state, server)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeRequest {
    url: String,
}

#[derive(Serialize)]
struct Probed {
    url: String,
    fingerprint: String,
}

async fn probe(ApiJson(body): ApiJson<ProbeRequest>) -> Result<Json<Probed>, AppError> {
    let url = crate::servers::address::check(&body.url)
        .await
        .map_err(AppError::BadRequest)?;
    let fingerprint = pve::probe_fingerprint(&url)
        .await
        .map_err(|e| upstream(&e))?;
    Ok(Json(Probed {
        url,
        fingerprint: fingerprint.to_string(),
    }))
}

async fn create(
    State(state): State<ServersState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewServer>,
) -> Result<Response, AppError> {
    let (server, self_test) = onboarding::add(&state, body).await?;
    record(&state, &principal, &format!("server {} added", server.id)).await?;
    let answer = serde_json::json!({ "server": view(&state, server), "self_test": self_test });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    token_id: Option<String>,
    #[serde(default)]
    token_secret: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    totp_secret: Option<String>,
}

async fn update(
    State(state): State<ServersState>,
    principal: Principal,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Update>,
) -> Result<Json<ServerView>, AppError> {
    let id = server_id(&raw)?;
    let name = body
        .name
        .as_deref()
        .map(|n| {
            crate::ids::printable_name(n, onboarding::MAX_NAME)
                .ok_or_else(|| AppError::BadRequest(onboarding::NAME_RULE.to_owned()))
        })
        .transpose()?;
    let credentials = onboarding::CredentialFields {
        token_id: body.token_id,
        token_secret: body.token_secret,
        username: body.username,
        password: body.password,
        totp_secret: body.totp_secret,
    };
    if credentials.any() {
        // New credentials are tried against the server (pinned as stored) before they are kept.
        let auth = onboarding::checked_credentials(&credentials)?;
        let server = store::get(&state.db, &id)
            .await
            .map_err(AppError::internal)?
            .ok_or(AppError::NotFound)?;
        let client = connect::client_for(&server, auth.to_pve()).map_err(connect_error)?;
        client.version().await.map_err(|e| upstream(&e))?;
        store::set_auth(&state.db, &state.keys, &id, &auth)
            .await
            .map_err(AppError::internal)?;
    }
    if !store::update(&state.db, &id, name.as_deref(), body.enabled)
        .await
        .map_err(AppError::internal)?
    {
        return Err(AppError::NotFound);
    }
    record(&state, &principal, &format!("server {id} updated")).await?;
    state.inventory.nudge(id.as_str());
    detail(State(state), Path(raw)).await
}

async fn remove(
    State(state): State<ServersState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = server_id(&raw)?;
    if !store::delete(&state.db, &id)
        .await
        .map_err(AppError::internal)?
    {
        return Err(AppError::NotFound);
    }
    record(&state, &principal, &format!("server {id} removed")).await?;
    state.inventory.nudge(id.as_str());
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pin {
    member: String,
    fingerprint: String,
}

/// Confirms a member's new certificate after a rotation.
async fn pin(
    State(state): State<ServersState>,
    principal: Principal,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<Pin>,
) -> Result<Json<ServerView>, AppError> {
    let id = server_id(&raw)?;
    let fingerprint: pve::Fingerprint = body
        .fingerprint
        .parse()
        .map_err(|e: pve::FingerprintError| AppError::BadRequest(e.to_string()))?;
    let server = store::get(&state.db, &id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    let members = store::repinned(&server.members, |m| m.name == body.member, &fingerprint)
        .ok_or_else(|| {
            AppError::BadRequest(format!(
                "the server has no member {:?}",
                body.member.chars().take(64).collect::<String>()
            ))
        })?;
    store::replace_members(&state.db, &id, &members)
        .await
        .map_err(AppError::internal)?;
    record(
        &state,
        &principal,
        &format!(
            "server {id}: member {} pinned to {fingerprint}",
            body.member
        ),
    )
    .await?;
    state.inventory.nudge(id.as_str());
    detail(State(state), Path(raw)).await
}

/// Re-runs the connection and permission self-test.
async fn check(
    State(state): State<ServersState>,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let id = server_id(&raw)?;
    let (server, client) = connect::open(&state.db, &state.keys, &id)
        .await
        .map_err(connect_error)?
        .ok_or(AppError::NotFound)?;
    let version = client.version().await.map_err(|e| upstream(&e))?;
    let self_test = client
        .permission_self_test(&server.auth_id, &pve::Feature::ALL)
        .await
        .map_err(|e| upstream(&e))?;
    Ok(Json(
        serde_json::json!({ "version": version.version, "self_test": self_test }),
    ))
}
