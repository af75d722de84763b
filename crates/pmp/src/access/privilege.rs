//! Privileges, named after what people do, and sets of them. A role is a set of privileges;
//! the built-in roles are defined here once and seeded into the database by migration.

use std::fmt;

/// One thing a person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Privilege {
    GuestView,
    GuestPower,
    GuestConsole,
    GuestSnapshot,
    GuestBackup,
    GuestConfig,
    GuestClone,
    GuestMigrate,
    ServerView,
    ServerManage,
    UserManage,
    AuditView,
    SettingsManage,
    JobView,
    JobManage,
}

impl Privilege {
    /// Every privilege, in display order.
    pub const ALL: [Self; 15] = [
        Self::GuestView,
        Self::GuestPower,
        Self::GuestConsole,
        Self::GuestSnapshot,
        Self::GuestBackup,
        Self::GuestConfig,
        Self::GuestClone,
        Self::GuestMigrate,
        Self::ServerView,
        Self::ServerManage,
        Self::UserManage,
        Self::AuditView,
        Self::SettingsManage,
        Self::JobView,
        Self::JobManage,
    ];

    /// The stable name (`guest.power`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GuestView => "guest.view",
            Self::GuestPower => "guest.power",
            Self::GuestConsole => "guest.console",
            Self::GuestSnapshot => "guest.snapshot",
            Self::GuestBackup => "guest.backup",
            Self::GuestConfig => "guest.config",
            Self::GuestClone => "guest.clone",
            Self::GuestMigrate => "guest.migrate",
            Self::ServerView => "server.view",
            Self::ServerManage => "server.manage",
            Self::UserManage => "user.manage",
            Self::AuditView => "audit.view",
            Self::SettingsManage => "settings.manage",
            Self::JobView => "job.view",
            Self::JobManage => "job.manage",
        }
    }

    /// The privilege named `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PrivSet(u32);

impl PrivSet {
    /// No privilege.
    pub const EMPTY: Self = Self(0);

    /// The set of `privileges`.
    pub fn of(privileges: &[Privilege]) -> Self {
        Self(privileges.iter().fold(0, |acc, p| acc | p.bit()))
    }

    /// Every privilege.
    pub fn all() -> Self {
        Self::of(&Privilege::ALL)
    }

    /// Whether `privilege` is in the set.
    pub fn contains(self, privilege: Privilege) -> bool {
        self.0 & privilege.bit() != 0
    }

    /// Both sets together.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// What both sets hold.
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// True when empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The privileges in the set, in display order.
    pub fn iter(self) -> impl Iterator<Item = Privilege> {
        Privilege::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Parses a comma-separated list of names, refusing unknown ones.
    pub fn parse_list(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .try_fold(Self::EMPTY, |acc, name| {
                Privilege::parse(name)
                    .map(|p| acc.union(Self::of(&[p])))
                    .ok_or_else(|| {
                        format!(
                            "unknown privilege `{}`",
                            name.chars().take(40).collect::<String>()
                        )
                    })
            })
    }

    /// The comma-separated list of names, as stored.
    pub fn to_list(self) -> String {
        self.iter()
            .map(Privilege::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A built-in role: its stable id, name and privileges.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinRole {
    /// Stable id (also the primary key in `roles`).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// What it allows.
    pub privileges: &'static [Privilege],
}

use Privilege as P;

/// The roles every portal has; they cannot be edited or deleted.
pub const BUILTIN_ROLES: [BuiltinRole; 5] = [
    BuiltinRole {
        id: "administrator",
        name: "Administrator",
        privileges: &Privilege::ALL,
    },
    BuiltinRole {
        id: "operator",
        name: "Operator",
        privileges: &[
            P::GuestView,
            P::GuestPower,
            P::GuestConsole,
            P::GuestSnapshot,
            P::GuestBackup,
            P::GuestConfig,
            P::GuestClone,
            P::GuestMigrate,
            P::ServerView,
            P::JobView,
            P::JobManage,
        ],
    },
    BuiltinRole {
        id: "viewer",
        name: "Viewer",
        privileges: &[P::GuestView, P::ServerView, P::JobView],
    },
    BuiltinRole {
        id: "auditor",
        name: "Auditor",
        privileges: &[P::GuestView, P::ServerView, P::JobView, P::AuditView],
    },
    BuiltinRole {
        id: "tenant",
        name: "Tenant",
        privileges: &[
            P::GuestView,
            P::GuestPower,
            P::GuestConsole,
            P::GuestSnapshot,
            P::GuestBackup,
            P::JobView,
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_lists_refuse_strangers() {
        for p in Privilege::ALL {
            assert_eq!(Privilege::parse(p.as_str()), Some(p));
        }
        let set = PrivSet::parse_list("guest.view, guest.power").unwrap();
        assert!(set.contains(P::GuestPower) && !set.contains(P::GuestConsole));
        assert_eq!(set.to_list(), "guest.view,guest.power");
        assert!(PrivSet::parse_list("guest.view,root'--").is_err());
        assert_eq!(PrivSet::all().iter().count(), 15);
    }

    #[test]
    fn viewers_and_auditors_hold_no_action_privilege() {
        let actions = [
            P::GuestPower,
            P::GuestConsole,
            P::GuestSnapshot,
            P::GuestBackup,
            P::GuestConfig,
            P::GuestClone,
            P::GuestMigrate,
            P::ServerManage,
            P::UserManage,
            P::SettingsManage,
            P::JobManage,
        ];
        for role in BUILTIN_ROLES
            .iter()
            .filter(|r| r.id == "viewer" || r.id == "auditor")
        {
            let set = PrivSet::of(role.privileges);
            assert!(actions.iter().all(|a| !set.contains(*a)), "{}", role.id);
        }
    }
}
