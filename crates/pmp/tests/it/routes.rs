//! The route table is the only way in: every route declares what it requires, the guard
//! enforces it before any handler runs, and nothing registers a route around the table.

use pmp::access::routes::Access;
use reqwest::{Method, StatusCode};

use crate::support::{Engine, spawn_app};

/// `path` with every `{param}` replaced by a well-formed id that names nothing.
fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-4000-8000-000000000000")
        .replace("{file}", "missing.css")
}

#[tokio::test]
async fn every_route_declares_and_enforces_its_access() {
    let app = spawn_app(Engine::Sqlite).await;
    app.create_admin("root").await;
    app.create_user("bob", false).await;
    let (_, table) = pmp::app::route_table().into_parts();
    assert!(table.len() >= 30, "{} routes", table.len());
    let cookie = app.sign_in("bob").await;
    let bearer = app.api_token("bob").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut checked = 0;
    for route in &table {
        let path = concrete(route.path);
        let api = path.starts_with("/api/");
        for method in route.methods {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let anonymous = app
                .client
                .request(method.clone(), app.url(&path))
                .send()
                .await
                .unwrap();
            let status = anonymous.status();
            match (route.access, api) {
                (Access::Public, _) => {
                    assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}")
                }
                (_, true) => assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}"),
                (_, false) => {
                    assert_eq!(status, StatusCode::SEE_OTHER, "{method} {path}");
                    assert_eq!(anonymous.headers()["location"], "/login", "{method} {path}");
                }
            }
            // A signed-in person without privileges: refused exactly where a privilege is needed.
            let request = app.client.request(method.clone(), app.url(&path));
            let request = if api {
                request.bearer_auth(&bearer)
            } else {
                request.header("cookie", &cookie)
            };
            let signed_in = request
                .header("sec-fetch-site", "same-origin")
                .send()
                .await
                .unwrap()
                .status();
            match route.access {
                Access::Privilege(_) => {
                    assert_eq!(signed_in, StatusCode::FORBIDDEN, "{method} {path}")
                }
                // A server or guest they may not see does not exist for them.
                Access::OnServer(_) | Access::OnGuest(_) => {
                    assert_eq!(signed_in, StatusCode::NOT_FOUND, "{method} {path}")
                }
                _ => assert!(
                    signed_in != StatusCode::UNAUTHORIZED
                        && signed_in != StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}: {signed_in}"
                ),
            }
            checked += 1;
        }
    }
    println!(
        "{} routes, {checked} method/route pairs checked",
        table.len()
    );
}

#[test]
fn no_route_is_registered_outside_the_table() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("app/routes.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains(".route(")
                    || text.contains(".nest(")
                    || text.contains("Router::new()")
                {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes registered around the table in {offenders:?}"
    );
}
