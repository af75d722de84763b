//! ACL paths (`/`, `/servers/{id}`, `/servers/{id}/nodes/{node}`, `/pools/{server}/{pool}`,
//! `/guests/{server}/{vmid}`) and the resources checked against them. A resource is reached
//! by several paths at once: a guest by its own path, its pool's, its node's, its server's and
//! the root. Grants on any of them count, propagating ones from above.

use std::fmt;

use crate::ids::{GuestRef, IdError, Node, PoolId, ServerId, Vmid};

/// A path an ACL entry is set on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AclPath {
    /// Everything.
    Root,
    /// One server and all on it.
    Server(ServerId),
    /// One node of a server and the guests on it.
    Node(ServerId, Node),
    /// One pool of a server and its members.
    Pool(ServerId, PoolId),
    /// One guest.
    Guest(GuestRef),
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error(
        "an ACL path is /, /servers/ID, /servers/ID/nodes/NODE, /pools/SERVER/POOL or /guests/SERVER/VMID"
    )]
    Shape,
    #[error(transparent)]
    Id(#[from] IdError),
}

impl AclPath {
    /// Parses the text form.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let parts: Vec<&str> = raw
            .strip_prefix('/')
            .ok_or(PathError::Shape)?
            .split('/')
            .collect();
        Ok(match parts.as_slice() {
            [""] => Self::Root,
            ["servers", id] => Self::Server(ServerId::parse(id)?),
            ["servers", id, "nodes", node] => Self::Node(ServerId::parse(id)?, Node::parse(node)?),
            ["pools", server, pool] => Self::Pool(ServerId::parse(server)?, PoolId::parse(pool)?),
            ["guests", server, vmid] => Self::Guest(GuestRef {
                server: ServerId::parse(server)?,
                vmid: Vmid::parse(vmid)?,
            }),
            _ => return Err(PathError::Shape),
        })
    }
}

impl fmt::Display for AclPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("/"),
            Self::Server(id) => write!(f, "/servers/{id}"),
            Self::Node(id, node) => write!(f, "/servers/{id}/nodes/{node}"),
            Self::Pool(id, pool) => write!(f, "/pools/{id}/{pool}"),
            Self::Guest(guest) => write!(f, "/guests/{}/{}", guest.server, guest.vmid),
        }
    }
}

/// A resource being checked, with what is known of where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Portal-wide things: users, settings, the audit log.
    Root,
    /// A server.
    Server(ServerId),
    /// A node.
    Node(ServerId, Node),
    /// A pool.
    Pool(ServerId, PoolId),
    /// A guest, with its current node and pool when known (from the inventory).
    Guest {
        /// The guest.
        guest: GuestRef,
        /// The node it runs on now.
        node: Option<Node>,
        /// The pool it belongs to.
        pool: Option<PoolId>,
    },
}

impl Target {
    /// The target's own path and the paths above it, own path first.
    pub fn paths(&self) -> Vec<AclPath> {
        let mut paths = Vec::with_capacity(5);
        match self {
            Self::Root => {}
            Self::Server(id) => paths.push(AclPath::Server(id.clone())),
            Self::Node(id, node) => {
                paths.push(AclPath::Node(id.clone(), node.clone()));
                paths.push(AclPath::Server(id.clone()));
            }
            Self::Pool(id, pool) => {
                paths.push(AclPath::Pool(id.clone(), pool.clone()));
                paths.push(AclPath::Server(id.clone()));
            }
            Self::Guest { guest, node, pool } => {
                paths.push(AclPath::Guest(guest.clone()));
                if let Some(pool) = pool {
                    paths.push(AclPath::Pool(guest.server.clone(), pool.clone()));
                }
                if let Some(node) = node {
                    paths.push(AclPath::Node(guest.server.clone(), node.clone()));
                }
                paths.push(AclPath::Server(guest.server.clone()));
            }
        }
        paths.push(AclPath::Root);
        paths
    }
}

impl From<AclPath> for Target {
    /// The resource at `path`. A guest's node and pool are unknown from its path alone; only
    /// its own, its server's and the root's entries reach it this way.
    fn from(path: AclPath) -> Self {
        match path {
            AclPath::Root => Self::Root,
            AclPath::Server(s) => Self::Server(s),
            AclPath::Node(s, n) => Self::Node(s, n),
            AclPath::Pool(s, p) => Self::Pool(s, p),
            AclPath::Guest(guest) => Self::Guest {
                guest,
                node: None,
                pool: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_refuse_anything_else() {
        for raw in [
            "/",
            "/servers/lab",
            "/servers/lab/nodes/pve1",
            "/pools/lab/tenant-a",
            "/guests/lab/101",
        ] {
            assert_eq!(AclPath::parse(raw).unwrap().to_string(), raw);
        }
        for bad in [
            "",
            "servers/lab",
            "/servers",
            "/servers/lab/",
            "/servers/../x",
            "/guests/lab/abc",
            "/guests/lab/0101",
            "//",
            "/pools/lab",
            "/servers/LAB",
        ] {
            assert!(AclPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_guest_is_reached_through_its_pool_node_server_and_root() {
        let guest = GuestRef {
            server: ServerId::parse("lab").unwrap(),
            vmid: Vmid::parse("101").unwrap(),
        };
        let target = Target::Guest {
            guest,
            node: Some(Node::parse("pve1").unwrap()),
            pool: Some(PoolId::parse("t1").unwrap()),
        };
        let paths: Vec<String> = target.paths().iter().map(ToString::to_string).collect();
        assert_eq!(
            paths,
            [
                "/guests/lab/101",
                "/pools/lab/t1",
                "/servers/lab/nodes/pve1",
                "/servers/lab",
                "/"
            ]
        );
    }
}
