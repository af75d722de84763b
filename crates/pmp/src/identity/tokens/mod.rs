//! API credentials: access tokens (`jwt`), refresh tokens in families (`refresh`), the token
//! endpoints and `me` (`api`), and personal API tokens (`api_tokens`, with their page and API
//! in `api_tokens_routes`).

pub(super) mod api;
pub mod api_tokens;
pub(super) mod api_tokens_routes;
pub mod jwt;
pub mod refresh;

use axum::extract::FromRef;

use crate::access::routes::Routes;
use crate::identity::IdentityState;

/// Token routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    api::routes().merge(api_tokens_routes::routes())
}
