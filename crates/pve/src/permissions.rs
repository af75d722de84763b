//! The permission self-test: for the portal features an administrator wants, read the
//! credentials' effective privileges (`/access/permissions`) and name exactly which are
//! missing on which path, with the `pveum` commands that would grant them. Catches the
//! classic "the token works but has no rights" before anything else fails.

use std::collections::{BTreeMap, BTreeSet};

use crate::Client;
use crate::error::Error;

/// A portal feature that needs PVE privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Read-only inventory, status and graphs.
    Monitoring,
    /// Start, stop, shutdown, reboot, suspend.
    Power,
    /// Snapshots and rollbacks.
    Snapshots,
    /// Backups to storages.
    Backups,
    /// Consoles.
    Consoles,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Self; 5] = [
        Self::Monitoring,
        Self::Power,
        Self::Snapshots,
        Self::Backups,
        Self::Consoles,
    ];

    /// What it needs, as (path, privilege); granted on these paths with propagation, the
    /// privileges reach every guest, node and storage below.
    pub fn needs(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Monitoring => &[
                ("/", "Sys.Audit"),
                ("/vms", "VM.Audit"),
                ("/storage", "Datastore.Audit"),
            ],
            Self::Power => &[("/vms", "VM.PowerMgmt")],
            Self::Snapshots => &[("/vms", "VM.Snapshot"), ("/vms", "VM.Snapshot.Rollback")],
            Self::Backups => &[
                ("/vms", "VM.Backup"),
                ("/storage", "Datastore.AllocateSpace"),
            ],
            Self::Consoles => &[("/vms", "VM.Console")],
        }
    }
}

/// A privilege the credentials lack.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Missing {
    /// The feature that needs it.
    pub feature: Feature,
    /// Where.
    pub path: &'static str,
    /// Which.
    pub privilege: &'static str,
}

/// The self-test's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SelfTest {
    /// What is missing; empty when everything asked for is granted.
    pub missing: Vec<Missing>,
    /// `pveum` commands that would grant what is missing to `subject`.
    pub commands: Vec<String>,
}

/// The `pveum` commands granting `missing` to `subject` (a user or a token id) through a
/// role of its own. A privilege-separated token also needs its user to hold the rights.
pub fn grant_commands(subject: &str, missing: &[Missing]) -> Vec<String> {
    if missing.is_empty() {
        return Vec::new();
    }
    let privs: BTreeSet<&str> = missing.iter().map(|m| m.privilege).collect();
    let paths: BTreeSet<&str> = missing.iter().map(|m| m.path).collect();
    let list: Vec<&str> = privs.into_iter().collect();
    let mut commands = vec![format!(
        "pveum role add PMPPortal --privs \"{}\"   # or: pveum role modify PMPPortal --append 1 --privs \"...\"",
        list.join(",")
    )];
    let (flag, user) = match subject.split_once('!') {
        Some((user, _)) => ("--tokens", Some(user)),
        None => ("--users", None),
    };
    for path in paths {
        commands.push(format!(
            "pveum acl modify {path} {flag} '{subject}' --roles PMPPortal"
        ));
        if let Some(user) = user {
            commands.push(format!(
                "pveum acl modify {path} --users '{user}' --roles PMPPortal"
            ));
        }
    }
    commands
}

impl Client {
    /// Checks that the credentials hold what `features` need. `subject` is the user or token
    /// id the client authenticates as, used in the commands.
    pub async fn permission_self_test(
        &self,
        subject: &str,
        features: &[Feature],
    ) -> Result<SelfTest, Error> {
        let paths: BTreeSet<&'static str> = features
            .iter()
            .flat_map(|f| f.needs().iter().map(|(path, _)| *path))
            .collect();
        let mut held: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for path in paths {
            let answer: BTreeMap<String, BTreeMap<String, serde_json::Value>> = self
                .get("/access/permissions", &[("path", path.to_owned())])
                .await?;
            let privs = answer
                .get(path)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            held.insert(path, privs);
        }
        let mut missing: Vec<Missing> = features
            .iter()
            .flat_map(|&feature| {
                feature
                    .needs()
                    .iter()
                    .map(move |&(path, privilege)| Missing {
                        feature,
                        path,
                        privilege,
                    })
            })
            .filter(|m| !held.get(m.path).is_some_and(|p| p.contains(m.privilege)))
            .collect();
        missing.sort();
        missing.dedup();
        let commands = grant_commands(subject, &missing);
        Ok(SelfTest { missing, commands })
    }
}
