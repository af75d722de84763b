//! Console tickets (`vncproxy`, `termproxy`) for a guest, from the node that owns it now.

use reqwest::Method;
use serde::Deserialize;

use crate::Client;
use crate::de;
use crate::error::Error;

/// Which console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleKind {
    /// noVNC over a websocket.
    Vnc,
    /// xterm.js over a websocket.
    Terminal,
}

/// What PVE hands out for a console session.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ConsoleTicket {
    /// Port of the proxy on the node.
    #[serde(deserialize_with = "de::u64_lenient")]
    pub port: u64,
    /// `PVEVNC:` ticket.
    pub ticket: String,
    /// The proxy's task.
    pub upid: String,
    /// Who it is for.
    pub user: String,
    /// The node's certificate (VNC).
    #[serde(default)]
    pub cert: Option<String>,
    /// The VNC password, when one was generated.
    #[serde(default)]
    pub password: Option<String>,
}

impl Client {
    /// Opens a console session on the guest.
    pub async fn console(
        &self,
        vmid: u32,
        kind: ConsoleKind,
    ) -> Result<(String, ConsoleTicket), Error> {
        let at = self.locate(vmid).await?;
        let (endpoint, params) = match kind {
            ConsoleKind::Vnc => ("vncproxy", vec![("websocket", "1".to_owned())]),
            ConsoleKind::Terminal => ("termproxy", Vec::new()),
        };
        let path = format!("/nodes/{}/{}/{vmid}/{endpoint}", at.node, at.kind.segment());
        let value = self.call(Method::POST, &path, &params).await?;
        let ticket = serde_json::from_value(value)
            .map_err(|e| Error::Decode(format!("console ticket: {e}")))?;
        Ok((at.node, ticket))
    }
}
