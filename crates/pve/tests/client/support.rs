//! A simulator per test, and clients for it.

use std::time::Duration;

use pve::{Auth, Client, Member, Options, Trust};
use pve_sim::{SimConfig, Simulator};

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A simulator with 3 nodes whose tasks take `task_ms`.
pub async fn sim_with(task_ms: u64, ticket_lifetime: Duration) -> Simulator {
    Simulator::start(SimConfig {
        task_duration: Duration::from_millis(task_ms),
        ticket_lifetime,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

pub async fn sim() -> Simulator {
    sim_with(150, Duration::from_secs(7200)).await
}

/// The simulator's full-rights token.
pub fn token(sim: &Simulator) -> Auth {
    Auth::ApiToken {
        id: sim.token_id().to_owned(),
        secret: sim.token_secret().to_owned(),
    }
}

/// Every node as a member, each pinned to its own certificate.
pub fn members(sim: &Simulator) -> Vec<Member> {
    sim.nodes()
        .into_iter()
        .map(|n| Member {
            url: n.url,
            trust: Trust::Fingerprint(n.fingerprint.parse().unwrap()),
        })
        .collect()
}

/// Options with short timeouts and quick retries, for tests.
pub fn quick() -> Options {
    Options {
        timeout: Duration::from_secs(2),
        read_retries: 2,
        retry_backoff: Duration::from_millis(50),
        ..Options::default()
    }
}

/// A client over every node with `auth`.
pub fn cluster_client(sim: &Simulator, auth: Auth) -> Client {
    Client::cluster(members(sim), auth, quick()).unwrap()
}

/// A guest on `node` (any node for `""`) of `kind` that is running (or not), not a template.
pub async fn guest(client: &Client, node: &str, kind: pve::ResourceKind, running: bool) -> u32 {
    let resources = client.resources(Some("vm")).await.unwrap();
    let found = resources
        .iter()
        .find(|r| {
            r.kind == kind
                && (node.is_empty() || r.node.as_deref() == Some(node))
                && !r.template
                && (r.status.as_deref() == Some("running")) == running
        })
        .expect("the seeded cluster has such a guest");
    u32::try_from(found.vmid.unwrap()).unwrap()
}
