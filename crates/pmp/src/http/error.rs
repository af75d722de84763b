//! Error-to-response mapping. A user sees a short sentence and a stable code; the detail that
//! helps an operator (driver errors, paths) goes only to the log, tagged with the request id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered by the JSON API.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{1}")]
    Unauthorized(&'static str, String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    TooLarge,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A Proxmox VE server failed; the message is the client's sentence (never a secret).
    #[error("Proxmox VE: {0}")]
    BadGateway(String),
    #[error("too many attempts; retry after {0} s")]
    TooMany(i64),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every API error.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub error: &'static str,
    /// One sentence for a person.
    pub message: String,
}

impl AppError {
    /// 401 with the generic code: missing, invalid or expired credentials.
    pub fn unauthorized() -> Self {
        Self::Unauthorized(
            "unauthorized",
            "Sign in, or send a valid access token.".to_owned(),
        )
    }

    /// Wraps any error whose text must stay in the log.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// Status, stable code and the sentence a person reads.
    pub fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "There is nothing here.".to_owned(),
            ),
            Self::BadRequest(msg) => (StatusCode::BAD_REQUEST, "bad_request", msg.clone()),
            Self::Unauthorized(code, msg) => (StatusCode::UNAUTHORIZED, code, msg.clone()),
            Self::Forbidden(msg) => (StatusCode::FORBIDDEN, "forbidden", msg.clone()),
            Self::Conflict(msg) => (StatusCode::CONFLICT, "conflict", msg.clone()),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "The request body is larger than this portal accepts.".to_owned(),
            ),
            Self::Unavailable(msg) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg.clone()),
            Self::BadGateway(msg) => (StatusCode::BAD_GATEWAY, "upstream_error", msg.clone()),
            Self::TooMany(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!(
                    "Too many failed attempts. Try again in {} minute(s).",
                    (secs + 59) / 60
                ),
            ),
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on our side; the details are in the server log."
                        .to_owned(),
                )
            }
        }
    }

    /// `Retry-After` for a throttled request.
    pub fn retry_after(&self, response: &mut Response) {
        if let Self::TooMany(secs) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from((*secs).max(1)));
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, error, message) = self.parts();
        let mut response = (status, Json(ErrorBody { error, message })).into_response();
        self.retry_after(&mut response);
        response
    }
}
