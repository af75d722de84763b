//! Guests (QEMU VMs and LXC containers): found through `/cluster/resources` on every call
//! rather than by a stored node, so a guest that migrated keeps working; status and config
//! reads, power actions, snapshots and migration. Names and ids are checked before they are
//! put into a URL.

use reqwest::Method;
use serde_json::Value;

use crate::Client;
use crate::error::Error;
use crate::models::{GuestConfig, GuestStatus, Resource, ResourceKind, SnapshotEntry};
use crate::tasks::Upid;

/// QEMU or LXC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestKind {
    Qemu,
    Lxc,
}

impl GuestKind {
    /// The path segment, `qemu` or `lxc`.
    pub fn segment(self) -> &'static str {
        match self {
            Self::Qemu => "qemu",
            Self::Lxc => "lxc",
        }
    }
}

/// Where a guest is right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLocation {
    /// VMID.
    pub vmid: u32,
    /// The node that owns it.
    pub node: String,
    /// QEMU or LXC.
    pub kind: GuestKind,
}

impl GuestLocation {
    fn path(&self, rest: &str) -> String {
        format!(
            "/nodes/{}/{}/{}{rest}",
            self.node,
            self.kind.segment(),
            self.vmid
        )
    }
}

/// A power action. Containers have no `reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Start,
    Shutdown,
    Stop,
    Reboot,
    Reset,
    Suspend,
    Resume,
}

impl PowerAction {
    /// Every action, in PVE's order.
    pub const ALL: [Self; 7] = [
        Self::Start,
        Self::Shutdown,
        Self::Stop,
        Self::Reboot,
        Self::Reset,
        Self::Suspend,
        Self::Resume,
    ];

    /// The action called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// PVE's name for it, also the last path segment.
    pub fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Shutdown => "shutdown",
            Self::Stop => "stop",
            Self::Reboot => "reboot",
            Self::Reset => "reset",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
        }
    }
}

/// A node name as PVE allows it (a host name label).
pub fn valid_node(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
}

/// A snapshot name as PVE allows it (`pve-configid`): a letter, then letters, digits, `-`
/// and `_`, at most 40 characters; `current` is reserved.
pub fn valid_snapshot_name(name: &str) -> bool {
    name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name != "current"
}

fn check_vmid(vmid: u32) -> Result<(), Error> {
    if (100..=999_999_999).contains(&vmid) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{vmid} is not a VMID (100 to 999999999)"
        )))
    }
}

pub(crate) fn upid(value: Value) -> Result<Upid, Error> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Decode("the answer is not a task id (UPID)".to_owned()))
}

impl Client {
    /// `GET /cluster/resources`, optionally of one `type` (`vm`, `node`, `storage`).
    pub async fn resources(&self, kind: Option<&str>) -> Result<Vec<Resource>, Error> {
        let params: Vec<(&str, String)> =
            kind.map(|k| ("type", k.to_owned())).into_iter().collect();
        self.get("/cluster/resources", &params).await
    }

    /// Where the guest `vmid` is now.
    pub async fn locate(&self, vmid: u32) -> Result<GuestLocation, Error> {
        check_vmid(vmid)?;
        let found = self
            .resources(Some("vm"))
            .await?
            .into_iter()
            .find(|r| r.vmid == Some(u64::from(vmid)))
            .ok_or(Error::GuestNotFound(vmid))?;
        let kind = match found.kind {
            ResourceKind::Qemu => GuestKind::Qemu,
            ResourceKind::Lxc => GuestKind::Lxc,
            _ => return Err(Error::GuestNotFound(vmid)),
        };
        let node = found
            .node
            .filter(|n| valid_node(n))
            .ok_or_else(|| Error::Decode(format!("guest {vmid} is listed without a valid node")))?;
        Ok(GuestLocation { vmid, node, kind })
    }

    /// Calls `method` on the guest's `rest` path at the node that owns it. When the guest
    /// moved between the lookup and the call, PVE says its config file does not exist on
    /// that node: look it up again and retry once.
    async fn on_guest(
        &self,
        vmid: u32,
        method: Method,
        rest: &str,
        params: &[(&str, String)],
    ) -> Result<Value, Error> {
        let location = self.locate(vmid).await?;
        match self
            .call(method.clone(), &location.path(rest), params)
            .await
        {
            Err(Error::Api {
                status: 500,
                message,
            }) if message.contains("does not exist") => {
                let again = self.locate(vmid).await?;
                if again == location {
                    return Err(Error::Api {
                        status: 500,
                        message,
                    });
                }
                self.call(method, &again.path(rest), params).await
            }
            result => result,
        }
    }

    /// The guest's current status.
    pub async fn guest_status(&self, vmid: u32) -> Result<GuestStatus, Error> {
        let value = self
            .on_guest(vmid, Method::GET, "/status/current", &[])
            .await?;
        serde_json::from_value(value).map_err(|e| Error::Decode(format!("guest status: {e}")))
    }

