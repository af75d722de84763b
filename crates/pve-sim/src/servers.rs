//! A running simulator: one HTTPS listener per node, each with its own self-signed
//! certificate (which can be rotated), all sharing one cluster state, plus the control
//! endpoint. Also the programmatic handles tests use: users, tokens, ACLs and faults.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::task::JoinHandle;

use crate::faults::{Fault, Faults, Gate};
use crate::perms::{AclEntry, Token, User};
use crate::tasks::Task;
use crate::{Certificate, Cluster, SimConfig, SimError, api, auth, control, perms, read, write};
use crate::{Shared, random_uuid};

/// Where one node answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// Its current certificate's SHA-256 fingerprint, `AA:BB:...`.
    pub fingerprint: String,
}

#[derive(Debug)]
struct NodeServer {
    name: String,
    addr: SocketAddr,
    handle: Handle,
    task: JoinHandle<std::io::Result<()>>,
}

/// A node's certificate and the TLS configuration its listener serves, swapped on rotation.
#[derive(Debug)]
pub(crate) struct NodeTls {
    certificate: Certificate,
    tls: RustlsConfig,
}

impl Shared {
    /// The current certificate of `node`.
    fn certificate(&self, node: &str) -> Option<Certificate> {
        lock(&self.certificates)
            .get(node)
            .map(|t| t.certificate.clone())
    }

    /// The DER certificate `node` serves now.
    pub(crate) fn certificate_der(&self, node: &str) -> Option<Vec<u8>> {
        self.certificate(node).map(|c| c.der().to_vec())
    }

    /// Gives `node` a new certificate, served from the next handshake on; returns its
    /// fingerprint.
    pub(crate) fn rotate_certificate(&self, node: &str) -> Result<String, SimError> {
        let certificate = Certificate::generate().map_err(SimError::Tls)?;
        let fresh = certificate.rustls_config()?;
        let mut all = lock(&self.certificates);
        let entry = all
            .get_mut(node)
            .ok_or_else(|| SimError::Refused(format!("no node {node}")))?;
        entry.tls.reload_from_config(fresh.get_inner());
        self.faults.certificate_changed(node);
        let fingerprint = certificate.fingerprint.clone();
        entry.certificate = certificate;
        Ok(fingerprint)
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    shared: Arc<Shared>,
    nodes: Vec<NodeServer>,
    token: (String, String),
    root_password: String,
    control: (SocketAddr, Handle, JoinHandle<std::io::Result<()>>),
}

/// Binds the listener of node `index` once the first node is bound at `first`.
///
/// On 127.0.0.1 each node gets its own loopback address with the first node's port
/// (127.0.0.2, 127.0.0.3, ...), as a real cluster has one address per node and the same port
/// 8006 everywhere: `/cluster/status` carries only addresses, and clients that discover
/// members from it must find them. Elsewhere, the next free ports on the same address.
fn bind_member(first: SocketAddr, index: usize) -> Result<TcpListener, SimError> {
    let octet = u8::try_from(index + 1).unwrap_or(u8::MAX);
    if first.ip() == std::net::IpAddr::from([127, 0, 0, 1]) {
        let own = SocketAddr::from(([127, 0, 0, octet], first.port()));
        if let Ok(listener) = TcpListener::bind(own) {
            return Ok(listener);
        }
    }
    let start = first.port().saturating_add(u16::from(octet));
    (start..start.saturating_add(200))
        .find_map(|port| TcpListener::bind(SocketAddr::new(first.ip(), port)).ok())
        .ok_or_else(|| {
            let error = std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free port");
            SimError::Bind(first, error)
        })
}

impl Simulator {
    /// Generates a certificate per node, builds the cluster and starts serving HTTPS.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        let first =
            TcpListener::bind(config.listen).map_err(|e| SimError::Bind(config.listen, e))?;
        let first_addr = first
            .local_addr()
            .map_err(|e| SimError::Bind(config.listen, e))?;
        let mut listeners = vec![first];
        for index in 1..config.seed.nodes.max(1) {
            listeners.push(bind_member(first_addr, index)?);
        }
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr().map_err(|e| SimError::Bind(config.listen, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let ips: Vec<_> = addrs.iter().map(SocketAddr::ip).collect();
        let cluster = Arc::new(Cluster::new(&config.seed, &ips));
        let mut access = perms::Access::with_root(&config.root_password);
        access.tokens.insert(
            config.token.0.clone(),
            Token {
                secret: config.token.1.clone(),
                privsep: false,
            },
        );
        if perms::Access::owner(&config.token.0) != "root@pam" {
            return Err(SimError::Refused(
                "the start-up token must belong to root@pam".to_owned(),
            ));
        }
        let shared = Arc::new(Shared {
            cluster: cluster.clone(),
            access: std::sync::RwLock::new(access),
            certificates: Mutex::default(),
            tickets: auth::Tickets::new(config.ticket_lifetime),
            faults: Arc::new(Faults::default()),
            task_duration: config.task_duration,
        });
        let mut nodes = Vec::new();
        for (node, listener) in cluster.nodes.iter().zip(listeners) {
            nodes.push(serve_node(&shared, &node.name, listener)?);
        }
        let control = control::serve(shared.clone(), config.control_listen)?;
        Ok(Self {
            shared,
            nodes,
            token: config.token,
            root_password: config.root_password,
            control,
        })
    }

    /// The first node's URL, `https://127.0.0.1:PORT`, without the `/api2/json` prefix.
    pub fn url(&self) -> String {
        self.nodes
            .first()
            .map(|n| format!("https://{}", n.addr))
            .unwrap_or_default()
    }

    /// The first node's address.
    pub fn addr(&self) -> SocketAddr {
        self.nodes
            .first()
            .map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |n| n.addr)
    }

