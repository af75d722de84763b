//! PVE's permission model, simulated: users with passwords and an optional TOTP secret, API
//! tokens with privilege separation, PVE's built-in roles, and ACL entries on paths evaluated
//! as pve-access-control does (walk from `/` down, a deeper level replaces what it inherits,
//! token entries beat user entries on a level, `NoAccess` cancels, pools reach their members).
//! Groups are not simulated: the portal never creates them on PVE.

use std::collections::{BTreeMap, BTreeSet};

/// Privileges by PVE name.
pub type Privs = BTreeSet<&'static str>;

/// Every privilege PVE knows, as `$privgroups` defines them.
pub const PRIVILEGES: [&str; 47] = [
    "VM.Audit",
    "VM.Console",
    "VM.PowerMgmt",
    "VM.Backup",
    "VM.Config.CDROM",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.CPU",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.HWType",
    "VM.Config.Options",
    "VM.Allocate",
    "VM.Clone",
    "VM.Migrate",
    "VM.Replicate",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.Unrestricted",
    "Datastore.Audit",
    "Datastore.AllocateSpace",
    "Datastore.Allocate",
    "Datastore.AllocateTemplate",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Syslog",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Incoming",
    "Sys.AccessNetwork",
    "SDN.Audit",
    "SDN.Use",
    "SDN.Allocate",
    "Pool.Audit",
    "Pool.Allocate",
    "Mapping.Audit",
    "Mapping.Use",
    "Mapping.Modify",
    "User.Modify",
    "Group.Allocate",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "Permissions.Modify",
    "VM.GuestAgent.FileRead",
    "VM.GuestAgent.FileWrite",
    "VM.GuestAgent.FileSystemMgmt",
];

/// The privileges of PVE's built-in role `name`, if it is one the simulator knows.
pub fn role(name: &str) -> Option<Privs> {
    let all = || PRIVILEGES.iter().copied().collect::<Privs>();
    let of = |names: &[&'static str]| names.iter().copied().collect::<Privs>();
    Some(match name {
        "Administrator" => all(),
        "NoAccess" => Privs::new(),
        "PVEAuditor" => of(&[
            "VM.Audit",
            "Datastore.Audit",
            "Sys.Audit",
            "SDN.Audit",
            "Pool.Audit",
            "Mapping.Audit",
            "VM.GuestAgent.Audit",
        ]),
        "PVEVMUser" => of(&[
            "VM.Audit",
            "VM.Console",
            "VM.PowerMgmt",
            "VM.Backup",
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.GuestAgent.Audit",
            "Pool.Audit",
            "Datastore.AllocateSpace",
            "Datastore.Audit",
        ]),
        "PVEVMAdmin" => {
            let mut privs: Privs = all().into_iter().filter(|p| p.starts_with("VM.")).collect();
            privs.extend(["Pool.Audit", "Datastore.AllocateSpace", "Datastore.Audit"]);
            privs
        }
        "PVEDatastoreUser" => of(&["Datastore.AllocateSpace", "Datastore.Audit"]),
        "PVESysAdmin" => of(&[
            "Sys.Audit",
            "Sys.Console",
            "Sys.Syslog",
            "Sys.Modify",
            "Sys.PowerMgmt",
        ]),
        _ => return None,
    })
}

/// One ACL entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// `/`, `/vms/100`, `/pool/prod`, ...
    pub path: String,
    /// `user@realm` or `user@realm!token`.
    pub ugid: String,
    /// A built-in role name.
    pub role: String,
    /// Whether the entry reaches paths below its own.
    pub propagate: bool,
}

/// A PVE user.
#[derive(Debug, Clone)]
pub struct User {
    /// Password for ticket logins.
    pub password: String,
    /// Base32 TOTP secret; with one, a login needs the second step.
    pub totp: Option<String>,
}

/// An API token.
#[derive(Debug, Clone)]
pub struct Token {
    /// The secret (a UUID in PVE).
    pub secret: String,
    /// Privilege separation: the token's own ACLs intersected with its user's.
    pub privsep: bool,
}

/// Users, tokens and ACLs of the simulated cluster.
#[derive(Debug, Default, Clone)]
pub struct Access {
    /// Users by id (`user@realm`).
    pub users: BTreeMap<String, User>,
    /// Tokens by full id (`user@realm!name`).
    pub tokens: BTreeMap<String, Token>,
    /// The ACL.
    pub acl: Vec<AclEntry>,
}

/// The paths from `/` down to `path`: `/`, `/vms`, `/vms/100`.
fn levels(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_owned()];
    let mut current = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        current.push('/');
        current.push_str(part);
        out.push(current.clone());
    }
    out
}

impl Access {
    /// `root@pam` with `password`.
    pub fn with_root(password: &str) -> Self {
        let mut access = Self::default();
        access.users.insert(
            "root@pam".to_owned(),
            User {
                password: password.to_owned(),
                totp: None,
            },
        );
        access
    }

    /// The user a principal (`user@realm` or a token id) belongs to.
    pub fn owner(principal: &str) -> &str {
        principal
            .split_once('!')
            .map_or(principal, |(user, _)| user)
    }

    /// The privileges `principal` holds on `path`; `pool` names the pool of the guest or
    /// storage at `path`, if any.
    pub fn privileges(&self, principal: &str, path: &str, pool: Option<&str>) -> Privs {
        let user = Self::owner(principal);
        if !self.users.contains_key(user) {
            return Privs::new();
        }
        if user == "root@pam" {
            return PRIVILEGES.iter().copied().collect();
        }
        let own = self.evaluate(user, path, pool);
        match self.tokens.get(principal) {
            Some(token) if principal != user => {
                if token.privsep {
                    let mine = self.evaluate(principal, path, pool);
                    mine.intersection(&own).copied().collect()
                } else {
                    own
                }
            }
            Some(_) | None if principal != user => Privs::new(),
            _ => own,
        }
    }

