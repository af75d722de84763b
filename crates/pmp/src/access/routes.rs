//! Route declarations. A feature can only add a route together with what it requires
//! (`Access`); the application (`app::guard`) enforces the requirement before the handler
//! runs, and a test walks the table to prove every route declares one. Routes are generic over
//! the application state `S`: a feature names only the sub-state its handlers take.

use axum::routing::MethodRouter;

use crate::access::Privilege;

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nobody needs to be signed in (sign-in itself, setup with its token, probes, assets).
    Public,
    /// Any signed-in caller; the handler only ever touches the caller's own things.
    SignedIn,
    /// A signed-in caller holding this privilege on `/`.
    Privilege(Privilege),
    /// This privilege on the server `{server}` of the path.
    OnServer(Privilege),
    /// This privilege on the guest `{server}/{vmid}` of the path.
    OnGuest(Privilege),
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

/// Routes being assembled, each with its declaration, not yet guarded.
pub struct Routes<S> {
    routes: Vec<(Declared, MethodRouter<S>)>,
}

impl<S> Default for Routes<S> {
    fn default() -> Self {
        Self { routes: Vec::new() }
    }
}

impl<S> std::fmt::Debug for Routes<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let declared: Vec<&Declared> = self.routes.iter().map(|(d, _)| d).collect();
        f.debug_struct("Routes")
            .field("declared", &declared)
            .finish()
    }
}

impl<S> Routes<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handlers` at `path` (answering `methods`), to be guarded by `access`.
    pub fn add(
        mut self,
        path: &'static str,
        methods: &'static [&'static str],
        access: Access,
        handlers: MethodRouter<S>,
    ) -> Self {
        let declared = Declared {
            path,
            methods,
            access,
        };
        self.routes.push((declared, handlers));
        self
    }

    /// Both tables together.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.routes.extend(other.routes);
        self
    }

    /// Every route with its declaration, for the application to guard and mount.
    pub fn into_routes(self) -> Vec<(Declared, MethodRouter<S>)> {
        self.routes
    }
}
