//! Storages as a fresh PVE node has them: `local` (a directory for ISO images, container
//! templates and backups) and `local-lvm` (thin LVM for guest disks), each node its own; the
//! ISO and template files every node carries; and the backups vzdump writes, kept per node.

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::guests::{Guest, GuestKind};

/// A storage on every node.
#[derive(Debug, Clone, Copy)]
pub struct StorageDef {
    /// Storage id.
    pub id: &'static str,
    /// Storage type.
    pub kind: &'static str,
    /// Content types, comma-separated as PVE lists them.
    pub content: &'static str,
    /// Capacity in bytes.
    pub total: u64,
}

const GIB: u64 = 1024 * 1024 * 1024;

/// The storages of each node.
pub const STORAGES: [StorageDef; 2] = [
    StorageDef {
        id: "local",
        kind: "dir",
        content: "backup,iso,vztmpl",
        total: 100 * GIB,
    },
    StorageDef {
        id: "local-lvm",
        kind: "lvmthin",
        content: "images,rootdir",
        total: 800 * GIB,
    },
];

/// ISO images and container templates on every node's `local`: (volid, content, size).
const FILES: [(&str, &str, u64); 3] = [
    (
        "local:iso/debian-13.1.0-amd64-netinst.iso",
        "iso",
        754_974_720,
    ),
    (
        "local:iso/ubuntu-24.04.3-live-server-amd64.iso",
        "iso",
        3_213_064_192,
    ),
    (
        "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst",
        "vztmpl",
        129_542_144,
    ),
];

/// One backup file.
#[derive(Debug, Clone)]
pub struct Backup {
    /// Node whose `local` holds it.
    pub node: String,
    /// `local:backup/vzdump-qemu-100-2026_11_23-10_00_00.vma.zst`.
    pub volid: String,
    /// The guest it is of.
    pub vmid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Unix time written.
    pub ctime: u64,
    /// Notes.
    pub notes: String,
}

/// Every backup written so far.
#[derive(Debug, Default)]
pub struct Backups(Mutex<Vec<Backup>>);

impl Backups {
    /// Records a backup.
    pub fn add(&self, backup: Backup) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(backup);
    }

    /// Makes every backup `secs` older, as if time had passed since it was written.
    pub fn age(&self, secs: u64) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for backup in all.iter_mut() {
            backup.ctime = backup.ctime.saturating_sub(secs);
        }
    }

    /// Backups on `node`.
    pub fn on(&self, node: &str) -> Vec<Backup> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().filter(|b| b.node == node).cloned().collect()
    }
}

/// `YYYY_MM_DD-HH_MM_SS` of a Unix time (UTC), as vzdump names files.
pub fn stamp(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}_{month:02}_{day:02}-{:02}_{:02}_{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The content entries of `storage` on `node`: files, backups and guest disks.
pub fn content(storage: &str, node: &str, guests: &[Guest], backups: &[Backup]) -> Vec<Value> {
    match storage {
        "local" => {
            let files = FILES.iter().map(|(volid, content, size)| {
                json!({ "volid": volid, "content": content, "format": if *content == "iso" { "iso" } else { "tzst" }, "size": size, "ctime": 1_760_000_000 })
            });
            let dumps = backups.iter().map(|b| {
                json!({ "volid": b.volid, "content": "backup", "format": b.volid.rsplit_once("backup/").map_or("vma.zst", |(_, f)| f.split_once('.').map_or("vma", |(_, ext)| ext)), "size": b.size, "ctime": b.ctime, "vmid": b.vmid, "notes": b.notes })
            });
            files.chain(dumps).collect()
        }
        "local-lvm" => guests
            .iter()
            .filter(|g| g.node == node)
            .map(|g| {
                let content = match g.kind {
                    GuestKind::Qemu => "images",
                    GuestKind::Lxc => "rootdir",
                };
                json!({ "volid": format!("local-lvm:vm-{}-disk-0", g.vmid), "content": content, "format": "raw", "size": g.disk_gib * GIB, "vmid": g.vmid, "ctime": 1_760_000_000 })
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_dates() {
        assert_eq!(stamp(0), "1970_01_01-00_00_00");
        assert_eq!(stamp(1_795_435_200), "2026_11_23-12_00_00");
        assert_eq!(stamp(951_782_400), "2000_02_29-00_00_00");
    }
}
