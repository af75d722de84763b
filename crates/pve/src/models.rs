//! Typed models of the PVE answers the portal reads. Fields follow the schema's names; odd
//! types are read leniently (see `de`), unknown fields are ignored, and a guest's config keeps
//! every key it does not model, so nothing is dropped on a read-modify-write.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::de;

/// `GET /version`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Version {
    /// Point release, `x.y`.
    pub release: String,
    /// Full pve-manager version.
    pub version: String,
    /// Git revision.
    pub repoid: String,
}

/// One entry of `GET /cluster/status`: the cluster itself or a node.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ClusterStatusEntry {
    /// `cluster` or `node`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `cluster` or `node/{name}`.
    pub id: String,
    /// Cluster or node name.
    pub name: String,
    /// A node's address.
    #[serde(default)]
    pub ip: Option<String>,
    /// Whether a node is online.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub online: bool,
    /// Whether this is the node that answered.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub local: bool,
    /// Whether the cluster has quorum.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub quorate: bool,
}

/// What kind of resource a `/cluster/resources` entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    Node,
    Qemu,
    Lxc,
    Storage,
    Pool,
    Sdn,
    #[serde(other)]
    Other,
}

/// One entry of `GET /cluster/resources`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Resource {
    /// `qemu/100`, `node/pve1`, `storage/pve1/local`, ...
    pub id: String,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: ResourceKind,
    /// The node it is on (nodes, guests, storages).
    #[serde(default)]
    pub node: Option<String>,
    /// A guest's VMID.
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub vmid: Option<u64>,
    /// A guest's name.
    #[serde(default)]
    pub name: Option<String>,
    /// `running`, `stopped`, `online`, `available`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// The pool it belongs to.
    #[serde(default)]
    pub pool: Option<String>,
    /// Tags, split.
    #[serde(default, deserialize_with = "de::tags")]
    pub tags: Vec<String>,
    /// Whether a guest is a template.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub template: bool,
    /// CPU use, 0 to `maxcpu`.
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub cpu: f64,
    /// CPUs.
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub maxcpu: f64,
    /// Memory used, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub mem: u64,
    /// Memory size, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub maxmem: u64,
    /// Disk used, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub disk: u64,
    /// Disk size, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub maxdisk: u64,
    /// Seconds since start.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub uptime: u64,
    /// A storage's name.
    #[serde(default)]
    pub storage: Option<String>,
}

/// `GET /nodes/{node}/{qemu|lxc}/{vmid}/status/current`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct GuestStatus {
    /// VMID.
    #[serde(deserialize_with = "de::vmid")]
    pub vmid: u32,
    /// `running` or `stopped`.
    pub status: String,
    /// QEMU's finer state (`running`, `paused`, `prelaunch`, ...).
    #[serde(default)]
    pub qmpstatus: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds since start.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub uptime: u64,
    /// CPU use.
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub cpu: f64,
    /// CPUs.
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub cpus: f64,
    /// Memory used, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub mem: u64,
    /// Memory size, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub maxmem: u64,
    /// Tags, split.
    #[serde(default, deserialize_with = "de::tags")]
    pub tags: Vec<String>,
}

/// A guest's configuration: the keys the portal edits, typed, and every other key kept as
/// PVE sent it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct GuestConfig {
    /// VM name (QEMU).
    #[serde(default)]
    pub name: Option<String>,
    /// Host name (LXC).
    #[serde(default)]
    pub hostname: Option<String>,
    /// Notes, free text (shown escaped, never as HTML).
    #[serde(default)]
    pub description: Option<String>,
    /// Tags, split.
    #[serde(default, deserialize_with = "de::tags")]
    pub tags: Vec<String>,
    /// Cores.
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub cores: Option<u64>,
    /// Memory, MiB.
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub memory: Option<u64>,
    /// Start at boot.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub onboot: bool,
    /// The config digest, for optimistic locking of edits.
    #[serde(default)]
    pub digest: Option<String>,
    /// Every key not modelled above (`net0`, `scsi0`, `boot`, ...).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// One entry of a guest's snapshot list (the last is `current`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SnapshotEntry {
    /// Snapshot name, or `current`.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Parent snapshot.
    #[serde(default)]
    pub parent: Option<String>,
    /// Unix time taken.
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub snaptime: Option<u64>,
    /// Whether RAM state was saved.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub vmstate: bool,
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TaskStatus {
    /// `running` or `stopped`.
    pub status: String,
    /// Once stopped: `OK`, `WARNINGS: n`, or the error.
    #[serde(default)]
    pub exitstatus: Option<String>,
}

/// One line of a task log.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct LogLine {
    /// Line number, from 1.
    #[serde(deserialize_with = "de::u64_lenient")]
    pub n: u64,
    /// Text.
    pub t: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn odd_pve_types_and_unknown_fields_are_read() {
        let resource: Resource = serde_json::from_value(json!({
            "id": "qemu/100", "type": "qemu", "vmid": "100", "node": "pve1",
            "cpu": "0.25", "maxmem": 2147483648u64, "template": "1",
            "tags": "prod;customer-a", "hastate": "started", "brand_new_field": [1, 2]
        }))
        .unwrap();
        assert_eq!(resource.vmid, Some(100));
        assert!((resource.cpu - 0.25).abs() < f64::EPSILON && resource.template);
        assert_eq!(resource.tags, ["prod", "customer-a"]);
        let sdn: Resource =
            serde_json::from_value(json!({ "id": "x", "type": "network" })).unwrap();
        assert_eq!(sdn.kind, ResourceKind::Other);

        let config: GuestConfig = serde_json::from_value(json!({
            "name": "web", "cores": "4", "memory": 2048, "onboot": 1,
            "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0", "args": "-cpu host"
        }))
        .unwrap();
        assert_eq!(
            (config.cores, config.memory, config.onboot),
            (Some(4), Some(2048), true)
        );
        assert_eq!(
            config.other.len(),
            2,
            "unknown keys are kept: {:?}",
            config.other
        );

        let status: GuestStatus =
            serde_json::from_value(json!({ "vmid": "101", "status": "running", "uptime": "42" }))
                .unwrap();
        assert_eq!((status.vmid, status.uptime), (101, 42));
        assert!(
            serde_json::from_value::<GuestStatus>(json!({ "vmid": "x", "status": "s" })).is_err()
        );
    }
}
