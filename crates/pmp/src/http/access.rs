//! The route table. A route can only be added together with what it requires (`Access`),
//! and the requirement is enforced here, before the handler runs: a signed-in caller for
//! `SignedIn`, and the privilege for `Privilege` (checked with `authorize`, whose proof is left
//! in the request for the handler). Nothing else in the crate registers routes, and a test
//! walks this table (and the source) to prove it.

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::access::{Privilege, Target};
use crate::http::{AppError, AppState, PageError};
use crate::identity::guard::Viewer;
use crate::identity::principal::Principal;

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nobody needs to be signed in (sign-in itself, setup with its token, probes, assets).
    Public,
    /// Any signed-in caller; the handler only ever touches the caller's own things.
    SignedIn,
    /// A signed-in caller holding this privilege on `/`.
    Privilege(Privilege),
}

/// One row of the route table.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The route's path pattern.
    pub path: &'static str,
    /// The methods it answers.
    pub methods: &'static [&'static str],
    /// What it requires.
    pub access: Access,
}

/// Routes being assembled, with their declarations.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    declared: Vec<Declared>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("declared", &self.declared)
            .finish()
    }
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handlers` at `path` (answering `methods`), guarded by `access`.
    pub fn add(
        mut self,
        path: &'static str,
        methods: &'static [&'static str],
        access: Access,
        handlers: MethodRouter<AppState>,
    ) -> Self {
        let guarded = match access {
            Access::Public => handlers,
            _ => handlers.layer(middleware::from_fn(move |req: Request, next: Next| {
                guard(access, req, next)
            })),
        };
        self.router = self.router.route(path, guarded);
        self.declared.push(Declared {
            path,
            methods,
            access,
        });
        self
    }

    /// Both tables together.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.declared.extend(other.declared);
        self
    }

    /// The router and the table.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Declared>) {
        (self.router, self.declared)
    }
}

/// Enforces `access` before the handler: API paths answer 401/403 in JSON, pages redirect to
/// sign-in (or the pending step) and refuse with an HTML page.
async fn guard(access: Access, req: Request, next: Next) -> Response {
    let Some(state) = req.extensions().get::<AppState>().cloned() else {
        return AppError::internal("the application state is missing from the request")
            .into_response();
    };
    let (mut parts, body) = req.into_parts();
    let needed = match access {
        Access::Privilege(privilege) => Some(privilege),
        _ => None,
    };
    if parts.uri.path().starts_with("/api/") {
        let principal = match Principal::from_request_parts(&mut parts, &state).await {
            Ok(principal) => principal,
            Err(e) => return e.into_response(),
        };
        if let Some(privilege) = needed {
            match principal.grants.authorize(privilege, Target::Root) {
                Ok(authorized) => {
                    parts.extensions.insert(authorized);
                }
                Err(denied) => return refused(&denied).into_response(),
            }
        }
        parts.extensions.insert(principal);
    } else {
        let viewer = match Viewer::from_request_parts(&mut parts, &state).await {
            Ok(viewer) => viewer,
            Err(redirect) => return redirect,
        };
        if let Some(privilege) = needed {
            match viewer.grants.authorize(privilege, Target::Root) {
                Ok(authorized) => {
                    parts.extensions.insert(authorized);
                }
                Err(denied) => {
                    return PageError::in_shell(refused(&denied), viewer.shell.clone())
                        .into_response();
                }
            }
        }
        parts.extensions.insert(viewer);
    }
    next.run(Request::from_parts(parts, body)).await
}

fn refused(denied: &crate::access::Denied) -> AppError {
    tracing::warn!(privilege = %denied.privilege, path = %denied.path, "request refused: privilege not granted");
    AppError::Forbidden(format!(
        "You do not have the {} privilege here.",
        denied.privilege
    ))
}