    /// The guest's configuration, unknown keys kept.
    pub async fn guest_config(&self, vmid: u32) -> Result<GuestConfig, Error> {
        let value = self.on_guest(vmid, Method::GET, "/config", &[]).await?;
        serde_json::from_value(value).map_err(|e| Error::Decode(format!("guest config: {e}")))
    }

    /// The guest's network addresses (loopback and link-local left out): from the QEMU guest
    /// agent, or a container's interfaces. PVE refuses for a stopped guest or a VM without
    /// a running agent; that error is returned as is.
    pub async fn guest_addresses(&self, vmid: u32) -> Result<Vec<std::net::IpAddr>, Error> {
        let location = self.locate(vmid).await?;
        let rest = match location.kind {
            GuestKind::Qemu => "/agent/network-get-interfaces",
            GuestKind::Lxc => "/interfaces",
        };
        let value = self.on_guest(vmid, Method::GET, rest, &[]).await?;
        let interfaces = value
            .get("result")
            .unwrap_or(&value)
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut found: Vec<std::net::IpAddr> = interfaces
            .iter()
            .flat_map(|i| i["ip-addresses"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["ip-address"].as_str().and_then(|ip| ip.parse().ok()))
            .filter(|ip: &std::net::IpAddr| match ip {
                std::net::IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
                std::net::IpAddr::V6(v6) => !v6.is_loopback() && !v6.is_unicast_link_local(),
            })
            .collect();
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// Starts a power action; returns its task.
    pub async fn power(&self, vmid: u32, action: PowerAction) -> Result<Upid, Error> {
        let location = self.locate(vmid).await?;
        if location.kind == GuestKind::Lxc && action == PowerAction::Reset {
            return Err(Error::Invalid(
                "containers cannot be reset; stop and start them".to_owned(),
            ));
        }
        let rest = format!("/status/{}", action.name());
        upid(self.on_guest(vmid, Method::POST, &rest, &[]).await?)
    }

    /// The guest's snapshots, `current` last.
    pub async fn snapshots(&self, vmid: u32) -> Result<Vec<SnapshotEntry>, Error> {
        let value = self.on_guest(vmid, Method::GET, "/snapshot", &[]).await?;
        serde_json::from_value(value).map_err(|e| Error::Decode(format!("snapshot list: {e}")))
    }

    /// Takes a snapshot, with RAM state if `vmstate` (VMs only).
    pub async fn snapshot_create(
        &self,
        vmid: u32,
        name: &str,
        description: &str,
        vmstate: bool,
    ) -> Result<Upid, Error> {
        if !valid_snapshot_name(name) {
            return Err(Error::Invalid(format!(
                "{name:?} is not a valid snapshot name"
            )));
        }
        let mut params = vec![
            ("snapname", name.to_owned()),
            ("description", description.to_owned()),
        ];
        if vmstate {
            params.push(("vmstate", "1".to_owned()));
        }
        upid(
            self.on_guest(vmid, Method::POST, "/snapshot", &params)
                .await?,
        )
    }

    /// Deletes a snapshot.
    pub async fn snapshot_delete(&self, vmid: u32, name: &str) -> Result<Upid, Error> {
        if !valid_snapshot_name(name) {
            return Err(Error::Invalid(format!(
                "{name:?} is not a valid snapshot name"
            )));
        }
        upid(
            self.on_guest(vmid, Method::DELETE, &format!("/snapshot/{name}"), &[])
                .await?,
        )
    }

    /// Rolls the guest back to a snapshot.
    pub async fn snapshot_rollback(&self, vmid: u32, name: &str) -> Result<Upid, Error> {
        if !valid_snapshot_name(name) {
            return Err(Error::Invalid(format!(
                "{name:?} is not a valid snapshot name"
            )));
        }
        let rest = format!("/snapshot/{name}/rollback");
        upid(self.on_guest(vmid, Method::POST, &rest, &[]).await?)
    }

    /// Migrates the guest to `target`; a running VM moves online, a running container
    /// restarts on the target.
    pub async fn migrate(&self, vmid: u32, target: &str) -> Result<Upid, Error> {
        if !valid_node(target) {
            return Err(Error::Invalid(format!("{target:?} is not a node name")));
        }
        let location = self.locate(vmid).await?;
        let running = self.guest_status(vmid).await?.status == "running";
        let mut params = vec![("target", target.to_owned())];
        if running {
            let flag = match location.kind {
                GuestKind::Qemu => "online",
                GuestKind::Lxc => "restart",
            };
            params.push((flag, "1".to_owned()));
        }
        upid(
            self.on_guest(vmid, Method::POST, "/migrate", &params)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_they_reach_a_url() {
        assert!(
            valid_node("pve-1") && !valid_node("../etc") && !valid_node("") && !valid_node("-x")
        );
        assert!(valid_snapshot_name("before-upgrade_1"));
        for bad in ["1st", "a/b", "current", "x y", "<script>", &"a".repeat(41)] {
            assert!(!valid_snapshot_name(bad), "{bad}");
        }
        assert!(check_vmid(99).is_err() && check_vmid(100).is_ok());
    }
}
