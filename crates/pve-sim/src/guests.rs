//! Guests (QEMU VMs and LXC containers) and how PVE reports them: the shared fields of
//! `/cluster/resources`, the per-node lists and `status/current`.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// QEMU virtual machine or LXC container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestKind {
    /// A QEMU/KVM virtual machine.
    Qemu,
    /// An LXC container.
    Lxc,
}

impl GuestKind {
    /// How PVE's messages name a guest of this kind (`VM 100`, `CT 100`).
    pub fn noun(self) -> &'static str {
        match self {
            Self::Qemu => "VM",
            Self::Lxc => "CT",
        }
    }

    /// PVE's worker type for `action` on this kind (`qmstart`, `vzsnapshot`, ...).
    pub fn worker(self, action: &str) -> String {
        let prefix = match self {
            Self::Qemu => "qm",
            Self::Lxc => "vz",
        };
        format!("{prefix}{action}")
    }

    /// PVE's name for the kind, as used in paths and resource ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qemu => "qemu",
            Self::Lxc => "lxc",
        }
    }
}

/// One guest.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Cluster-wide id.
    pub vmid: u32,
    /// VM or container.
    pub kind: GuestKind,
    /// The node it currently runs on.
    pub node: String,
    /// Display name (`hostname` for containers).
    pub name: String,
    /// Whether it is running.
    pub running: bool,
    /// Whether a running guest is suspended (QEMU `paused`, LXC frozen).
    pub paused: bool,
    /// vCPUs.
    pub cores: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Root disk in GiB.
    pub disk_gib: u64,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// Resource pool, if any.
    pub pool: Option<String>,
    /// Whether it is a template.
    pub template: bool,
    /// Start at node boot.
    pub onboot: bool,
    /// Notes.
    pub description: String,
    /// Makes uptime and counters differ between guests.
    pub boot_offset: u64,
    /// Snapshots, oldest first; each one's parent is the one before it.
    pub snapshots: Vec<Snapshot>,
}

/// A snapshot of a guest.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Its name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Unix time it was taken.
    pub snaptime: u64,
    /// Whether RAM state was saved (QEMU only).
    pub vmstate: bool,
}

const MIB: u64 = 1024 * 1024;

/// A number in [0, 1) that drifts with time, different per guest.
fn wave(vmid: u32, elapsed: f64, period: f64) -> f64 {
    0.5 + 0.5 * (elapsed / period + f64::from(vmid) * 0.7).sin()
}

impl Guest {
    fn maxmem(&self) -> u64 {
        self.memory_mib * MIB
    }

    fn maxdisk(&self) -> u64 {
        self.disk_gib * 1024 * MIB
    }

    /// The live figures PVE reports, all zero while stopped.
    fn figures(&self, elapsed: f64) -> Map<String, Value> {
        let up = if self.running {
            self.boot_offset + elapsed as u64
        } else {
            0
        };
        let on = u64::from(self.running);
        let cpu = if self.running {
            0.02 + 0.5 * wave(self.vmid, elapsed, 20.0)
        } else {
            0.0
        };
        let mem = on * (self.maxmem() as f64 * (0.3 + 0.4 * wave(self.vmid, elapsed, 60.0))) as u64;
        let traffic = up.saturating_mul(1000 + u64::from(self.vmid % 97) * 40);
        let mut figures = Map::new();
        figures.insert("cpu".into(), json!(cpu));
        figures.insert("mem".into(), json!(mem));
        figures.insert("maxmem".into(), json!(self.maxmem()));
        figures.insert("maxdisk".into(), json!(self.maxdisk()));
        figures.insert("uptime".into(), json!(up));
        figures.insert("netin".into(), json!(traffic));
        figures.insert("netout".into(), json!(traffic / 3));
        figures.insert("diskread".into(), json!(traffic / 2));
        figures.insert("diskwrite".into(), json!(traffic / 5));
        figures
    }

