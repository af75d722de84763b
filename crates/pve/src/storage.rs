//! Storages, their content (ISO images, templates, backups, disks), pools, and backups now
//! (`vzdump` on the node that owns the guest).

use reqwest::Method;
use serde::Deserialize;

use crate::Client;
use crate::de;
use crate::error::Error;
use crate::guests::valid_node;
use crate::tasks::Upid;

fn enabled_when_unsaid() -> bool {
    true
}

/// One storage of a node (`GET /nodes/{node}/storage`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct StorageStatus {
    /// Storage id.
    pub storage: String,
    /// Type (`dir`, `lvmthin`, `nfs`, `pbs`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Content types, comma-separated.
    pub content: String,
    /// Whether it is active.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub active: bool,
    /// Whether it is enabled (PVE lists disabled storages too, with `enabled: 0`).
    #[serde(default = "enabled_when_unsaid", deserialize_with = "de::bool_lenient")]
    pub enabled: bool,
    /// Whether it is shared between nodes.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub shared: bool,
    /// Capacity, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub total: u64,
    /// Used, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub used: u64,
    /// Available, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub avail: u64,
}

/// What a storage volume holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Iso,
    Template,
    Backup,
    Disk,
    Other,
}

/// One volume of a storage (`GET .../storage/{storage}/content`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct StorageContent {
    /// `local:backup/vzdump-qemu-100-....vma.zst`.
    pub volid: String,
    /// File format.
    #[serde(default)]
    pub format: Option<String>,
    /// Size, bytes.
    #[serde(default, deserialize_with = "de::u64_lenient")]
    pub size: u64,
    /// Unix time created.
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub ctime: Option<u64>,
    /// Owning guest.
    #[serde(default, deserialize_with = "de::opt_u64")]
    pub vmid: Option<u64>,
    /// Notes (backups).
    #[serde(default)]
    pub notes: Option<String>,
    /// Protected from pruning.
    #[serde(default, deserialize_with = "de::bool_lenient")]
    pub protected: bool,
}

impl StorageContent {
    /// What the volume holds, from its id (`storage:iso/...`, `storage:backup/...`).
    pub fn kind(&self) -> ContentKind {
        let path = self.volid.split_once(':').map_or("", |(_, p)| p);
        match path.split_once('/').map(|(dir, _)| dir) {
            Some("iso") => ContentKind::Iso,
            Some("vztmpl") => ContentKind::Template,
            Some("backup") => ContentKind::Backup,
            _ if self.vmid.is_some() => ContentKind::Disk,
            _ => ContentKind::Other,
        }
    }
}

/// A resource pool (`GET /pools`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Pool {
    /// Pool id.
    pub poolid: String,
    /// Comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// How vzdump treats a running guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupMode {
    Snapshot,
    Suspend,
    Stop,
}

fn check_storage(id: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("{id:?} is not a storage id")))
    }
}

impl Client {
    /// The storages of `node`.
    pub async fn storages(&self, node: &str) -> Result<Vec<StorageStatus>, Error> {
        if !valid_node(node) {
            return Err(Error::Invalid(format!("{node:?} is not a node name")));
        }
        self.get(&format!("/nodes/{node}/storage"), &[]).await
    }

    /// The content of `storage` on `node`, optionally of one guest only.
    pub async fn storage_content(
        &self,
        node: &str,
        storage: &str,
        vmid: Option<u32>,
    ) -> Result<Vec<StorageContent>, Error> {
        if !valid_node(node) {
            return Err(Error::Invalid(format!("{node:?} is not a node name")));
        }
        check_storage(storage)?;
        let params: Vec<(&str, String)> =
            vmid.map(|v| ("vmid", v.to_string())).into_iter().collect();
        self.get(&format!("/nodes/{node}/storage/{storage}/content"), &params)
            .await
    }

    /// The pools the credentials may see.
    pub async fn pools(&self) -> Result<Vec<Pool>, Error> {
        self.get("/pools", &[]).await
    }

    /// Backs the guest up to `storage` now, compressed as `compress` (`0`, `gzip`, `lzo`,
    /// `zstd`); returns the task.
    pub async fn backup(
        &self,
        vmid: u32,
        storage: &str,
        mode: BackupMode,
        compress: &str,
        notes: &str,
    ) -> Result<Upid, Error> {
        check_storage(storage)?;
        if !matches!(compress, "0" | "gzip" | "lzo" | "zstd") {
            return Err(Error::Invalid(
                "compression is 0, gzip, lzo or zstd".to_owned(),
            ));
        }
        let location = self.locate(vmid).await?;
        let mode = match mode {
            BackupMode::Snapshot => "snapshot",
            BackupMode::Suspend => "suspend",
            BackupMode::Stop => "stop",
        };
        let params = [
            ("vmid", vmid.to_string()),
            ("storage", storage.to_owned()),
            ("mode", mode.to_owned()),
            ("compress", compress.to_owned()),
            ("notes-template", notes.to_owned()),
        ];
        let value = self
            .call(
                Method::POST,
                &format!("/nodes/{}/vzdump", location.node),
                &params,
            )
            .await?;
        crate::guests::upid(value)
    }
}
