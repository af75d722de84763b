//! The guard every declared route passes before its handler runs (`access::routes` declares
//! what each requires): a signed-in caller for
//! `SignedIn`, and the privilege for `Privilege` (on `/`), `OnServer` (on the server named in
//! the path) or `OnGuest` (on the guest named in the path, placed by the inventory on its node
//! and pool), checked with `authorize`, whose proof is left in the request for the handler.
//! A server or guest the caller may not even see answers 404, exactly like one that does not
//! exist; one they see but may not act on answers 403. Nothing else in the crate registers
//! routes, and a test walks this table (and the source) to prove it.

use axum::extract::{FromRef, FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use axum::extract::RawPathParams;
use axum::http::request::Parts;

use crate::access::routes::Access;
use crate::access::{Authorized, Grants, Privilege, Target};
use crate::app::AppState;
use crate::audit::events::{self, Kind, Subject};
use crate::http::{AppError, Client, Trail};
use crate::identity::IdentityState;
use crate::identity::principal::{Principal, Via};
use crate::identity::sessions::guard::Viewer;
use crate::identity::users::User;
use crate::ids::{ServerId, Vmid};
use crate::ui::PageError;

/// The resource a route acts on, resolved from its path, and the privilege that lets one see
/// it at all.
fn resource(
    access: Access,
    params: &[(String, String)],
    state: &AppState,
) -> Result<Option<(Privilege, Target, Privilege)>, AppError> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let server = || {
        param("server")
            .and_then(|s| ServerId::parse(&s).ok())
            .ok_or(AppError::NotFound)
    };
    Ok(match access {
        Access::Public | Access::SignedIn => None,
        Access::Privilege(p) => Some((p, Target::Root, p)),
        Access::OnServer(p) => Some((p, Target::Server(server()?), Privilege::ServerView)),
        Access::OnGuest(p) => {
            let server = server()?;
            let vmid = param("vmid")
                .and_then(|v| Vmid::parse(&v).ok())
                .ok_or(AppError::NotFound)?;
            let row = state
                .inventory
                .guest(server.as_str(), vmid.get())
                .ok_or(AppError::NotFound)?;
            let target = crate::inventory::target(&row).ok_or(AppError::NotFound)?;
            Some((p, target, Privilege::GuestView))
        }
    })
}

/// Whether the server a route names exists (guests are checked against the inventory in
/// `resource`; a server may be stored before its first poll).
async fn server_exists(access: Access, params: &[(String, String)], state: &AppState) -> bool {
    if !matches!(access, Access::OnServer(_)) {
        return true;
    }
    let Some(id) = params
        .iter()
        .find(|(k, _)| k == "server")
        .and_then(|(_, v)| ServerId::parse(v).ok())
    else {
        return false;
    };
    state.inventory.server(id.as_str()).is_some()
        || crate::servers::store::get(&state.db, &id)
            .await
            .is_ok_and(|s| s.is_some())
}

/// Authorizes `access` for `grants`: the proof, nothing to check, or the refusal (404 when
/// the resource does not exist or is not even visible).
async fn decide(
    access: Access,
    params: &[(String, String)],
    state: &AppState,
    grants: &Grants,
    trail: &Trail,
) -> Result<Option<Authorized>, AppError> {
    if !server_exists(access, params, state).await {
        return Err(AppError::NotFound);
    }
    let Some((privilege, target, view)) = resource(access, params, state)? else {
        return Ok(None);
    };
    if let Some(own) = target.paths().first() {
        trail.set_target(&own.to_string());
    }
    match grants.authorize(privilege, target.clone()) {
        Ok(authorized) => Ok(Some(authorized)),
        Err(denied)
            if grants.authorize(view, target).is_ok() || matches!(access, Access::Privilege(_)) =>
        {
            Err(refused(&denied))
        }
        Err(denied) => {
            tracing::warn!(privilege = %denied.privilege, path = %denied.path, "request refused: resource not visible");
            Err(AppError::NotFound)
        }
    }
}

