//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the JSON API, generated from the
//! route table itself (every path, method, path parameter and the access each route
//! declares), so it cannot list a route that does not exist or miss one that does. The copy
//! committed as `docs/openapi.json` is compared with it by a test.

use axum::Json;
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::access::routes::{Access, Declared, Routes};

/// The document's route.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Routes<S> {
    Routes::new().add("/api/v1/openapi.json", &["GET"], Access::Public, get(serve))
}

async fn serve() -> Json<Value> {
    Json(document())
}

/// What a route requires, in words.
fn access(declared: &Declared) -> String {
    match declared.access {
        Access::Public => "public".to_owned(),
        Access::SignedIn => {
            "signed in; answers only about the caller's own things or what they may see".to_owned()
        }
        Access::Privilege(p) => format!("{p} on /"),
        Access::OnServer(p) => format!("{p} on the server (404 when the caller may not see it)"),
        Access::OnGuest(p) => format!("{p} on the guest (404 when the caller may not see it)"),
    }
}

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let kind = if name == "vmid" { "integer" } else { "string" };
            json!({ "name": name, "in": "path", "required": true, "schema": { "type": kind } })
        })
        .collect()
}

fn operation(declared: &Declared, method: &str) -> Value {
    let error = json!({ "$ref": "#/components/responses/Error" });
    let success = match method {
        "POST" => {
            json!({ "200": { "description": "done" }, "201": { "description": "created" }, "202": { "description": "accepted: a job was queued (`job_id`)" } })
        }
        "DELETE" => json!({ "204": { "description": "deleted" } }),
        _ => json!({ "200": { "description": "the resource, as JSON" } }),
    };
    let mut responses = success.as_object().cloned().unwrap_or_default();
    for code in ["400", "401", "403", "404", "409", "429", "502"] {
        responses.insert(code.to_owned(), error.clone());
    }
    let mut op = json!({
        "x-pmp-access": access(declared),
        "parameters": parameters(declared.path),
        "responses": responses,
    });
    if declared.access == Access::Public {
        op["security"] = json!([]);
    }
    if matches!(method, "POST" | "PUT" | "PATCH") {
        op["requestBody"] = json!({ "required": false, "content": { "application/json": { "schema": { "type": "object" } } } });
    }
    op
}

/// The document.
pub fn document() -> Value {
    let (_, table) = crate::app::route_table().into_parts();
    let mut paths: Map<String, Value> = Map::new();
    let mut api: Vec<&Declared> = table
        .iter()
        .filter(|d| d.path.starts_with("/api/"))
        .collect();
    api.sort_by_key(|d| d.path);
    for declared in api {
        let entry = paths
            .entry(declared.path.to_owned())
            .or_insert_with(|| json!({}));
        for method in declared.methods {
            entry[method.to_ascii_lowercase()] = operation(declared, method);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Proxmox Manager Portal API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "JSON API of the portal. Errors are {\"error\": CODE, \"message\": SENTENCE}. Long operations answer 202 with a job id; follow it under /api/v1/jobs/{id}.",
        },
        "security": [{ "bearer": [] }, { "session": [] }],
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "An access token from /api/v1/auth/token, or a personal API token (pmp_...)." },
                "session": { "type": "apiKey", "in": "cookie", "name": "pmp_session", "description": "The browser session; unsafe methods also need X-CSRF-Token." },
            },
            "schemas": {
                "Error": { "type": "object", "required": ["error", "message"], "properties": { "error": { "type": "string" }, "message": { "type": "string" } } },
            },
            "responses": {
                "Error": { "description": "refused or failed", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            },
        },
        "paths": paths,
    })
}
