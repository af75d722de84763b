//! The one place that answers "may this principal do this to that resource?". A principal's
//! ACL entries (their own and their groups') are loaded once per request into `Grants`,
//! indexed by path, so a check costs a handful of hash lookups however many entries exist.
//! An entry applies to its own path, and, when it propagates, to everything below it.
//! Entries only ever grant; the effective set is the union. An API token with a scope holds
//! at most its scope's privileges, and never more than its owner (intersection).
//!
//! `authorize` hands out an `Authorized` value only when allowed; functions that act require
//! one, so code that skipped the check does not compile.

use std::collections::HashMap;

use crate::access::path::{AclPath, Target};
use crate::access::privilege::{PrivSet, Privilege};

/// One ACL entry as it applies to a principal, kept for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The entry's id.
    pub entry_id: String,
    /// Where it is set.
    pub path: AclPath,
    /// Whether it reaches below `path`.
    pub propagate: bool,
    /// The role's id.
    pub role_id: String,
    /// What the role allows.
    pub privileges: PrivSet,
    /// The group it comes through, when not set on the user directly.
    pub via_group: Option<String>,
}

/// A token's scope: a role's privileges on a path (and below).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The most the token may do.
    pub privileges: PrivSet,
    /// Where; elsewhere the token may do nothing.
    pub path: AclPath,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Granted on this path itself.
    here: PrivSet,
    /// Granted on this path and below.
    below: PrivSet,
}

/// Everything one principal is granted, ready to check against.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    slots: HashMap<AclPath, Slot>,
    entries: Vec<Grant>,
    scope: Option<Scope>,
}

/// The proof that a check passed: what was allowed, on what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    privilege: Privilege,
    target: Target,
}

impl Authorized {
    /// The privilege that was checked.
    pub fn privilege(&self) -> Privilege {
        self.privilege
    }

    /// The resource it was checked on.
    pub fn target(&self) -> &Target {
        &self.target
    }
}

/// A refused check. Callers answer 404 where the resource must not be revealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{privilege} is not granted on {path}")]
pub struct Denied {
    /// What was asked for.
    pub privilege: Privilege,
    /// The resource's own path.
    pub path: AclPath,
}

impl Grants {
    /// Indexes `entries`.
    pub fn new(entries: Vec<Grant>) -> Self {
        let mut slots: HashMap<AclPath, Slot> = HashMap::with_capacity(entries.len());
        for entry in &entries {
            let slot = slots.entry(entry.path.clone()).or_default();
            slot.here = slot.here.union(entry.privileges);
            if entry.propagate {
                slot.below = slot.below.union(entry.privileges);
            }
        }
        Self {
            slots,
            entries,
            scope: None,
        }
    }

    /// These grants narrowed to what a scoped token may do.
    pub fn scoped(mut self, scope: Option<Scope>) -> Self {
        self.scope = scope;
        self
    }

    /// What is granted on `target`.
    pub fn privileges_at(&self, target: &Target) -> PrivSet {
        let paths = target.paths();
        let mut set = PrivSet::EMPTY;
        for (i, path) in paths.iter().enumerate() {
            if let Some(slot) = self.slots.get(path) {
                set = set.union(if i == 0 { slot.here } else { slot.below });
            }
        }
        match &self.scope {
            None => set,
            Some(scope) if paths.contains(&scope.path) => set.intersection(scope.privileges),
            Some(_) => PrivSet::EMPTY,
        }
    }

    /// What every guest, node and pool of `server` holds at least: what the server's and the
    /// root's entries pass down (a scoped token counts only if its scope is one of those two).
    /// Lists use it to skip the per-guest check when the answer is the same for all.
    pub fn below_server(&self, server: &crate::ids::ServerId) -> PrivSet {
        let paths = [AclPath::Server(server.clone()), AclPath::Root];
        let set = paths
            .iter()
            .filter_map(|p| self.slots.get(p))
            .fold(PrivSet::EMPTY, |set, slot| set.union(slot.below));
        match &self.scope {
            None => set,
            Some(scope) if paths.contains(&scope.path) => set.intersection(scope.privileges),
            Some(_) => PrivSet::EMPTY,
        }
    }

    /// Allows `privilege` on `target`, or says why not.
    pub fn authorize(&self, privilege: Privilege, target: Target) -> Result<Authorized, Denied> {
        if self.privileges_at(&target).contains(privilege) {
            Ok(Authorized { privilege, target })
        } else {
            let path = target.paths().into_iter().next().unwrap_or(AclPath::Root);
            Err(Denied { privilege, path })
        }
    }