    fn status(&self) -> &'static str {
        if self.running { "running" } else { "stopped" }
    }

    /// PVE's `;`-joined tag list.
    fn tag_list(&self) -> String {
        self.tags.join(";")
    }

    /// The entry in `/cluster/resources`.
    pub fn resource(&self, elapsed: f64) -> Value {
        let mut entry = self.figures(elapsed);
        let kind = self.kind.as_str();
        entry.insert("id".into(), json!(format!("{kind}/{}", self.vmid)));
        entry.insert("type".into(), json!(kind));
        entry.insert("vmid".into(), json!(self.vmid));
        entry.insert("name".into(), json!(self.name));
        entry.insert("node".into(), json!(self.node));
        entry.insert("status".into(), json!(self.status()));
        entry.insert("maxcpu".into(), json!(self.cores));
        entry.insert("template".into(), json!(u8::from(self.template)));
        entry.insert("disk".into(), json!(self.maxdisk() / 5));
        entry.insert("hastate".into(), json!("ignored"));
        if !self.tags.is_empty() {
            entry.insert("tags".into(), json!(self.tag_list()));
        }
        if let Some(pool) = &self.pool {
            entry.insert("pool".into(), json!(pool));
        }
        Value::Object(entry)
    }

    /// The entry in `/nodes/{node}/qemu` or `/lxc`, which is also the body of
    /// `status/current` minus the HA block.
    pub fn listing(&self, elapsed: f64) -> Map<String, Value> {
        let mut entry = self.figures(elapsed);
        entry.insert("vmid".into(), json!(self.vmid));
        entry.insert("name".into(), json!(self.name));
        entry.insert("status".into(), json!(self.status()));
        entry.insert("cpus".into(), json!(self.cores));
        if self.template {
            entry.insert("template".into(), json!(1));
        }
        if !self.tags.is_empty() {
            entry.insert("tags".into(), json!(self.tag_list()));
        }
        match self.kind {
            GuestKind::Qemu => {
                let qmp = if self.paused { "paused" } else { self.status() };
                entry.insert("qmpstatus".into(), json!(qmp));
                if self.running {
                    entry.insert("pid".into(), json!(10_000 + self.vmid));
                }
            }
            GuestKind::Lxc => {
                entry.insert("disk".into(), json!(self.maxdisk() / 5));
                entry.insert("maxswap".into(), json!(512 * MIB));
            }
        }
        entry
    }

    /// A MAC address derived from the VMID, in the Proxmox OUI.
    fn mac(&self) -> String {
        let id = self.vmid.to_be_bytes();
        format!("BC:24:11:{:02X}:{:02X}:{:02X}", id[1], id[2], id[3])
    }

    /// The body of `GET .../config`, with the `digest` clients pass back to detect races.
    pub fn config(&self) -> Value {
        let disk = format!("local-lvm:vm-{}-disk-0,size={}G", self.vmid, self.disk_gib);
        let mut config = Map::new();
        match self.kind {
            GuestKind::Qemu => {
                config.insert("name".into(), json!(self.name));
                config.insert("sockets".into(), json!(1));
                config.insert("memory".into(), json!(self.memory_mib.to_string()));
                config.insert("ostype".into(), json!("l26"));
                config.insert("cpu".into(), json!("x86-64-v2-AES"));
                config.insert("agent".into(), json!("1"));
                config.insert("boot".into(), json!("order=scsi0;net0"));
                config.insert("scsihw".into(), json!("virtio-scsi-single"));
                config.insert("scsi0".into(), json!(disk));
                config.insert(
                    "net0".into(),
                    json!(format!("virtio={},bridge=vmbr0", self.mac())),
                );
            }
            GuestKind::Lxc => {
                config.insert("hostname".into(), json!(self.name));
                config.insert("memory".into(), json!(self.memory_mib));
                config.insert("swap".into(), json!(512));
                config.insert("ostype".into(), json!("debian"));
                config.insert("arch".into(), json!("amd64"));
                config.insert("rootfs".into(), json!(disk));
                let net = format!(
                    "name=eth0,bridge=vmbr0,hwaddr={},ip=dhcp,type=veth",
                    self.mac()
                );
                config.insert("net0".into(), json!(net));
            }
        }
        config.insert("cores".into(), json!(self.cores));
        config.insert("onboot".into(), json!(u8::from(self.onboot)));
        if self.template {
            config.insert("template".into(), json!(1));
        }
        if !self.tags.is_empty() {
            config.insert("tags".into(), json!(self.tag_list()));
        }
        if !self.description.is_empty() {
            config.insert("description".into(), json!(self.description));
        }
        // The schema declares `parent` (the current snapshot) for QEMU configs only.
        if let (GuestKind::Qemu, Some(last)) = (self.kind, self.snapshots.last()) {
            config.insert("parent".into(), json!(last.name));
        }
        // PVE's digest is a SHA-1 of the config file; clients only compare it, so any stable
        // 40-hex-digit hash of the same content serves.
        let text = Value::Object(config.clone()).to_string();
        let digest = hex::encode(&Sha256::digest(text.as_bytes())[..20]);
        config.insert("digest".into(), json!(digest));
        Value::Object(config)
    }

    /// The body of `GET .../snapshot`: every snapshot, then `current` ("You are here!").
    pub fn snapshot_list(&self) -> Value {
        let mut entries: Vec<Value> = Vec::new();
        let mut parent: Option<&str> = None;
        for snap in &self.snapshots {
            let mut entry = json!({
                "name": snap.name,
                "description": snap.description,
                "snaptime": snap.snaptime,
            });
            if self.kind == GuestKind::Qemu {
                entry["vmstate"] = json!(u8::from(snap.vmstate));
            }
            if let Some(p) = parent {
                entry["parent"] = json!(p);
            }
            entries.push(entry);
            parent = Some(&snap.name);
        }
        let mut current = json!({ "name": "current", "description": "You are here!" });
        if let Some(p) = parent {
            current["parent"] = json!(p);
        }
        entries.push(current);
        Value::Array(entries)
    }

    /// The body of `status/current`.
    pub fn current(&self, elapsed: f64) -> Value {
        let mut entry = self.listing(elapsed);
        entry.insert("ha".into(), json!({ "managed": 0 }));
        if self.kind == GuestKind::Qemu {
            entry.insert("agent".into(), json!(1));
        }
        Value::Object(entry)
    }
}
