//! The static files under `static/`, compiled into the binary and served under
//! content-hashed names (see `build.rs`) with a one-year immutable cache.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::http::AppError;

use crate::ui::PageError;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The name in `static/`, as templates refer to it.
    pub name: &'static str,
    /// The name it is served under, with a content hash.
    pub hashed: &'static str,
    /// The path it is served at: `/static/{hashed}`.
    pub url: &'static str,
    /// Its media type.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every embedded file.
pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The URL of a file in `static/`; a missing name is a build mistake caught by the tests.
pub fn url(name: &str) -> &'static str {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => asset.url,
        None => {
            tracing::error!(name, "template refers to a missing static file");
            "/static/missing"
        }
    }
}

/// Serves a file by its hashed name; any other name is a 404.
pub async fn serve(Path(file): Path<String>) -> Result<Response, PageError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.hashed == file)
        .ok_or(AppError::NotFound)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_hashed_name() {
        assert!(ASSETS.iter().any(|a| a.name == "app.css"));
        assert!(ASSETS.iter().any(|a| a.name == "app.js"));
        for asset in ASSETS {
            assert_ne!(asset.name, asset.hashed);
            assert_eq!(url(asset.name), format!("/static/{}", asset.hashed));
        }
    }
}
