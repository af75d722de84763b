//! Router assembly and the plumbing every feature shares: state, middleware order, fallbacks.
//! Feature modules own their routes; this module only stitches them together.

pub mod access;
mod client;
mod error;
mod headers;
mod json;
pub mod openapi;
mod origin;
mod request_id;
mod trail;

use std::any::Any;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

pub use client::{Client, client_ip};
pub use error::{AppError, ErrorBody};
pub use headers::{CONTENT_SECURITY_POLICY, Transport};
pub use json::ApiJson;
pub use origin::is_same_origin;
pub use request_id::REQUEST_ID;
pub use trail::Trail;

use crate::config::{Config, ProxyNet};
use crate::db::Db;
use crate::identity::jwt::TokenPolicy;
use crate::identity::sessions::SessionPolicy;
use crate::inventory::Inventory;
use crate::secrets::Keys;
use crate::ui::{PageError, Shell};

/// What handlers share: the database, the keys and the facts of how the portal is served.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    tls: bool,
    sessions: SessionPolicy,
    tokens: TokenPolicy,
    keys: Arc<Keys>,
    trusted_proxies: Vec<ProxyNet>,
    inventory: Inventory,
    task_poll: std::time::Duration,
    rrd: crate::ui::chart::RrdCache,
    notify_allow: Arc<Vec<ProxyNet>>,
    scrape: crate::health::metrics::ScrapeAccess,
}

impl AppState {
    /// Bundles the shared state; `tls` says whether the portal terminates TLS itself.
    pub fn new(db: Db, config: &Config, tls: bool, keys: Arc<Keys>, inventory: Inventory) -> Self {
        let sessions = SessionPolicy {
            idle_secs: config.session_idle_timeout_secs,
            absolute_secs: config.session_absolute_timeout_secs,
            secure: tls || config.proxy_tls,
        };
        let tokens = TokenPolicy {
            access_secs: config.access_token_ttl_secs,
            refresh_secs: config.refresh_token_ttl_secs,
        };
        Self {
            inner: Arc::new(Inner {
                db,
                tls,
                sessions,
                tokens,
                keys,
                trusted_proxies: config.trusted_proxies.clone(),
                inventory,
                task_poll: std::time::Duration::from_millis(config.task_poll_ms),
                rrd: crate::ui::chart::RrdCache::default(),
                notify_allow: Arc::new(config.notify_allow.clone()),
                scrape: crate::health::metrics::ScrapeAccess {
                    token: config.metrics_token.as_ref().map(|t| t.0.clone()),
                    allow: config.metrics_allow.clone(),
                },
            }),
        }
    }

    /// How browser sessions live and are sent.
    pub fn sessions(&self) -> &SessionPolicy {
        &self.inner.sessions
    }

    /// How long API tokens live.
    pub fn tokens(&self) -> &TokenPolicy {
        &self.inner.tokens
    }

    /// The JWT secret and the data key.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The keys, shared with pollers and job handlers.
    pub fn shared_keys(&self) -> Arc<Keys> {
        self.inner.keys.clone()
    }

    /// The live inventory of every server.
    pub fn inventory(&self) -> &Inventory {
        &self.inner.inventory
    }

    /// Graph data shared by every viewer for a short while.
    pub fn rrd(&self) -> &crate::ui::chart::RrdCache {
        &self.inner.rrd
    }

    /// How often a job reads the status of the PVE task it follows.
    pub fn task_poll(&self) -> std::time::Duration {
        self.inner.task_poll
    }

    /// Proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[ProxyNet] {
        &self.inner.trusted_proxies
    }

    /// Internal addresses notifications may go to nonetheless.
    pub fn notify_allow(&self) -> &[ProxyNet] {
        &self.inner.notify_allow
    }

    /// Who may scrape `/metrics`.
    pub fn scrape_access(&self) -> &crate::health::metrics::ScrapeAccess {
        &self.inner.scrape
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

/// A form read as name/value pairs, for forms that repeat a name (checkbox lists).
pub type FormFields = Vec<(String, String)>;

/// The first value of `name` in `fields`, empty when absent.
pub fn form_value<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The value of the cookie `name` in a request's headers, if present.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Every route of the portal with what it requires.
pub fn route_table() -> access::Routes {
    access::Routes::new()
        .merge(crate::health::routes())
        .merge(crate::web::routes())
        .merge(crate::identity::routes())
        .merge(crate::access::routes())
        .merge(crate::jobs::routes())
        .merge(crate::servers::routes())
        .merge(crate::guests::routes())
        .merge(crate::schedules::routes())
        .merge(crate::inventory::routes())
        .merge(openapi::routes())
        .merge(crate::audit::routes())
        .merge(crate::alerts::routes())
}

/// The whole application: every feature's routes behind the shared middleware.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let transport = Transport { tls: state.tls() };
    let (routes, _) = route_table().into_parts();
    routes
        .fallback(fallback)
        .with_state(state.clone())
        // The access guard of each route finds the state here.
        .layer(axum::Extension(state))
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
