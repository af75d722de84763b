//! The operations a guest job carries out on Proxmox VE, what each one is called in PVE's
//! task list (so a job that died after starting one can find it instead of starting it
//! again), and how PVE's answers map to a job's outcome.

use serde::{Deserialize, Serialize};

use pve::{BackupMode, GuestKind, PowerAction, Upid};

use crate::jobs::queue::Outcome;

/// One operation on one guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Power {
        action: String,
    },
    Snapshot {
        name: String,
        description: String,
        vmstate: bool,
        /// Older snapshots of the same series to prune once this one is taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retention: Option<Retention>,
    },
    DeleteSnapshot {
        name: String,
    },
    Rollback {
        name: String,
    },
    Migrate {
        target: String,
    },
    Backup {
        storage: String,
        mode: String,
        #[serde(default = "zstd")]
        compress: String,
    },
    Clone {
        newid: u32,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        target: Option<String>,
        full: bool,
    },
}

/// Which snapshots of a series (names starting with `{prefix}-`) to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub prefix: String,
    /// Keep this many of the newest.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Delete those older than this many days.
    #[serde(default)]
    pub max_age_days: Option<u32>,
}

impl Retention {
    /// The snapshots of the series that go, given the list and the time now (Unix s); the
    /// newest one, just taken, always stays.
    pub fn doomed(&self, snapshots: &[pve::SnapshotEntry], now: u64) -> Vec<String> {
        let series = format!("{}-", self.prefix);
        let mut mine: Vec<&pve::SnapshotEntry> = snapshots
            .iter()
            .filter(|s| s.name.starts_with(&series))
            .collect();
        mine.sort_by_key(|s| std::cmp::Reverse(s.snaptime.unwrap_or(0)));
        mine.iter()
            .enumerate()
            .skip(1)
            .filter(|(i, s)| {
                let beyond = self
                    .keep_last
                    .is_some_and(|k| *i >= usize::try_from(k).unwrap_or(usize::MAX));
                let old = self
                    .max_age_days
                    .is_some_and(|d| s.snaptime.unwrap_or(now) + u64::from(d) * 86_400 < now);
                beyond || old
            })
            .map(|(_, s)| s.name.clone())
            .collect()
    }
}

impl Op {
    /// A short description for logs and job lists.
    pub fn describe(&self) -> String {
        match self {
            Self::Power { action } => action.clone(),
            Self::Snapshot { name, .. } => format!("snapshot {name}"),
            Self::DeleteSnapshot { name } => format!("delete snapshot {name}"),
            Self::Rollback { name } => format!("roll back to {name}"),
            Self::Migrate { target } => format!("migrate to {target}"),
            Self::Backup { storage, .. } => format!("back up to {storage}"),
            Self::Clone { newid, .. } => format!("clone to {newid}"),
        }
    }

    /// PVE's worker type for this operation on a guest of `kind`.
    pub fn worker_type(&self, kind: GuestKind) -> String {
        let prefix = match kind {
            GuestKind::Qemu => "qm",
            GuestKind::Lxc => "vz",
        };
        match self {
            Self::Power { action } => format!("{prefix}{action}"),
            Self::Snapshot { .. } => format!("{prefix}snapshot"),
            Self::DeleteSnapshot { .. } => format!("{prefix}delsnapshot"),
            Self::Rollback { .. } => format!("{prefix}rollback"),
            Self::Migrate { .. } => match kind {
                GuestKind::Qemu => "qmigrate".to_owned(),
                GuestKind::Lxc => "vzmigrate".to_owned(),
            },
            Self::Backup { .. } => "vzdump".to_owned(),
            Self::Clone { .. } => format!("{prefix}clone"),
        }
    }

    /// Starts the operation; returns PVE's task.
    pub async fn start(&self, client: &pve::Client, vmid: u32) -> Result<Upid, pve::Error> {
        match self {
            Self::Power { action } => {
                let action = PowerAction::parse(action).ok_or_else(|| {
                    pve::Error::Invalid(format!("{action:?} is not a power action"))
                })?;
                client.power(vmid, action).await
            }
            Self::Snapshot {
                name,
                description,
                vmstate,
                ..
            } => {
                client
                    .snapshot_create(vmid, name, description, *vmstate)
                    .await
            }
            Self::DeleteSnapshot { name } => client.snapshot_delete(vmid, name).await,
            Self::Rollback { name } => client.snapshot_rollback(vmid, name).await,
            Self::Migrate { target } => client.migrate(vmid, target).await,
            Self::Backup {
                storage,
                mode,
                compress,
            } => {
                let mode = match mode.as_str() {
                    "suspend" => BackupMode::Suspend,
                    "stop" => BackupMode::Stop,
                    _ => BackupMode::Snapshot,
                };
                client
                    .backup(vmid, storage, mode, compress, "{{guestname}}")
                    .await
            }
            Self::Clone {
                newid,
                name,
                target,
                full,
            } => {
                let request = pve::CloneRequest {
                    newid: *newid,
                    name: name.clone(),
                    target: target.clone(),
                    full: *full,
                    pool: None,
                };
                client.clone_guest(vmid, &request).await
            }
        }
    }
}

fn zstd() -> String {
    "zstd".to_owned()
}

/// A PVE failure as a job outcome: worth another attempt when PVE may simply not have been
/// reachable or ready, final when PVE said no.
pub fn outcome_of(error: &pve::Error) -> Outcome {
    let retryable = matches!(
        error,
        pve::Error::Unreachable { .. }
            | pve::Error::Interrupted { .. }
            | pve::Error::Timeout(_)
            | pve::Error::Api {
                status: 502..=504,
                ..
            }
    );
    Outcome::Error {
        message: error.to_string(),
        retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_types_match_pve() {
        let start = Op::Power {
            action: "start".into(),
        };
        assert_eq!(start.worker_type(GuestKind::Qemu), "qmstart");
        assert_eq!(start.worker_type(GuestKind::Lxc), "vzstart");
        let migrate = Op::Migrate {
            target: "pve2".into(),
        };
        assert_eq!(migrate.worker_type(GuestKind::Qemu), "qmigrate");
        let backup = Op::Backup {
            storage: "local".into(),
            mode: "snapshot".into(),
            compress: "zstd".into(),
        };
        assert_eq!(backup.worker_type(GuestKind::Lxc), "vzdump");
        let payload =
            serde_json::to_value(Op::DeleteSnapshot { name: "a".into() }).unwrap_or_default();
        assert_eq!(payload["op"], "delete_snapshot");
        assert!(matches!(
            outcome_of(&pve::Error::Timeout(std::time::Duration::from_secs(1))),
            Outcome::Error {
                retryable: true,
                ..
            }
        ));
        assert!(matches!(
            outcome_of(&pve::Error::Api {
                status: 500,
                message: "VM 100 already running".into()
            }),
            Outcome::Error {
                retryable: false,
                ..
            }
        ));
    }
}
