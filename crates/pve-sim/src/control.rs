//! The control endpoint, plain HTTP on its own (loopback) port, for switching faults and
//! stepping the simulated cluster from scripts and from tests in other processes:
//!
//! - `GET /faults`; `PUT /faults` (every node) or `PUT /faults/{node}` with a [`Fault`] as
//!   JSON; `DELETE /faults` clears them all;
//! - `POST /nodes/{node}/certificate` rotates the node's certificate and answers the new
//!   fingerprint; `POST /tickets/expire` voids every ticket;
//! - `GET /tasks` lists every task started, for counting PVE tasks against portal jobs;
//! - `POST /backups/age` with `{"secs": N}` makes every backup N seconds older;
//! - `POST /users`, `POST /tokens`, `POST /acl` add users, tokens and ACL entries.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use axum_server::Handle;
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::faults::Fault;
use crate::perms::{AclEntry, Token, User};
use crate::{Shared, SimError, random_uuid, write};

type Control = State<Arc<Shared>>;

/// Starts the control endpoint on `listen`.
pub(crate) fn serve(
    shared: Arc<Shared>,
    listen: SocketAddr,
) -> Result<(SocketAddr, Handle, JoinHandle<std::io::Result<()>>), SimError> {
    let listener = std::net::TcpListener::bind(listen).map_err(|e| SimError::Bind(listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| SimError::Bind(listen, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| SimError::Bind(listen, e))?;
    let app = Router::new()
        .route("/faults", get(faults).put(set_global).delete(clear))
        .route("/faults/{node}", put(set_node))
        .route("/nodes/{node}/certificate", post(rotate))
        .route("/tickets/expire", post(expire))
        .route("/tasks", get(tasks))
        .route("/backups/age", post(age_backups))
        .route("/users", post(add_user))
        .route("/tokens", post(add_token))
        .route("/acl", post(add_acl))
        .with_state(shared);
    let handle = Handle::new();
    let server = axum_server::from_tcp(listener).handle(handle.clone());
    let task = tokio::spawn(server.serve(app.into_make_service()));
    Ok((addr, handle, task))
}

fn refused(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Age {
    secs: u64,
}

async fn age_backups(State(shared): Control, Json(age): Json<Age>) -> StatusCode {
    shared.cluster.backups.age(age.secs);
    StatusCode::NO_CONTENT
}

async fn faults(State(shared): Control) -> Response {
    let (global, nodes) = shared.faults.snapshot();
    Json(json!({ "global": global, "nodes": nodes })).into_response()
}

async fn set_global(State(shared): Control, Json(fault): Json<Fault>) -> StatusCode {
    shared.faults.set(None, fault);
    StatusCode::NO_CONTENT
}

async fn set_node(
    State(shared): Control,
    Path(node): Path<String>,
    Json(fault): Json<Fault>,
) -> Response {
    if shared.cluster.node(&node).is_none() {
        return refused(StatusCode::NOT_FOUND, format!("no node {node}"));
    }
    shared.faults.set(Some(&node), fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear(State(shared): Control) -> StatusCode {
    shared.faults.clear();
    StatusCode::NO_CONTENT
}

async fn rotate(State(shared): Control, Path(node): Path<String>) -> Response {
    match shared.rotate_certificate(&node) {
        Ok(fingerprint) => Json(json!({ "fingerprint": fingerprint })).into_response(),
        Err(e) => refused(StatusCode::NOT_FOUND, e.to_string()),
    }
}

async fn expire(State(shared): Control) -> StatusCode {
    shared.tickets.expire_all();
    StatusCode::NO_CONTENT
}

async fn tasks(State(shared): Control) -> Response {
    let tasks: Vec<_> = shared
        .cluster
        .tasks
        .select(|_| true)
        .iter()
        .map(crate::Task::status)
        .collect();
    Json(json!({ "tasks": tasks })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    userid: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

async fn add_user(State(shared): Control, Json(user): Json<NewUser>) -> Response {
    if !user.userid.contains('@') || user.userid.contains('!') {
        return refused(StatusCode::BAD_REQUEST, "userid is user@realm");
    }
    write(&shared.access).users.insert(
        user.userid,
        User {
            password: user.password,
            totp: user.totp,
        },
    );
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    tokenid: String,
    #[serde(default = "yes")]
    privsep: bool,
}

fn yes() -> bool {
    true
}

async fn add_token(State(shared): Control, Json(token): Json<NewToken>) -> Response {
    let mut access = write(&shared.access);
    let owner = crate::perms::Access::owner(&token.tokenid);
    if owner == token.tokenid || !access.users.contains_key(owner) {
        return refused(
            StatusCode::BAD_REQUEST,
            "tokenid is user@realm!name of an existing user",
        );
    }
    let secret = random_uuid();
    access.tokens.insert(
        token.tokenid.clone(),
        Token {
            secret: secret.clone(),
            privsep: token.privsep,
        },
    );
    Json(json!({ "full-tokenid": token.tokenid, "value": secret })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAcl {
    path: String,
    ugid: String,
    role: String,
    #[serde(default = "yes")]
    propagate: bool,
}

async fn add_acl(State(shared): Control, Json(entry): Json<NewAcl>) -> Response {
    if crate::perms::role(&entry.role).is_none() || !entry.path.starts_with('/') {
        return refused(
            StatusCode::BAD_REQUEST,
            "unknown role or a path not starting with /",
        );
    }
    write(&shared.access).acl.push(AclEntry {
        path: entry.path,
        ugid: entry.ugid,
        role: entry.role,
        propagate: entry.propagate,
    });
    StatusCode::NO_CONTENT.into_response()
}
