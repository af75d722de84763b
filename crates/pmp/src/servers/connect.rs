//! Talking to a registered server: a PVE client over all its members, each pinned to its own
//! certificate, with its credentials opened from the store; and onboarding, which trusts the
//! entry node's certificate as the administrator confirmed it, then learns every member and
//! that member's certificate from the cluster itself over that trusted connection, and runs
//! the permission self-test.

use std::time::Duration;

use pve::{Feature, Fingerprint, Member as PveMember, Options, SelfTest, Trust};

use crate::db::Db;
use crate::ids::ServerId;
use crate::secrets::Keys;
use crate::servers::store::{self, Member, NewAuth, SealError, Server};

/// Per-request timeout towards PVE.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Pve(#[from] pve::Error),
    #[error("the server has no usable member address")]
    NoMembers,
}

/// The client for `server`, every member pinned.
pub fn client_for(server: &Server, auth: pve::Auth) -> Result<pve::Client, ConnectError> {
    let members: Vec<PveMember> = server
        .members
        .iter()
        .filter_map(|m| {
            let pin: Fingerprint = m.fingerprint.parse().ok()?;
            Some(PveMember {
                url: m.url.clone(),
                trust: Trust::Fingerprint(pin),
            })
        })
        .collect();
    if members.is_empty() {
        return Err(ConnectError::NoMembers);
    }
    let options = Options {
        timeout: TIMEOUT,
        observer: Some(crate::telemetry::PveCalls::new(&server.id)),
        ..Options::default()
    };
    Ok(pve::Client::cluster(members, auth, options)?)
}

/// The stored server `id` and a client for it; `None` when it does not exist.
pub async fn open(
    db: &Db,
    keys: &Keys,
    id: &ServerId,
) -> Result<Option<(Server, pve::Client)>, ConnectError> {
    let Some(server) = store::get(db, id).await.map_err(SealError::from)? else {
        return Ok(None);
    };
    let Some(auth) = store::auth(db, keys, id).await? else {
        return Ok(None);
    };
    let client = client_for(&server, auth)?;
    Ok(Some((server, client)))
}

/// What onboarding learned.
#[derive(Debug, Clone)]
pub struct Onboarded {
    /// PVE's version.
    pub version: String,
    /// Every member, the entry node first, each with the certificate the cluster reports.
    pub members: Vec<Member>,
    /// The permission self-test for every portal feature.
    pub self_test: SelfTest,
}

/// Connects to `url` trusting exactly `fingerprint`, and learns the cluster.
pub async fn onboard(
    url: &str,
    fingerprint: Fingerprint,
    auth: &NewAuth,
) -> Result<Onboarded, pve::Error> {
    let client = pve::Client::new(url, auth.to_pve(), fingerprint, TIMEOUT)?;
    let version = client.version().await?.version;
    let discovered = client.discover(url).await?;
    // From the cluster itself, for every member at once: asking each node for its certificate
    // would go through a member to that node, and one that is down answers 595.
    let listed = client.node_fingerprints().await?;
    let mut members = Vec::with_capacity(discovered.len().max(1));
    for node in discovered {
        let known = listed.iter().find(|(name, _)| *name == node.name);
        let pin = match known {
            Some((_, pin)) => *pin,
            None if node.online => client.node_fingerprint(&node.name).await?,
            // Down, and the cluster does not say which certificate it has: nothing to pin yet.
            None => continue,
        };
        // The entry node keeps the address the administrator gave (a name, a VIP, a port
        // forward); the others are reached where the cluster says they are.
        let member_url = if pin == fingerprint {
            url.to_owned()
        } else {
            node.url
        };
        members.push(Member {
            name: node.name,
            url: member_url,
            fingerprint: pin.to_string(),
        });
    }
    if members.is_empty() {
        // A node that reports no cluster membership: the entry is the whole server.
        let name = client
            .resources(Some("node"))
            .await?
            .into_iter()
            .find_map(|r| r.node)
            .unwrap_or_else(|| "node".to_owned());
        members.push(Member {
            name,
            url: url.to_owned(),
            fingerprint: fingerprint.to_string(),
        });
    }
    members.sort_by_key(|m| m.fingerprint != fingerprint.to_string());
    let subject = match auth {
        NewAuth::Token { id, .. } => id.clone(),
        NewAuth::Password { userid, .. } => userid.clone(),
    };
    let self_test = client.permission_self_test(&subject, &Feature::ALL).await?;
    Ok(Onboarded {
        version,
        members,
        self_test,
    })
}
