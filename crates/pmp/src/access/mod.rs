//! Authorization: privileges named after what people do, roles (built-in and custom) that
//! bundle them, groups of users, and ACL entries granting a role on a path. `Grants::authorize`
//! is the one check everything calls; it hands out an `Authorized` proof only when allowed.

pub mod admin;
mod api;
pub mod grants;
mod page;
pub mod path;
pub mod privilege;
pub mod store;

pub use grants::{Authorized, Denied, Grant, Grants, Scope};
pub use path::{AclPath, Target};
pub use privilege::{PrivSet, Privilege};

/// Access-administration routes.
pub fn routes() -> crate::http::access::Routes {
    api::routes().merge(page::routes())
}
