//! Signing in and passwords: the sign-in form and sign-out (`login`), the password and TOTP
//! checks both sign-in paths share (`authenticate`), the password policy and hashing
//! (`password`), throttling of everything that checks a secret (`throttle`), and a person's
//! own password change (`account`).

pub(super) mod account;
pub(super) mod authenticate;
pub(super) mod login;
pub mod password;
pub mod throttle;

use axum::extract::FromRef;

use crate::access::routes::Routes;
use crate::identity::IdentityState;

/// Sign-in and password routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    login::routes().merge(account::routes())
}
