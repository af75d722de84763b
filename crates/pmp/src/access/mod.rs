//! Authorization: privileges named after what people do, roles (built-in and custom) that
//! bundle them, groups of users, and ACL entries granting a role on a path. `Grants::authorize`
//! is the one check everything calls; it hands out an `Authorized` proof only when allowed.
//! Routes are declared with what they require (`routes`). Editing roles, groups and ACL
//! entries is `admin::access`.

pub mod admin;
pub mod grants;
pub mod path;
pub mod privilege;
pub mod routes;
pub mod store;

pub use grants::{Authorized, Denied, Grant, Grants, Scope};
pub use path::{AclPath, Target};
pub use privilege::{PrivSet, Privilege};
