//! A simulated Proxmox VE cluster served over HTTPS with a self-signed certificate, speaking
//! PVE's `/api2/json` protocol closely enough that a client proven against it works against a
//! real cluster. Used by tests, `pmp demo` and benchmarks.

mod api;
mod auth;
mod guests;
mod state;
mod tasks;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use tokio::task::JoinHandle;

pub use api::{Endpoint, endpoints};
pub use guests::{Guest, GuestKind, Snapshot};
pub use state::{Cluster, Node, Seed};
pub use tasks::{Task, Upid, UpidError};
pub use tls::{Certificate, fingerprint_of};

/// How to build the simulated cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Cluster name, node count, guest count and generator seed.
    pub seed: Seed,
    /// API token accepted with full rights: `(token id "user@realm!name", secret UUID)`.
    pub token: (String, String),
    /// How long each task (start, stop, ...) runs before it ends.
    pub task_duration: Duration,
    /// `root@pam`'s password for ticket logins.
    pub root_password: String,
    /// How long a ticket (and CSRF token) stays valid; PVE's is two hours.
    pub ticket_lifetime: Duration,
}

/// `n` random bytes as hex.
fn random_hex(n: usize) -> String {
    use rand::RngCore as _;
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A random secret in the UUID layout PVE uses for token secrets.
fn random_uuid() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Credentials are random unless set: a simulator has no well-known password either.
impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Seed {
                name: "sim".to_owned(),
                nodes: 3,
                guests: 20,
                seed: 42,
            },
            token: ("root@pam!pmp".to_owned(), random_uuid()),
            task_duration: Duration::from_secs(2),
            root_password: random_hex(12),
            ticket_lifetime: Duration::from_secs(2 * 60 * 60),
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    certificate: Certificate,
    token: (String, String),
    root_password: String,
    handle: Handle,
    task: JoinHandle<std::io::Result<()>>,
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("cannot create the simulator's TLS certificate: {0}")]
    Tls(String),
}

impl Simulator {
    /// Generates a certificate, builds the cluster and starts serving HTTPS in the background.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        let certificate = Certificate::generate().map_err(SimError::Tls)?;
        let listener = std::net::TcpListener::bind(config.listen)
            .map_err(|e| SimError::Bind(config.listen, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| SimError::Bind(config.listen, e))?;
        let cluster = Arc::new(Cluster::new(&config.seed, addr.ip()));
        let app = api::router(api::ApiState {
            cluster,
            token: Arc::new(config.token.clone()),
            task_duration: config.task_duration,
            tickets: Arc::new(auth::Tickets::new(config.ticket_lifetime)),
            root_password: Arc::new(config.root_password.clone()),
        });
        let handle = Handle::new();
        let server = axum_server::from_tcp_rustls(listener, certificate.rustls_config()?)
            .handle(handle.clone());
        let task = tokio::spawn(server.serve(app.into_make_service()));
        Ok(Self {
            addr,
            certificate,
            token: config.token,
            root_password: config.root_password,
            handle,
            task,
        })
    }

    /// `https://127.0.0.1:PORT`, without the `/api2/json` prefix.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// SHA-256 fingerprint of the served certificate, as PVE prints it (`AA:BB:...`).
    pub fn fingerprint(&self) -> &str {
        &self.certificate.fingerprint
    }

    /// The served certificate in DER form, for clients that trust it as a root.
    pub fn certificate_der(&self) -> &[u8] {
        self.certificate.der()
    }

    /// The API token id (`user@realm!name`) the simulator accepts.
    pub fn token_id(&self) -> &str {
        &self.token.0
    }

    /// `root@pam`'s password.
    pub fn root_password(&self) -> &str {
        &self.root_password
    }

    /// The API token secret.
    pub fn token_secret(&self) -> &str {
        &self.token.1
    }

    /// Stops serving and waits for the listener to close.
    pub async fn stop(self) {
        self.handle.shutdown();
        let _ = self.task.await;
    }
}
