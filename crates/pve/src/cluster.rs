//! Cluster awareness: the members `/cluster/status` names, with the URL each would answer on
//! (the entry URL's port at the member's address, as every PVE node listens on the same
//! port), and reading a presented certificate's fingerprint for trust-on-first-use.

use std::time::Duration;

use crate::client::{base_url, connect};
use crate::error::{Error, transport_error};
use crate::models::{ClusterStatusEntry, Version};
use crate::tls::Trust;
use crate::{Client, Fingerprint};

/// A cluster member as discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredMember {
    /// Node name.
    pub name: String,
    /// `https://ADDRESS:PORT`.
    pub url: String,
    /// Whether the cluster sees it online.
    pub online: bool,
}

impl Client {
    /// `GET /version`.
    pub async fn version(&self) -> Result<Version, Error> {
        self.get("/version", &[]).await
    }

    /// `GET /cluster/status`.
    pub async fn cluster_status(&self) -> Result<Vec<ClusterStatusEntry>, Error> {
        self.get("/cluster/status", &[]).await
    }

    /// The cluster's nodes and the URLs they answer on, given the port of `entry_url`. A
    /// stand-alone node answers with itself only.
    pub async fn discover(&self, entry_url: &str) -> Result<Vec<DiscoveredMember>, Error> {
        let base = base_url(entry_url)?;
        let port = base
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .unwrap_or(8006);
        let members = self
            .cluster_status()
            .await?
            .into_iter()
            .filter(|e| e.kind == "node")
            .filter_map(|e| {
                let ip: std::net::IpAddr = e.ip.as_deref()?.parse().ok()?;
                let host = match ip {
                    std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                    std::net::IpAddr::V4(v4) => v4.to_string(),
                };
                Some(DiscoveredMember {
                    name: e.name,
                    url: format!("https://{host}:{port}"),
                    online: e.online,
                })
            })
            .collect();
        Ok(members)
    }
}

#[derive(serde::Deserialize)]
struct NodeEntry {
    node: String,
    #[serde(default)]
    ssl_fingerprint: Option<String>,
}

impl Client {
    /// Every member's certificate fingerprint as `GET /nodes` lists it (read from the cluster
    /// file system, so a member that is down has one too); members without one are left out.
    pub async fn node_fingerprints(&self) -> Result<Vec<(String, Fingerprint)>, Error> {
        let nodes: Vec<NodeEntry> = self.get("/nodes", &[]).await?;
        Ok(nodes
            .into_iter()
            .filter_map(|n| Some((n.node, n.ssl_fingerprint?.parse().ok()?)))
            .collect())
    }
}

#[derive(serde::Deserialize)]
struct CertificateInfo {
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

impl Client {
    /// The fingerprint of the certificate `node` serves, as the cluster reports it over this
    /// client's trusted connection: members are pinned without trusting them on first use.
    /// A custom certificate (`pveproxy-ssl.pem`) wins over the self-signed `pve-ssl.pem`, as
    /// it does in PVE's proxy.
    pub async fn node_fingerprint(&self, node: &str) -> Result<Fingerprint, Error> {
        if !crate::valid_node(node) {
            return Err(Error::Invalid(format!("{node:?} is not a node name")));
        }
        let certificates: Vec<CertificateInfo> = self
            .get(&format!("/nodes/{node}/certificates/info"), &[])
            .await?;
        let pick = |name: &str| {
            certificates
                .iter()
                .find(|c| c.filename.as_deref() == Some(name))
                .and_then(|c| c.fingerprint.as_deref())
        };
        pick("pveproxy-ssl.pem")
            .or_else(|| pick("pve-ssl.pem"))
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| Error::Decode(format!("node {node} lists no certificate fingerprint")))
    }
}

/// Reads the fingerprint of the certificate `url` presents, without trusting it: the
/// handshake is always refused, so no request is ever sent.
pub async fn probe_fingerprint(url: &str) -> Result<Fingerprint, Error> {
    let timeout = Duration::from_secs(10);
    // A pin that matches nothing: the verifier records what was presented and refuses it.
    let nothing = Fingerprint::of(b"");
    let conn = connect(url, &Trust::Fingerprint(nothing), timeout)?;
    match conn.presented(timeout).await {
        Ok(Some(seen)) => Ok(seen),
        Ok(None) => Err(Error::Decode("no certificate was presented".to_owned())),
        Err(e) => Err(e),
    }
}

impl crate::client::Conn {
    /// Connects once and reports the certificate the server presented.
    async fn presented(&self, timeout: Duration) -> Result<Option<Fingerprint>, Error> {
        let result = self.raw_get("/api2/json/version").await;
        match (self.seen(), result) {
            (Some(seen), _) => Ok(Some(seen)),
            (None, Err(e)) => Err(transport_error(&self.base, &e, timeout)),
            (None, Ok(())) => Ok(None),
        }
    }
}
