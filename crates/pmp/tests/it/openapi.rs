//! The OpenAPI document: served at /api/v1/openapi.json without signing in, generated from
//! the route table, and equal to the copy committed as `docs/openapi.json` (run with
//! `UPDATE_OPENAPI=1` to rewrite the copy after changing routes).

use serde_json::Value;

use crate::support::{Engine, spawn_app};

#[tokio::test]
async fn the_served_document_matches_the_route_table_and_the_committed_copy() {
    let document = pmp::app::openapi::document();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&document).unwrap() + "\n",
        )
        .unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        committed == document,
        "docs/openapi.json drifted from the routes; run the tests with UPDATE_OPENAPI=1 and commit it"
    );

    let app = spawn_app(Engine::Sqlite).await;
    let served: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert_eq!(served, document);
    let (_, table) = pmp::app::route_table().into_parts();
    for route in table.iter().filter(|r| r.path.starts_with("/api/")) {
        for method in route.methods {
            let op = &served["paths"][route.path][method.to_ascii_lowercase()];
            assert!(
                op["x-pmp-access"].is_string(),
                "{method} {} is missing",
                route.path
            );
        }
    }
    let power = &served["paths"]["/api/v1/guests/{server}/{vmid}/actions/{action}"]["post"];
    assert_eq!(
        power["x-pmp-access"],
        "guest.power on the guest (404 when the caller may not see it)"
    );
    assert_eq!(power["parameters"].as_array().unwrap().len(), 3);
}
