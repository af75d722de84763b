//! The `/api2/json` surface: one table of endpoints (which the conformance test walks), each
//! with the permission check the PVE schema declares for it, PVE's envelope
//! (`{"data": ...}`), its error shapes and status codes, parameter checks as PVE words them,
//! and authentication by API token or by ticket with CSRF token.

mod access;
mod actions;
mod agent;
mod check;
mod clone;
mod cluster;
mod config;
mod console;
mod guests;
mod metrics;
mod migrate;
mod params;
mod snapshots;
mod storage;
mod tasks;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use serde_json::{Value, json};

pub use check::Check;

use crate::{Shared, read};

/// What handlers see: the shared cluster, and the node whose listener took the request.
#[derive(Clone)]
pub(crate) struct ApiState {
    shared: Arc<Shared>,
}

impl std::ops::Deref for ApiState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// Who the request is authenticated as (`user@realm` or `user@realm!token`).
#[derive(Debug, Clone)]
pub(crate) struct Principal(pub String);

/// One endpoint the simulator serves, named as in PVE's API schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Path below `/api2/json`, with `{param}` placeholders as in the schema.
    pub path: &'static str,
    /// The permission check, as the schema's `permissions` declares it.
    pub check: Check,
}

type Handler = MethodRouter<ApiState>;

/// A row of the endpoint table: method, path, permission, handler.
type Row = (Method, &'static str, Check, Handler);

fn table() -> Vec<Row> {
    use axum::routing::{delete, get};
    let mut rows: Vec<Row> = vec![
        (Method::GET, "/version", Check::User, get(cluster::version)),
        (Method::GET, "/nodes", Check::User, get(cluster::nodes)),
        (
            Method::GET,
            "/cluster/status",
            Check::All("/", &["Sys.Audit"]),
            get(cluster::status),
        ),
        // Filtered: each entry needs an audit privilege on its own path.
        (
            Method::GET,
            "/cluster/resources",
            Check::User,
            get(cluster::resources),
        ),
        (
            Method::GET,
            "/nodes/{node}/status",
            Check::All("/nodes/{node}", &["Sys.Audit"]),
            get(cluster::node_status),
        ),
        // Task reads: the owner, or Sys.Audit on the task's node (checked in the handlers).
        (
            Method::GET,
            "/cluster/tasks",
            Check::User,
            get(tasks::cluster_tasks),
        ),
        (
            Method::GET,
            "/cluster/nextid",
            Check::User,
            get(cluster::nextid),
        ),
        (
            Method::GET,
            "/nodes/{node}/tasks",
            Check::User,
            get(tasks::node_tasks),
        ),
        (
            Method::GET,
            "/nodes/{node}/tasks/{upid}/status",
            Check::User,
            get(tasks::status),
        ),
        (
            Method::GET,
            "/nodes/{node}/tasks/{upid}/log",
            Check::User,
            get(tasks::log),
        ),
        // Stopping another user's task needs Sys.Modify on its node (checked in the handler).
        (
            Method::DELETE,
            "/nodes/{node}/tasks/{upid}",
            Check::User,
            delete(tasks::stop),
        ),
        // Any user may read a node's certificate fingerprints: they are public anyway.
        (
            Method::GET,
            "/nodes/{node}/certificates/info",
            Check::User,
            get(cluster::certificates),
        ),
        // Each user may read their own permissions (and their tokens').
        (
            Method::GET,
            "/access/permissions",
            Check::User,
            get(access::permissions),
        ),
    ];
    rows.extend(guests::routes());
    rows.extend(actions::routes());
    rows.extend(snapshots::routes());
    rows.extend(config::routes());
    rows.extend(clone::routes());
    rows.extend(storage::routes());
    rows.extend(metrics::routes());
    rows.extend(console::routes());
    rows.extend(agent::routes());
    // Last: the conformance walk moves its guests away with these.
    rows.extend(migrate::routes());
    rows
}

/// Endpoints that need no authentication, as in PVE.
fn public_table() -> Vec<Row> {
    vec![(
        Method::POST,
        "/access/ticket",
        Check::World,
        axum::routing::post(access::ticket),
    )]
}

/// Every endpoint the simulator serves.
pub fn endpoints() -> Vec<Endpoint> {
    table()
        .into_iter()
        .chain(public_table())
        .map(|(method, path, check, _)| Endpoint {
            method,
            path,
            check,
        })
        .collect()
}

/// The API as the node `node` serves it, with that node's faults applied.
pub(crate) fn router(shared: Arc<Shared>, node: &str) -> Router {
    let state = ApiState { shared };
    let mut router = Router::new();
    for (_, path, check, handler) in table() {
        router = router.route(&format!("/api2/json{path}"), check.guard(handler, &state));
    }
    // `route_layer` covers only the routes added before it: the public ones come after.
    router = router.route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    for (_, path, _, handler) in public_table() {
        router = router.route(&format!("/api2/json{path}"), handler);
    }
    let faults = state.faults.clone();
    let node = node.to_owned();
    router
        .fallback(not_implemented)
        .with_state(state)
        .layer(middleware::from_fn(move |request, next| {
            crate::faults::inject(faults.clone(), node.clone(), request, next)
        }))
}

/// An error as PVE answers it: a status, a message (PVE also puts it in the reason phrase),
/// `data: null`, and per-parameter `errors` for a 400.
#[derive(Debug)]
pub(crate) struct PveError {
    status: StatusCode,
    message: String,
    errors: Option<BTreeMap<String, String>>,
}

impl PveError {
    /// An error with a message and no parameter detail.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
        }
    }

    /// PVE's 500 for an operation it refuses (its handler dies with `message`).
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// PVE's 400 for parameters that fail verification, one reason per parameter.
    pub(crate) fn parameters(errors: BTreeMap<String, String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: "Parameter verification failed.".to_owned(),
            errors: Some(errors),
        }
    }

    /// PVE's 400 for one bad parameter.
    pub(crate) fn parameter(name: &str, why: impl Into<String>) -> Self {
        Self::parameters(BTreeMap::from([(name.to_owned(), why.into())]))
    }
}

