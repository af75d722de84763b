//! The application assembled above every feature: the shared state and the sub-state each
//! feature takes from it (`FromRef`), the route table with its guard, the router and its
//! middleware, the OpenAPI document of the table, and starting and stopping the portal. Nothing
//! below imports this module; features see only their own sub-state.

pub mod guard;
pub mod openapi;
pub mod portal;
mod routes;

use std::sync::Arc;

use axum::extract::FromRef;

pub use portal::{Portal, StartError, open_database};
pub use routes::{Table, route_table, router};

use crate::alerts::AlertsState;
use crate::config::Config;
use crate::db::Db;
use crate::health::metrics::{MetricsState, ScrapeAccess};
use crate::http::TrustedProxies;
use crate::identity::IdentityState;
use crate::identity::sessions::SessionPolicy;
use crate::identity::tokens::jwt::TokenPolicy;
use crate::inventory::Inventory;
use crate::inventory::InventoryState;
use crate::secrets::Keys;
use crate::servers::ServersState;
use crate::ui::chart::RrdCache;

/// Everything any handler may take, built once at start-up; each feature's sub-state is cut
/// from it per request (cheap: handles and `Arc`s).
#[derive(Debug, Clone)]
pub struct AppState {
    db: Db,
    tls: bool,
    proxies: TrustedProxies,
    keys: Arc<Keys>,
    inventory: Inventory,
    sessions: SessionPolicy,
    tokens: TokenPolicy,
    rrd: Arc<RrdCache>,
    notify_allow: Arc<Vec<crate::config::ProxyNet>>,
    scrape: ScrapeAccess,
}

impl AppState {
    /// Bundles the shared state; `tls` says whether the portal terminates TLS itself.
    pub fn new(db: Db, config: &Config, tls: bool, keys: Arc<Keys>, inventory: Inventory) -> Self {
        Self {
            db,
            tls,
            proxies: TrustedProxies(Arc::new(config.trusted_proxies.clone())),
            keys,
            inventory,
            sessions: SessionPolicy {
                idle_secs: config.session_idle_timeout_secs,
                absolute_secs: config.session_absolute_timeout_secs,
                secure: tls || config.proxy_tls,
            },
            tokens: TokenPolicy {
                access_secs: config.access_token_ttl_secs,
                refresh_secs: config.refresh_token_ttl_secs,
            },
            rrd: Arc::default(),
            notify_allow: Arc::new(config.notify_allow.clone()),
            scrape: ScrapeAccess {
                token: config.metrics_token.as_ref().map(|t| t.0.clone()),
                allow: config.metrics_allow.clone(),
            },
        }
    }

    /// Whether the portal terminates TLS itself.
    pub fn tls(&self) -> bool {
        self.tls
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl FromRef<AppState> for Inventory {
    fn from_ref(state: &AppState) -> Self {
        state.inventory.clone()
    }
}

impl FromRef<AppState> for IdentityState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            db: state.db.clone(),
            keys: state.keys.clone(),
            sessions: state.sessions,
            tokens: state.tokens,
        }
    }
}

impl FromRef<AppState> for ServersState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            db: state.db.clone(),
            keys: state.keys.clone(),
            inventory: state.inventory.clone(),
            rrd: state.rrd.clone(),
        }
    }
}

impl FromRef<AppState> for AlertsState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            db: state.db.clone(),
            keys: state.keys.clone(),
            notify_allow: state.notify_allow.clone(),
        }
    }
}

impl FromRef<AppState> for InventoryState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            db: state.db.clone(),
            inventory: state.inventory.clone(),
        }
    }
}

impl FromRef<AppState> for MetricsState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            db: state.db.clone(),
            inventory: state.inventory.clone(),
            access: state.scrape.clone(),
        }
    }
}
