//! The API's JSON body extractor. axum's own answers a bad body with plain text that quotes
//! serde's message; ours answers with the API's JSON error shape, a sentence that names the
//! problem without echoing internals, and 413 for bodies over the configured limit.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::http::AppError;

/// A JSON request body of type `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(describe(&rejection)),
        }
    }
}

fn describe(rejection: &JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            AppError::BadRequest("Send the body as JSON (Content-Type: application/json).".into())
        }
        JsonRejection::JsonSyntaxError(_) => {
            AppError::BadRequest("The request body is not valid JSON.".into())
        }
        JsonRejection::JsonDataError(_) => AppError::BadRequest(
            "The request body lacks a required field or has a field of the wrong type.".into(),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge,
        _ => AppError::BadRequest("The request body could not be read.".into()),
    }
}