impl IntoResponse for PveError {
    fn into_response(self) -> Response {
        // PVE puts the message in the status line too (when it fits in one: printable ASCII).
        let reason =
            hyper::ext::ReasonPhrase::try_from(self.message.trim().as_bytes().to_vec()).ok();
        let mut body = json!({ "data": Value::Null, "message": self.message });
        if let Some(errors) = self.errors {
            body["errors"] = json!(errors);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(reason) = reason {
            response.extensions_mut().insert(reason);
        }
        response
    }
}

/// What every handler returns.
pub(crate) type Answer = Result<Response, PveError>;

/// The success envelope.
pub(crate) fn data(value: Value) -> Answer {
    Ok(Json(json!({ "data": value })).into_response())
}

/// Splits `PVEAPIToken=USER@REALM!TOKENID=SECRET` (or with a space after the scheme) at the
/// last `=`, as PVE does.
fn parse_token_header(value: &str) -> Option<(&str, &str)> {
    let rest = value
        .strip_prefix("PVEAPIToken=")
        .or_else(|| value.strip_prefix("PVEAPIToken "))?;
    let (id, secret) = rest.rsplit_once('=')?;
    id.contains('!').then_some((id.trim(), secret.trim()))
}

/// Compares secrets in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The ticket from the `PVEAuthCookie` cookie or an `Authorization: PVEAuthCookie=` header.
fn presented_ticket(headers: &axum::http::HeaderMap) -> Option<String> {
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("PVEAuthCookie="))
        .map(params::percent_decode)
        .next();
    from_cookie.or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("PVEAuthCookie="))
            .map(params::percent_decode)
    })
}

/// API token (no CSRF), or ticket (CSRF token required on writes); the cookie wins when both
/// are present, as in PVE.
async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let unauthorized =
        |message: &str| PveError::new(StatusCode::UNAUTHORIZED, message).into_response();
    let headers = request.headers();
    let principal = if let Some(ticket) = presented_ticket(headers) {
        let Some(user) = state
            .tickets
            .check_ticket(&ticket)
            .filter(|u| read(&state.access).users.contains_key(u))
        else {
            return unauthorized("authentication failure");
        };
        let csrf = headers
            .get("CSRFPreventionToken")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if request.method() != Method::GET && !state.tickets.check_csrf(csrf, &user) {
            return unauthorized("Permission denied - invalid csrf token");
        }
        user
    } else {
        match headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_token_header)
        {
            Some((id, secret)) if valid_token(&state, id, secret) => id.to_owned(),
            Some(_) => return unauthorized("authentication failure"),
            None => return unauthorized("No ticket"),
        }
    };
    request.extensions_mut().insert(Principal(principal));
    next.run(request).await
}

/// Whether `id` is a token of an existing user with the secret `secret`.
fn valid_token(state: &ApiState, id: &str, secret: &str) -> bool {
    let access = read(&state.access);
    let owner = crate::perms::Access::owner(id);
    access.users.contains_key(owner)
        && access
            .tokens
            .get(id)
            .is_some_and(|t| same(secret, &t.secret))
}

async fn not_implemented(request: Request) -> PveError {
    let message = format!(
        "Method '{} {}' not implemented",
        request.method(),
        request.uri().path()
    );
    PveError::new(StatusCode::NOT_IMPLEMENTED, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_header_splits_at_the_last_equals_sign() {
        assert_eq!(
            parse_token_header("PVEAPIToken=root@pam!pmp=abc-def"),
            Some(("root@pam!pmp", "abc-def"))
        );
        assert_eq!(
            parse_token_header("PVEAPIToken root@pam!pmp=abc"),
            Some(("root@pam!pmp", "abc"))
        );
        assert_eq!(parse_token_header("PVEAPIToken=root@pam=abc"), None);
        assert_eq!(parse_token_header("Bearer x"), None);
    }

    #[test]
    fn the_table_has_no_duplicate_endpoints() {
        let all = endpoints();
        for (i, e) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(e), "{e:?} twice");
        }
    }
}