    fn first_certificate(&self) -> Option<Certificate> {
        self.nodes
            .first()
            .and_then(|n| self.shared.certificate(&n.name))
    }

    /// The first node's certificate fingerprint, as PVE prints it (`AA:BB:...`).
    pub fn fingerprint(&self) -> String {
        self.first_certificate()
            .map(|c| c.fingerprint)
            .unwrap_or_default()
    }

    /// The first node's certificate in DER form, for clients that trust it as a root.
    pub fn certificate_der(&self) -> Vec<u8> {
        self.first_certificate()
            .map(|c| c.der().to_vec())
            .unwrap_or_default()
    }

    /// Every node with its URL and current fingerprint.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes
            .iter()
            .map(|n| NodeInfo {
                name: n.name.clone(),
                url: format!("https://{}", n.addr),
                fingerprint: self
                    .shared
                    .certificate(&n.name)
                    .map(|c| c.fingerprint)
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// The cluster state, for tests that look behind the API (tasks started, guest nodes).
    pub fn cluster(&self) -> &Cluster {
        &self.shared.cluster
    }

    /// API requests the simulator has received, on every node.
    pub fn requests(&self) -> u64 {
        self.shared.faults.requests()
    }

    /// Every task started so far, newest first.
    pub fn tasks(&self) -> Vec<Task> {
        self.shared.cluster.tasks.select(|_| true)
    }

    /// The API token id (`user@realm!name`) given at start.
    pub fn token_id(&self) -> &str {
        &self.token.0
    }

    /// That token's secret.
    pub fn token_secret(&self) -> &str {
        &self.token.1
    }

    /// `root@pam`'s password.
    pub fn root_password(&self) -> &str {
        &self.root_password
    }

    /// `http://127.0.0.1:PORT` of the control endpoint.
    pub fn control_url(&self) -> String {
        format!("http://{}", self.control.0)
    }

    /// Sets a fault on `node`, or on every node when `None`.
    pub fn set_fault(&self, node: Option<&str>, fault: Fault) {
        self.shared.faults.set(node, fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Makes every backup `secs` older.
    pub fn age_backups(&self, secs: u64) {
        self.shared.cluster.backups.age(secs);
    }

    /// Voids every ticket, as if all had expired.
    pub fn expire_tickets(&self) {
        self.shared.tickets.expire_all();
    }

    /// Gives `node` a new certificate; returns its fingerprint.
    pub fn rotate_certificate(&self, node: &str) -> Result<String, SimError> {
        self.shared.rotate_certificate(node)
    }

    /// Adds a user with a password and, optionally, a base32 TOTP secret.
    pub fn add_user(&self, userid: &str, password: &str, totp: Option<&str>) {
        write(&self.shared.access).users.insert(
            userid.to_owned(),
            User {
                password: password.to_owned(),
                totp: totp.map(str::to_owned),
            },
        );
    }

    /// Adds an API token `user@realm!name` and returns its secret.
    pub fn add_token(&self, tokenid: &str, privsep: bool) -> String {
        let secret = random_uuid();
        self.add_token_with_secret(tokenid, &secret, privsep);
        secret
    }

    /// Adds an API token with a chosen secret.
    pub fn add_token_with_secret(&self, tokenid: &str, secret: &str, privsep: bool) {
        write(&self.shared.access).tokens.insert(
            tokenid.to_owned(),
            Token {
                secret: secret.to_owned(),
                privsep,
            },
        );
    }

    /// Adds an ACL entry.
    pub fn grant(&self, path: &str, ugid: &str, role: &str, propagate: bool) {
        write(&self.shared.access).acl.push(AclEntry {
            path: path.to_owned(),
            ugid: ugid.to_owned(),
            role: role.to_owned(),
            propagate,
        });
    }

    /// The privileges `principal` holds on `path`.
    pub fn privileges(&self, principal: &str, path: &str) -> crate::Privs {
        read(&self.shared.access).privileges(principal, path, None)
    }

    /// Stops serving and waits for every listener to close.
    pub async fn stop(self) {
        for node in &self.nodes {
            node.handle.shutdown();
        }
        self.control.1.shutdown();
        for node in self.nodes {
            let _ = node.task.await;
        }
        let _ = self.control.2.await;
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn serve_node(
    shared: &Arc<Shared>,
    name: &str,
    listener: TcpListener,
) -> Result<NodeServer, SimError> {
    let addr = listener
        .local_addr()
        .map_err(|e| SimError::Bind(SocketAddr::from(([0, 0, 0, 0], 0)), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| SimError::Bind(addr, e))?;
    let certificate = Certificate::generate().map_err(SimError::Tls)?;
    let tls = certificate.rustls_config()?;
    let app = api::router(shared.clone(), name);
    let gate = Gate {
        faults: shared.faults.clone(),
        node: name.to_owned(),
    };
    let handle = Handle::new();
    let server = axum_server::from_tcp(listener)
        .acceptor(RustlsAcceptor::new(tls.clone()).acceptor(gate))
        .handle(handle.clone());
    let task = tokio::spawn(server.serve(app.into_make_service()));
    lock(&shared.certificates).insert(name.to_owned(), NodeTls { certificate, tls });
    Ok(NodeServer {
        name: name.to_owned(),
        addr,
        handle,
        task,
    })
}
