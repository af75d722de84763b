//! The second factor: TOTP seeds sealed at rest, codes checked once each, recovery codes
//! (`totp`), and a person's own enrolment and removal, page and API (`account`).

pub(super) mod account;
pub mod totp;

use axum::extract::FromRef;

use crate::access::routes::Routes;
use crate::identity::IdentityState;

/// Second-factor routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    account::routes()
}