    /// Whether `principal` holds `privilege` on `path` (cheap for `root@pam`, which lists of
    /// thousands of guests are mostly filtered for).
    pub fn holds(&self, principal: &str, path: &str, pool: Option<&str>, privilege: &str) -> bool {
        let user = Self::owner(principal);
        let full_root = user == "root@pam"
            && (principal == user || self.tokens.get(principal).is_some_and(|t| !t.privsep));
        full_root || self.privileges(principal, path, pool).contains(privilege)
    }

    /// The entries of `ugid` at exactly `path`, applying there (`exact`) or below.
    fn entries_at(&self, ugid: &str, path: &str, exact: bool) -> Option<Privs> {
        let roles: Vec<&AclEntry> = self
            .acl
            .iter()
            .filter(|e| e.ugid == ugid && e.path == path && (exact || e.propagate))
            .collect();
        if roles.is_empty() {
            return None;
        }
        if roles.iter().any(|e| e.role == "NoAccess") {
            return Some(Privs::new());
        }
        Some(
            roles
                .iter()
                .filter_map(|e| role(&e.role))
                .flatten()
                .collect(),
        )
    }

    fn evaluate(&self, ugid: &str, path: &str, pool: Option<&str>) -> Privs {
        let levels = levels(path);
        let mut current = Privs::new();
        let mut set_at_leaf = false;
        for (i, level) in levels.iter().enumerate() {
            let leaf = i + 1 == levels.len();
            if let Some(privs) = self.entries_at(ugid, level, leaf) {
                current = privs;
                set_at_leaf = leaf;
            }
        }
        // A pool's roles reach its members where no direct entry on the member decided; a
        // pool `NoAccess` wins over everything but a direct entry's own `NoAccess`.
        if let Some(pool_privs) =
            pool.and_then(|p| self.entries_at(ugid, &format!("/pool/{p}"), true))
        {
            if pool_privs.is_empty() {
                return pool_privs;
            }
            if !set_at_leaf {
                current.extend(pool_privs);
            }
        }
        current
    }

    /// Every path an ACL entry names, plus `/`: the paths `/access/permissions` reports.
    pub fn acl_paths(&self) -> BTreeSet<String> {
        let mut paths: BTreeSet<String> = self.acl.iter().map(|e| e.path.clone()).collect();
        paths.insert("/".to_owned());
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, ugid: &str, role: &str, propagate: bool) -> AclEntry {
        AclEntry {
            path: path.to_owned(),
            ugid: ugid.to_owned(),
            role: role.to_owned(),
            propagate,
        }
    }

    fn access() -> Access {
        let mut a = Access::with_root("pw");
        a.users.insert(
            "ops@pve".to_owned(),
            User {
                password: "x".to_owned(),
                totp: None,
            },
        );
        for (id, privsep) in [("ops@pve!sep", true), ("ops@pve!full", false)] {
            a.tokens.insert(
                id.to_owned(),
                Token {
                    secret: "s".to_owned(),
                    privsep,
                },
            );
        }
        a
    }

    #[test]
    fn deeper_entries_replace_and_propagation_is_respected() {
        let mut a = access();
        a.acl.push(entry("/", "ops@pve", "PVEAuditor", true));
        a.acl.push(entry("/vms/100", "ops@pve", "PVEVMUser", false));
        assert!(
            a.privileges("ops@pve", "/vms/101", None)
                .contains("VM.Audit")
        );
        let on_100 = a.privileges("ops@pve", "/vms/100", None);
        assert!(on_100.contains("VM.PowerMgmt") && !on_100.contains("Sys.Audit"));
        a.acl.push(entry("/vms", "ops@pve", "NoAccess", false));
        // Not propagated: /vms itself is empty, /vms/101 still inherits the auditor role.
        assert!(a.privileges("ops@pve", "/vms", None).is_empty());
        assert!(
            a.privileges("ops@pve", "/vms/101", None)
                .contains("VM.Audit")
        );
    }

    #[test]
    fn separated_tokens_get_the_intersection_and_full_tokens_their_users_rights() {
        let mut a = access();
        a.acl.push(entry("/", "ops@pve", "PVEVMUser", true));
        assert!(a.privileges("ops@pve!sep", "/vms/100", None).is_empty());
        assert!(
            a.privileges("ops@pve!full", "/vms/100", None)
                .contains("VM.PowerMgmt")
        );
        a.acl.push(entry("/", "ops@pve!sep", "Administrator", true));
        let sep = a.privileges("ops@pve!sep", "/vms/100", None);
        assert!(sep.contains("VM.PowerMgmt") && !sep.contains("VM.Migrate"));
        assert!(a.privileges("nobody@pve!x", "/", None).is_empty());
        assert!(
            a.privileges("root@pam", "/anything", None)
                .contains("Sys.Modify")
        );
    }

    #[test]
    fn pools_reach_their_members() {
        let mut a = access();
        a.acl.push(entry("/pool/lab", "ops@pve", "PVEVMUser", true));
        assert!(
            a.privileges("ops@pve", "/vms/100", Some("lab"))
                .contains("VM.PowerMgmt")
        );
        assert!(a.privileges("ops@pve", "/vms/100", None).is_empty());
        a.acl.push(entry("/pool/lab", "ops@pve", "NoAccess", true));
        a.acl.push(entry("/vms/100", "ops@pve", "PVEAuditor", true));
        assert!(a.privileges("ops@pve", "/vms/100", Some("lab")).is_empty());
    }
}
