//! Changing guests: config edits (the keys the portal edits, with PVE's digest so a
//! concurrent change is refused rather than overwritten) and clones.

use reqwest::Method;

use crate::Client;
use crate::error::Error;
use crate::guests::{GuestKind, valid_node};
use crate::tasks::Upid;

/// A config edit; `None` leaves a key as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigEdit {
    /// VM name or container host name.
    pub name: Option<String>,
    /// Notes; `Some("")` removes them.
    pub description: Option<String>,
    /// Tags; `Some(vec![])` removes them.
    pub tags: Option<Vec<String>>,
    /// Cores.
    pub cores: Option<u32>,
    /// Memory, MiB.
    pub memory_mib: Option<u64>,
    /// Start at boot.
    pub onboot: Option<bool>,
}

/// What a clone should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneRequest {
    /// The new VMID.
    pub newid: u32,
    /// Its name (host name for containers).
    pub name: Option<String>,
    /// Node to put it on; the source's node when `None`.
    pub target: Option<String>,
    /// Full copy, or linked (templates only).
    pub full: bool,
    /// Pool to add it to.
    pub pool: Option<String>,
}

impl Client {
    /// Applies `edit`; with `digest`, only if the config is still the one read.
    pub async fn edit_config(
        &self,
        vmid: u32,
        edit: &ConfigEdit,
        digest: Option<&str>,
    ) -> Result<(), Error> {
        let location = self.locate(vmid).await?;
        let name_key = match location.kind {
            GuestKind::Qemu => "name",
            GuestKind::Lxc => "hostname",
        };
        let mut params: Vec<(&str, String)> = Vec::new();
        let mut delete: Vec<&str> = Vec::new();
        if let Some(name) = &edit.name {
            params.push((name_key, name.clone()));
        }
        match edit.description.as_deref() {
            Some("") => delete.push("description"),
            Some(text) => params.push(("description", text.to_owned())),
            None => {}
        }
        match &edit.tags {
            Some(tags) if tags.is_empty() => delete.push("tags"),
            Some(tags) => params.push(("tags", tags.join(";"))),
            None => {}
        }
        if let Some(cores) = edit.cores {
            params.push(("cores", cores.to_string()));
        }
        if let Some(memory) = edit.memory_mib {
            params.push(("memory", memory.to_string()));
        }
        if let Some(onboot) = edit.onboot {
            params.push(("onboot", u8::from(onboot).to_string()));
        }
        if !delete.is_empty() {
            params.push(("delete", delete.join(",")));
        }
        if let Some(digest) = digest {
            params.push(("digest", digest.to_owned()));
        }
        let path = format!(
            "/nodes/{}/{}/{vmid}/config",
            location.node,
            location.kind.segment()
        );
        self.call(Method::PUT, &path, &params).await.map(drop)
    }

    /// Clones the guest `vmid`; returns the task.
    pub async fn clone_guest(&self, vmid: u32, request: &CloneRequest) -> Result<Upid, Error> {
        if let Some(target) = &request.target
            && !valid_node(target)
        {
            return Err(Error::Invalid(format!("{target:?} is not a node name")));
        }
        let location = self.locate(vmid).await?;
        let name_key = match location.kind {
            GuestKind::Qemu => "name",
            GuestKind::Lxc => "hostname",
        };
        let mut params = vec![
            ("newid", request.newid.to_string()),
            ("full", u8::from(request.full).to_string()),
        ];
        if let Some(name) = &request.name {
            params.push((name_key, name.clone()));
        }
        if let Some(target) = &request.target {
            params.push(("target", target.clone()));
        }
        if let Some(pool) = &request.pool {
            params.push(("pool", pool.clone()));
        }
        let path = format!(
            "/nodes/{}/{}/{vmid}/clone",
            location.node,
            location.kind.segment()
        );
        let value = self.call(Method::POST, &path, &params).await?;
        crate::guests::upid(value)
    }
}
