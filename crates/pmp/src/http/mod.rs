//! Router assembly and the plumbing every feature shares: state, middleware order, fallbacks.
//! Feature modules own their routes; this module only stitches them together.

mod error;
mod headers;
mod origin;
mod request_id;

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

pub use error::{AppError, ErrorBody, PageError};
pub use headers::{CONTENT_SECURITY_POLICY, Transport};
pub use origin::{is_same_origin, refuse_cross_site};
pub use request_id::{REQUEST_ID, RequestId};

use crate::db::Db;
use crate::identity::sessions::SessionPolicy;
use crate::web::Shell;

/// What handlers share: the database and the facts of how the portal is served.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    tls: bool,
    sessions: SessionPolicy,
}

impl AppState {
    /// Bundles the shared state.
    pub fn new(db: Db, tls: bool, sessions: SessionPolicy) -> Self {
        Self {
            inner: Arc::new(Inner { db, tls, sessions }),
        }
    }

    /// How browser sessions live and are sent.
    pub fn sessions(&self) -> &SessionPolicy {
        &self.inner.sessions
    }

    /// The database pool.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Whether the portal terminates TLS itself.
    pub fn tls(&self) -> bool {
        self.inner.tls
    }
}

/// The whole application: every feature's routes behind the shared middleware.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let transport = Transport { tls: state.tls() };
    Router::new()
        .merge(crate::health::routes())
        .merge(crate::web::routes())
        .merge(crate::identity::routes())
        .fallback(fallback)
        .with_state(state)
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
