//! Request ids and the access log. Every request gets an id (the caller's `X-Request-Id` when it
//! is short and plain, a fresh UUID otherwise), carried in a tracing span and echoed on the
//! response, and one structured line is logged when the response is ready: method, route
//! template, status, duration, bytes, user id, client address and request id. The line names
//! the route template, never the raw path or query string, which might carry secrets.

use std::time::Instant;

use std::net::SocketAddr;

use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header that carries the request id both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

use crate::http::Trail;

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Assigns the request id, logs the access line and echoes the id on the response.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let trail = Trail::new(id.clone());
    request.extensions_mut().insert(trail.clone());
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    // Streams (server-sent events) have no size yet: they log as 0 bytes.
    let bytes = response.body().size_hint().exact().unwrap_or(0);
    let ip = trail
        .ip()
        .or(peer)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let elapsed = started.elapsed();
    crate::telemetry::http_request(method.as_str(), &route, response.status().as_u16(), elapsed);
    span.in_scope(|| {
        tracing::info!(
            target: "pmp::access",
            method = %method,
            route = %route,
            status = response.status().as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            bytes,
            user_id = trail.user_id().unwrap_or("-"),
            ip = %ip,
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_plain_ids_are_taken_from_callers() {
        assert!(acceptable("3f2a-9c1b_7e.1"));
        assert!(!acceptable(""));
        assert!(!acceptable(&"a".repeat(65)));
        assert!(!acceptable("a b"));
        assert!(!acceptable("<script>"));
        assert!(!acceptable("a\u{202e}b"));
    }
}
