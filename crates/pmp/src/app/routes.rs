//! The route table of the whole portal and the router built from it: each feature's routes,
//! every one behind the guard its declaration asks for and the audit of writes, then the
//! shared middleware and the fallbacks.

use std::any::Any;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::access::routes::{Access, Declared, Routes};
use crate::app::{AppState, guard};
use crate::http::{AppError, Transport, headers, request_id};
use crate::ui::{PageError, Shell};

/// Every route of the portal with what it requires.
#[derive(Debug)]
pub struct Table(Routes<AppState>);

impl Table {
    /// The router, each route behind its guard, and the declarations.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Declared>) {
        let mut router = Router::new();
        let mut declared = Vec::new();
        for (route, handlers) in self.0.into_routes() {
            let access = route.access;
            let guarded = match access {
                Access::Public => handlers,
                _ => handlers.layer(middleware::from_fn(move |req: Request, next: Next| {
                    guard::guard(access, req, next)
                })),
            };
            // Outside the guard, so that a refused request is covered too.
            let guarded = guarded.layer(middleware::from_fn(crate::audit::requests::audit_writes));
            router = router.route(route.path, guarded);
            declared.push(route);
        }
        (router, declared)
    }
}

/// Every feature's routes.
pub fn route_table() -> Table {
    Table(
        Routes::new()
            .merge(crate::health::routes())
            .merge(crate::web::routes())
            .merge(crate::identity::routes())
            .merge(crate::admin::access::routes())
            .merge(crate::jobs::routes())
            .merge(crate::servers::routes())
            .merge(crate::guests::routes())
            .merge(crate::schedules::routes())
            .merge(crate::inventory::routes())
            .merge(crate::app::openapi::routes())
            .merge(crate::admin::audit::routes())
            .merge(crate::alerts::routes()),
    )
}

/// The whole application: every feature's routes behind the shared middleware.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let transport = Transport { tls: state.tls() };
    let proxies = state.proxies.clone();
    let db = state.db.clone();
    let (routes, _) = route_table().into_parts();
    routes
        .fallback(fallback)
        .with_state(state.clone())
        // The access guard of each route finds the state here, the audit of writes the
        // database, and the client's address the proxies it may believe.
        .layer(axum::Extension(db))
        .layer(axum::Extension(state))
        .layer(axum::Extension(proxies))
        // Layers run bottom-up on the way in: headers wrap everything, including panics.
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(request_id::request_id))
        .layer(middleware::from_fn_with_state(
            transport,
            headers::security_headers,
        ))
}

/// Unknown API paths answer JSON; everything else answers the HTML not-found page.
async fn fallback(shell: Shell, uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        AppError::NotFound.into_response()
    } else {
        PageError::in_shell(AppError::NotFound, shell).into_response()
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    AppError::internal(format!("handler panicked: {detail}")).into_response()
}
