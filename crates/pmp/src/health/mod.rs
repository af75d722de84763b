//! What monitoring reads: liveness and readiness probes for load balancers and orchestrators
//! (`/healthz` says the process answers; `/readyz` says the database answers and its schema is
//! this build's), and the Prometheus scrape `/metrics` (`metrics`).

pub mod metrics;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use crate::access::routes::{Access, Routes};
use crate::db::Db;
use axum::extract::FromRef;

/// Probe routes; public, so they reveal nothing beyond up or down.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
    metrics::MetricsState: FromRef<S>,
{
    metrics::routes()
        .add("/healthz", &["GET"], Access::Public, get(healthz))
        .add("/readyz", &["GET"], Access::Public, get(readyz))
}

/// A probe's answer.
#[derive(Debug, Serialize)]
pub struct Probe {
    /// `ok`, `ready` or `unavailable`.
    pub status: &'static str,
    /// What is wrong, when something is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

async fn healthz() -> Json<Probe> {
    Json(Probe {
        status: "ok",
        reason: None,
    })
}

async fn readyz(State(db): State<Db>) -> (StatusCode, Json<Probe>) {
    let reason = match db.readiness().await {
        Ok(r) if r.is_current() => None,
        Ok(r) if !r.pending.is_empty() => Some("database migrations are pending"),
        Ok(_) => Some("the database schema is newer than this build"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Some("the database does not answer")
        }
    };
    match reason {
        None => (
            StatusCode::OK,
            Json(Probe {
                status: "ready",
                reason: None,
            }),
        ),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Probe {
                status: "unavailable",
                reason: Some(reason),
            }),
        ),
    }
}
