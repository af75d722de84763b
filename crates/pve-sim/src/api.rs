//! The `/api2/json` surface: PVE's envelope (`{"data": ...}`), its error shapes and status
//! codes, and API-token authentication. Paths and fields follow the official schema.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::cluster::Cluster;

#[derive(Clone)]
pub(crate) struct ApiState {
    pub cluster: Arc<Cluster>,
    pub token: Arc<(String, String)>,
}

pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api2/json/version", get(version))
        .route("/api2/json/nodes", get(nodes))
        .route("/api2/json/cluster/status", get(cluster_status))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .fallback(not_implemented)
        .with_state(state)
}

/// PVE's error body: the message, `data: null`, and per-parameter `errors` where relevant.
fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "data": Value::Null, "message": message })),
    )
        .into_response()
}

fn data(value: Value) -> Json<Value> {
    Json(json!({ "data": value }))
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

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn authenticate(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_token_header);
    match presented {
        Some((id, secret)) if same(id, &state.token.0) && same(secret, &state.token.1) => {
            next.run(request).await
        }
        Some(_) => error(StatusCode::UNAUTHORIZED, "authentication failure"),
        None => error(StatusCode::UNAUTHORIZED, "No ticket"),
    }
}

async fn not_implemented(request: Request) -> Response {
    let message = format!(
        "Method '{} {}' not implemented",
        request.method(),
        request.uri().path()
    );
    error(StatusCode::NOT_IMPLEMENTED, &message)
}

async fn version() -> Json<Value> {
    data(json!({
        "release": "9.1",
        "version": "9.1.1",
        "repoid": "42d36f9a",
        "console": "html5",
    }))
}

async fn nodes(State(state): State<ApiState>) -> Json<Value> {
    let cluster = &state.cluster;
    let list: Vec<Value> = cluster
        .nodes
        .iter()
        .map(|node| {
            json!({
                "node": node.name,
                "status": if node.online { "online" } else { "offline" },
                "cpu": cluster.cpu(node),
                "maxcpu": node.maxcpu,
                "mem": cluster.mem(node),
                "maxmem": node.maxmem,
                "uptime": cluster.uptime(),
                "level": "",
            })
        })
        .collect();
    data(Value::Array(list))
}

async fn cluster_status(State(state): State<ApiState>) -> Json<Value> {
    let cluster = &state.cluster;
    let online = cluster.nodes.iter().filter(|n| n.online).count();
    let mut entries = vec![json!({
        "type": "cluster",
        "id": "cluster",
        "name": cluster.name,
        "nodes": cluster.nodes.len(),
        "quorate": u8::from(online * 2 > cluster.nodes.len()),
        "version": cluster.nodes.len() + 1,
    })];
    entries.extend(cluster.nodes.iter().enumerate().map(|(i, node)| {
        json!({
            "type": "node",
            "id": format!("node/{}", node.name),
            "name": node.name,
            "nodeid": node.id,
            "ip": node.ip.to_string(),
            "online": u8::from(node.online),
            "local": u8::from(i == 0),
            "level": "",
        })
    }));
    data(Value::Array(entries))
}

#[cfg(test)]
mod tests {
    use super::parse_token_header;

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
}
