//! The HTTP plumbing every feature shares, knowing no feature: errors, security headers,
//! request ids and the audit trail of a request, the client's address, cross-site checks,
//! JSON and form extraction, cookies. The application (`app`) assembles it around the routes.

mod client;
mod error;
pub mod headers;
mod json;
mod origin;
pub mod request_id;
mod trail;

pub use client::{Client, TrustedProxies, client_ip};
pub use error::{AppError, ErrorBody};
pub use headers::{CONTENT_SECURITY_POLICY, Transport};
pub use json::ApiJson;
pub use origin::is_same_origin;
pub use request_id::REQUEST_ID;
pub use trail::Trail;

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
