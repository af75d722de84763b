//! Where a guest of the inventory stands for access control: its ACL target, placed on its
//! current node and pool, and whether someone's grants let them see it at all.

use crate::access::{Grants, Privilege, Target};
use crate::ids::{GuestRef, Node, PoolId, ServerId, Vmid};
use crate::inventory::GuestRow;

/// The access-control target of a guest row, placed on its node and pool.
pub fn target(row: &GuestRow) -> Option<Target> {
    Some(Target::Guest {
        guest: GuestRef {
            server: ServerId::parse(&row.server).ok()?,
            vmid: Vmid::parse(&row.vmid.to_string()).ok()?,
        },
        node: Node::parse(&row.node).ok(),
        pool: row.pool.as_deref().and_then(|p| PoolId::parse(p).ok()),
    })
}

/// Whether `grants` may see `row`.
pub fn visible(grants: &Grants, row: &GuestRow) -> bool {
    target(row).is_some_and(|t| grants.authorize(Privilege::GuestView, t).is_ok())
}
