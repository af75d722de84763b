//! `GET /metrics` in Prometheus text format. Off unless configured: a scraper is let in by
//! the bearer token `metrics_token` or by an address in `metrics_allow` (through trusted
//! proxies, the address they report), and anyone else gets 401 with an audit entry, since a
//! scrape that is refused is someone probing or a misconfigured monitor.
//! The route is `Public` in the table because its caller is a scraper, not a person; this
//! module's `allowed` is its check.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::access::routes::{Access, Routes};
use crate::audit::events::{self, Kind, Subject};
use crate::config::ProxyNet;
use crate::db::{Db, DbError};
use crate::http::{AppError, Client};
use crate::inventory::{Health, Inventory};
use crate::with_pool;
use axum::extract::FromRef;

/// The scrape route.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    MetricsState: FromRef<S>,
{
    Routes::new().add("/metrics", &["GET"], Access::Public, get(scrape))
}

/// What the scrape reads: the database and inventory it counts, and who may scrape.
#[derive(Debug, Clone)]
pub struct MetricsState {
    /// The database.
    pub db: Db,
    /// The live inventory.
    pub inventory: Inventory,
    /// Who may scrape.
    pub access: ScrapeAccess,
}

/// Who may scrape, from the configuration.
#[derive(Debug, Clone, Default)]
pub struct ScrapeAccess {
    /// The bearer token a scraper presents.
    pub token: Option<String>,
    /// Addresses that may scrape without it.
    pub allow: Vec<ProxyNet>,
}

impl ScrapeAccess {
    fn enabled(&self) -> bool {
        self.token.is_some() || !self.allow.is_empty()
    }

    fn allowed(&self, client: &Client, headers: &HeaderMap) -> bool {
        if self.allow.iter().any(|net| net.0.contains(&client.ip)) {
            return true;
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (&self.token, presented) {
            (Some(token), Some(presented)) => crate::identity::secret_eq(token, presented.trim()),
            _ => false,
        }
    }
}

async fn scrape(State(state): State<MetricsState>, client: Client, headers: HeaderMap) -> Response {
    let access = &state.access;
    if !access.enabled() {
        return AppError::NotFound.into_response();
    }
    if !access.allowed(&client, &headers) {
        let detail = "GET /metrics: scrape refused (no valid token, address not allowed)";
        let _ = events::record(
            &state.db,
            Kind::AccessDenied,
            Subject::default(),
            &client,
            detail,
        )
        .await;
        let why = "A valid metrics token is required.".to_owned();
        return AppError::Unauthorized("unauthorized", why).into_response();
    }
    let mut text = crate::telemetry::render();
    match database(&state.db).await {
        Ok(lines) => text.push_str(&lines),
        Err(e) => tracing::warn!(error = %e, "metrics: the database gauges could not be read"),
    }
    text.push_str(&inventory(&state.inventory));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A label value as the text format needs it.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn gauge_header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// Jobs by state and alerts firing by rule, every state and rule listed (zeros included) so
/// a series never vanishes.
async fn database(db: &Db) -> Result<String, DbError> {
    const JOBS: &str = "SELECT state, COUNT(*) FROM jobs GROUP BY state";
    const ALERTS: &str = "SELECT rule, COUNT(*) FROM alerts WHERE state = 'firing' GROUP BY rule";
    let jobs: Vec<(String, i64)> =
        with_pool!(db, pool => sqlx::query_as(JOBS).fetch_all(pool).await?);
    let alerts: Vec<(String, i64)> =
        with_pool!(db, pool => sqlx::query_as(ALERTS).fetch_all(pool).await?);
    let count = |rows: &[(String, i64)], key: &str| {
        rows.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n)
    };
    let mut out = String::new();
    gauge_header(
        &mut out,
        "pmp_jobs",
        "Jobs in the queue, by state (whole database)",
    );
    for s in crate::jobs::queue::State::ALL {
        let _ = writeln!(
            out,
            "pmp_jobs{{state=\"{}\"}} {}",
            s.as_str(),
            count(&jobs, s.as_str())
        );
    }
    gauge_header(
        &mut out,
        "pmp_alerts_firing",
        "Alerts firing now, by rule (whole database)",
    );
    for rule in crate::alerts::rules::Rule::ALL {
        let name = rule.as_str();
        let _ = writeln!(
            out,
            "pmp_alerts_firing{{rule=\"{name}\"}} {}",
            count(&alerts, name)
        );
    }
    Ok(out)
}

/// Servers by health and guests per server, as this instance's inventory has them.
fn inventory(inventory: &Inventory) -> String {
    let all = inventory.all();
    let mut out = String::new();
    gauge_header(
        &mut out,
        "pmp_servers",
        "Proxmox VE servers, by health as this instance polled them",
    );
    for health in Health::NAMES {
        let n = all
            .iter()
            .filter(|(_, s)| s.health.name() == health)
            .count();
        let _ = writeln!(out, "pmp_servers{{health=\"{health}\"}} {n}");
    }
    gauge_header(
        &mut out,
        "pmp_inventory_guests",
        "Guests in the inventory, by server",
    );
    for (server, state) in &all {
        let _ = writeln!(
            out,
            "pmp_inventory_guests{{server=\"{}\"}} {}",
            label(server),
            state.guests.len()
        );
    }
    out
}