/// The request's path parameters (none when they are not valid UTF-8: such ids never match).
async fn path_params(parts: &mut Parts, state: &AppState) -> Vec<(String, String)> {
    RawPathParams::from_request_parts(parts, state)
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Enforces `access` before the handler: API paths answer 401/403 in JSON, pages redirect to
/// sign-in (or the pending step) and refuse with an HTML page.
pub async fn guard(access: Access, req: Request, next: Next) -> Response {
    let Some(state) = req.extensions().get::<AppState>().cloned() else {
        return AppError::internal("the application state is missing from the request")
            .into_response();
    };
    let (mut parts, body) = req.into_parts();
    let params = path_params(&mut parts, &state).await;
    let Some(trail) = parts.extensions.get::<Trail>().cloned() else {
        return AppError::internal("the request trail is missing from the request").into_response();
    };
    let identity = IdentityState::from_ref(&state);
    if parts.uri.path().starts_with("/api/") {
        let principal = match Principal::authenticate(&mut parts, &identity).await {
            Ok(principal) => principal,
            Err(e) => return e.into_response(),
        };
        let actor = match &principal.via {
            Via::ApiToken(id) => format!("token:{id}"),
            Via::Session(_) | Via::AccessToken => "user".to_owned(),
        };
        trail.set_actor(&actor);
        trail.set_user(&principal.user.id, &principal.user.username);
        let caller = Caller {
            user: &principal.user,
            grants: &principal.grants,
            client: &principal.client,
        };
        if let Err(e) = admit(access, &params, &state, &mut parts, caller).await {
            return e.into_response();
        }
        parts.extensions.insert(principal);
    } else {
        let viewer = match Viewer::authenticate(&mut parts, &identity).await {
            Ok(viewer) => viewer,
            Err(redirect) => return redirect,
        };
        trail.set_actor("user");
        trail.set_user(&viewer.user.id, &viewer.user.username);
        let client = match Client::from_request_parts(&mut parts, &state).await {
            Ok(client) => client,
            Err(never) => match never {},
        };
        let caller = Caller {
            user: &viewer.user,
            grants: &viewer.grants,
            client: &client,
        };
        if let Err(e) = admit(access, &params, &state, &mut parts, caller).await {
            return PageError::in_shell(e, viewer.shell.clone()).into_response();
        }
        parts.extensions.insert(viewer);
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Who is asking, as the decision needs them.
#[derive(Clone, Copy)]
struct Caller<'a> {
    user: &'a User,
    grants: &'a Grants,
    client: &'a Client,
}

/// Decides `access` for `caller`: leaves the proof in the request, or records the refusal and
/// answers it.
async fn admit(
    access: Access,
    params: &[(String, String)],
    state: &AppState,
    parts: &mut Parts,
    caller: Caller<'_>,
) -> Result<(), AppError> {
    let trail = &caller.client.trail;
    let decided = decide(access, params, state, caller.grants, trail).await;
    trail.set_target(parts.uri.path());
    match decided {
        Ok(proof) => {
            if let Some(authorized) = proof {
                parts.extensions.insert(authorized);
            }
            Ok(())
        }
        Err(e) => {
            record_refusal(state, caller.user, caller.client, parts, &e).await;
            Err(e)
        }
    }
}

/// Records a refusal for the audit trail: who asked for what, where (the path only; a query
/// string may carry secrets). Probing for other people's ids leaves a trace this way.
async fn record_refusal(
    state: &AppState,
    user: &User,
    client: &Client,
    parts: &Parts,
    error: &AppError,
) {
    let why = match error {
        AppError::NotFound => "not found or not visible",
        _ => "privilege missing",
    };
    let detail = format!("{} {}: {why}", parts.method, parts.uri.path());
    let subject = Subject::user(&user.id, &user.username);
    // A failure is logged by `record`; the refusal stands either way.
    let _ = events::record(&state.db, Kind::AccessDenied, subject, client, &detail).await;
}

fn refused(denied: &crate::access::Denied) -> AppError {
    tracing::warn!(privilege = %denied.privilege, path = %denied.path, "request refused: privilege not granted");
    AppError::Forbidden(format!(
        "You do not have the {} privilege here.",
        denied.privilege
    ))
}
