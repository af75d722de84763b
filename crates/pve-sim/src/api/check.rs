//! Each endpoint's permission check, written in its table row as PVE's schema writes it
//! (`["perm", "/vms/{vmid}", ["VM.PowerMgmt"]]`, `"user": "all"`, `"user": "world"`), and the
//! layer that enforces it before the handler runs. The conformance test compares every row
//! with the schema.

use axum::Extension;
use axum::extract::{RawPathParams, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};

use super::{ApiState, Handler, Principal, PveError};
use crate::read;

/// A permission check from the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// No authentication (`"user": "world"`).
    World,
    /// Any authenticated user (`"user": "all"`); the handler filters what it shows.
    User,
    /// Every listed privilege on the path (`["perm", path, privs]`).
    All(&'static str, &'static [&'static str]),
    /// At least one listed privilege on the path (`["perm", path, privs, "any", 1]`).
    Any(&'static str, &'static [&'static str]),
    /// A compound expression (`and`/`or`) that the handler checks itself.
    Custom,
}

#[derive(Clone)]
struct Guarded {
    state: ApiState,
    check: Check,
}

impl Check {
    /// `handler`, behind this check.
    pub(super) fn guard(self, handler: Handler, state: &ApiState) -> Handler {
        match self {
            Self::World | Self::User | Self::Custom => handler,
            Self::All(..) | Self::Any(..) => {
                let guarded = Guarded {
                    state: state.clone(),
                    check: self,
                };
                handler.route_layer(middleware::from_fn_with_state(guarded, enforce))
            }
        }
    }
}

/// `template` with each `{name}` replaced by its value from the request path.
fn fill(template: &str, params: &RawPathParams) -> String {
    params
        .iter()
        .fold(template.to_owned(), |path, (name, value)| {
            path.replace(&format!("{{{name}}}"), value)
        })
}

/// Whether `principal` holds the privileges `check` asks for on `path`.
pub(super) fn allowed(state: &ApiState, principal: &str, path: &str, check: Check) -> bool {
    // A guest's pool lends its roles to the guest.
    let pool = path
        .strip_prefix("/vms/")
        .and_then(|id| id.parse::<u32>().ok())
        .and_then(|id| state.cluster.guest(id))
        .and_then(|g| g.pool);
    let held = read(&state.access).privileges(principal, path, pool.as_deref());
    match check {
        Check::World | Check::User | Check::Custom => true,
        Check::All(_, privs) => privs.iter().all(|p| held.contains(p)),
        Check::Any(_, privs) => privs.iter().any(|p| held.contains(p)),
    }
}

/// PVE's 403 naming the path and privileges.
pub(super) fn denied(path: &str, privs: &[&str]) -> PveError {
    let message = format!("Permission check failed ({path}, {})", privs.join("|"));
    PveError::new(StatusCode::FORBIDDEN, message)
}

async fn enforce(
    State(guarded): State<Guarded>,
    Extension(principal): Extension<Principal>,
    params: RawPathParams,
    request: Request,
    next: Next,
) -> Response {
    let (Check::All(template, privs) | Check::Any(template, privs)) = guarded.check else {
        return next.run(request).await;
    };
    let path = fill(template, &params);
    if allowed(&guarded.state, &principal.0, &path, guarded.check) {
        next.run(request).await
    } else {
        denied(&path, privs).into_response()
    }
}
