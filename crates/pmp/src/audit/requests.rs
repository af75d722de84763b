//! The audit entry of last resort: every state-changing request (any method but GET, HEAD and
//! OPTIONS) on any route leaves one, with its route template, outcome and request id, unless a
//! more specific event (a sign-in, a guest action, a refusal) already covered it. Route
//! registration applies this to every route, so no new route can change state unrecorded.

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::audit::events::{self, Kind, Subject};
use crate::db::Db;
use crate::http::{AppError, Client};

/// The outcome an HTTP status stands for.
fn outcome(status: u16) -> &'static str {
    match status {
        401 | 403 | 404 | 429 => "denied",
        s if s < 400 => "success",
        _ => "failure",
    }
}

/// Runs the request and, when it changes state and nothing recorded it, records it.
pub async fn audit_writes(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    // The application puts its database in every request's extensions.
    let Some(db) = req.extensions().get::<Db>().cloned() else {
        return AppError::internal("the database is missing from the request").into_response();
    };
    let (mut parts, body) = req.into_parts();
    let client = match Client::from_request_parts(&mut parts, &()).await {
        Ok(client) => client,
        Err(never) => match never {},
    };
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or(parts.uri.path(), MatchedPath::as_str)
        .to_owned();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let response = next.run(Request::from_parts(parts, body)).await;
    let trail = &client.trail;
    if !trail.recorded() {
        trail.set_target(&path);
        let status = response.status().as_u16();
        let subject = Subject {
            user_id: trail.user_id(),
            username: trail.username(),
        };
        let detail = format!("{method} {route} answered {status}");
        // `record_with` logs a failure; the answer stands either way, as the action happened.
        let _ = events::record_with(
            &db,
            Kind::Request,
            outcome(status),
            subject,
            &client,
            &detail,
        )
        .await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::outcome;

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(outcome(202), "success");
        assert_eq!(outcome(303), "success");
        assert_eq!(outcome(404), "denied");
        assert_eq!(outcome(429), "denied");
        assert_eq!(outcome(400), "failure");
        assert_eq!(outcome(502), "failure");
    }
}