    /// Whether any entry grants the role `role_id` (anywhere).
    pub fn has_role(&self, role_id: &str) -> bool {
        self.entries.iter().any(|g| g.role_id == role_id)
    }

    /// Every privilege held on `target`, each with the entries that grant it (the
    /// "effective permissions" answer).
    pub fn effective(&self, target: &Target) -> Vec<(Privilege, Vec<&Grant>)> {
        self.privileges_at(target)
            .iter()
            .map(|privilege| (privilege, self.explain(privilege, target)))
            .collect()
    }

    /// The entries that grant `privilege` on `target` (for the "effective permissions" view).
    pub fn explain(&self, privilege: Privilege, target: &Target) -> Vec<&Grant> {
        let paths = target.paths();
        let scoped_out = self
            .scope
            .as_ref()
            .is_some_and(|s| !paths.contains(&s.path) || !s.privileges.contains(privilege));
        if scoped_out {
            return Vec::new();
        }
        self.entries
            .iter()
            .filter(|g| g.privileges.contains(privilege))
            .filter(|g| paths.first() == Some(&g.path) || (g.propagate && paths.contains(&g.path)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GuestRef, Node, PoolId, ServerId, Vmid};

    fn grant(path: &str, propagate: bool, privileges: &[Privilege]) -> Grant {
        Grant {
            entry_id: path.to_owned(),
            path: AclPath::parse(path).unwrap(),
            propagate,
            role_id: "r".to_owned(),
            privileges: PrivSet::of(privileges),
            via_group: None,
        }
    }

    fn guest(vmid: &str, node: Option<&str>, pool: Option<&str>) -> Target {
        Target::Guest {
            guest: GuestRef {
                server: ServerId::parse("lab").unwrap(),
                vmid: Vmid::parse(vmid).unwrap(),
            },
            node: node.map(|n| Node::parse(n).unwrap()),
            pool: pool.map(|p| PoolId::parse(p).unwrap()),
        }
    }

    #[test]
    fn grants_apply_to_their_path_and_propagate_downwards_only_when_asked() {
        use Privilege::*;
        let grants = Grants::new(vec![
            grant("/guests/lab/101", false, &[GuestView, GuestPower]),
            grant("/pools/lab/t1", true, &[GuestConsole]),
            grant("/servers/lab", false, &[ServerView]),
            grant("/servers/lab/nodes/pve2", true, &[GuestSnapshot]),
        ]);
        let mine = guest("101", Some("pve1"), None);
        assert!(grants.authorize(GuestPower, mine.clone()).is_ok());
        assert!(grants.authorize(GuestConsole, mine).is_err());
        assert!(
            grants
                .authorize(GuestView, guest("102", None, None))
                .is_err()
        );
        assert!(
            grants
                .authorize(GuestConsole, guest("102", None, Some("t1")))
                .is_ok()
        );
        // Moving a guest to another node changes what the node's grant reaches.
        assert!(
            grants
                .authorize(GuestSnapshot, guest("102", Some("pve2"), None))
                .is_ok()
        );
        assert!(
            grants
                .authorize(GuestSnapshot, guest("102", Some("pve1"), None))
                .is_err()
        );
        // A non-propagating server grant does not reach its guests.
        assert!(
            grants
                .authorize(ServerView, guest("101", None, None))
                .is_err()
        );
        assert!(
            grants
                .authorize(ServerView, Target::Server(ServerId::parse("lab").unwrap()))
                .is_ok()
        );
        let why = grants.explain(GuestConsole, &guest("103", None, Some("t1")));
        assert_eq!(why.len(), 1);
        assert_eq!(why[0].path.to_string(), "/pools/lab/t1");
    }

    #[test]
    fn a_scoped_token_never_exceeds_its_scope_or_its_owner() {
        use Privilege::*;
        let owner = vec![grant("/", true, &Privilege::ALL)];
        let scope = Scope {
            privileges: PrivSet::of(&[GuestView, GuestPower]),
            path: AclPath::parse("/servers/lab").unwrap(),
        };
        let token = Grants::new(owner).scoped(Some(scope.clone()));
        assert!(
            token
                .authorize(GuestPower, guest("101", None, None))
                .is_ok()
        );
        assert!(
            token
                .authorize(GuestConsole, guest("101", None, None))
                .is_err()
        );
        assert!(token.authorize(UserManage, Target::Root).is_err());
        let demoted =
            Grants::new(vec![grant("/guests/lab/101", false, &[GuestView])]).scoped(Some(scope));
        assert!(
            demoted
                .authorize(GuestPower, guest("101", None, None))
                .is_err()
        );
        assert!(
            demoted
                .authorize(GuestView, guest("101", None, None))
                .is_ok()
        );
    }
}
