//! Starting and stopping the portal: open and migrate the database, bind the listener, serve
//! HTTP or HTTPS, and on SIGTERM/SIGINT stop accepting while in-flight requests finish.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::config::Config;
use crate::db::{Db, DbError, PoolSettings};
use crate::identity::setup;
use crate::inventory::{Inventory, PollSettings};
use crate::jobs::worker::{Registry, WorkerConfig};
use crate::secrets::{KeyError, Keys};

/// Why the portal could not start, in one sentence for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the TLS {what} file {path}: {reason}")]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("the TLS certificate and key cannot be used together: {0}")]
    TlsConfig(String),
    #[error("the server stopped unexpectedly: {0}")]
    Serve(String),
    #[error("{0}")]
    Refused(String),
}

/// A running portal.
#[derive(Debug)]
pub struct Portal {
    addr: SocketAddr,
    tls: bool,
    db: Db,
    handle: Handle,
    task: JoinHandle<std::io::Result<()>>,
    setup_token: Option<String>,
    worker: Option<Worker>,
    /// Stops the schedule ticker and the inventory supervisor.
    background: tokio::sync::watch::Sender<bool>,
}

/// The in-process job worker: a stop signal and the task that drains on it.
#[derive(Debug)]
struct Worker {
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The inventory cache `config` asks for.
pub fn inventory(config: &Config) -> Inventory {
    Inventory::new(PollSettings {
        idle: Duration::from_secs(config.inventory_idle_secs),
        busy: Duration::from_millis(config.inventory_busy_ms),
    })
}

/// Starts a job worker on `db` as `config` says, with every job kind the portal has; it runs
/// until `stop` says true.
pub fn start_worker(
    db: &Db,
    config: &Config,
    keys: Arc<Keys>,
    inventory: Inventory,
    grace: Duration,
) -> (tokio::sync::watch::Sender<bool>, JoinHandle<()>) {
    let mut worker = WorkerConfig::new(
        config.worker_concurrency,
        Duration::from_secs(config.job_lease_secs),
    );
    worker.grace = grace;
    worker.retention = Duration::from_secs(config.job_retention_days.saturating_mul(86_400));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let until = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let mut registry = Registry::builtin();
    let notify_keys = keys.clone();
    crate::guests::jobs::register(
        &mut registry,
        crate::guests::jobs::Deps {
            db: db.clone(),
            keys,
            inventory,
            poll: Duration::from_millis(config.task_poll_ms),
        },
    );
    crate::jobs::bulk::register(&mut registry, db.clone(), 250);
    crate::alerts::notify::register(
        &mut registry,
        crate::alerts::notify::Deps {
            db: db.clone(),
            keys: notify_keys,
            allowed: Arc::new(config.notify_allow.clone()),
            per_minute: config.notify_per_minute,
        },
    );
    let task = tokio::spawn(crate::jobs::worker::run(
        db.clone(),
        registry,
        worker,
        until,
    ));
    (stop, task)
}

impl Portal {
    /// Opens the database, applies migrations, binds and starts serving in the background.
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        // Cheap checks first, so a bad flag never leaves a half-created database behind.
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
            _ => None,
        };
        let listener = TcpListener::bind(config.listen).map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let keys = Arc::new(Keys::load(config)?);
        let db = open_database(config).await?;
        crate::sealed::check(&db, &keys)
            .await
            .map_err(sealed_error)?;
        let setup_token = setup::issue_token(&db).await?;
        crate::telemetry::install();
        let inventory = inventory(config);
        let (background, stopped) = tokio::sync::watch::channel(false);
        crate::servers::supervise(&inventory, db.clone(), keys.clone(), stopped.clone());
        crate::schedules::fire::start(db.clone(), inventory.clone(), stopped.clone());
        if let Some(target) = &config.syslog_target {
            crate::audit::syslog::start(db.clone(), target.clone(), stopped.clone());
        }
        let every = crate::alerts::watch::Every {
            round: Duration::from_secs(config.alert_interval_secs),
            scan: Duration::from_secs(config.alert_scan_interval_secs),
        };
        crate::alerts::watch::start(db.clone(), inventory.clone(), keys.clone(), every, stopped);
        let state = AppState::new(
            db.clone(),
            config,
            tls.is_some(),
            keys.clone(),
            inventory.clone(),
        );
        let app = crate::app::router(state, config.max_body_bytes)
            .into_make_service_with_connect_info::<SocketAddr>();
        let handle = Handle::new();
        let task = match tls.clone() {
            Some(tls) => tokio::spawn(
                axum_server::from_tcp_rustls(listener, tls)
                    .handle(handle.clone())
                    .serve(app),
            ),
            None => tokio::spawn(
                axum_server::from_tcp(listener)
                    .handle(handle.clone())
                    .serve(app),
            ),
        };
        let worker = config.worker_enabled.then(|| {
            let grace = Duration::from_secs(config.shutdown_grace_secs);
            let (stop, task) = start_worker(&db, config, keys.clone(), inventory.clone(), grace);
            Worker { stop, task }
        });
        if tls.is_none() && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "SERVING PLAIN HTTP ON A NON-LOOPBACK ADDRESS: passwords and session cookies \
                 cross the network unencrypted; use --tls-cert/--tls-key or a TLS-terminating proxy"
            );
        }
        Ok(Self {
            addr,
            tls: tls.is_some(),
            db,
            handle,
            task,
            setup_token,
            worker,
            background,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr` or `https://addr`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The database pool the portal serves from.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The one-time setup link, while no administrator exists.
    pub fn setup_link(&self) -> Option<String> {
        self.setup_token
            .as_deref()
            .map(|token| setup::link(&self.base_url(), token))
    }

    /// Stops accepting connections and lets in-flight requests finish within `grace`.
    pub fn shutdown(&self, grace: Duration) {
        self.handle.graceful_shutdown(Some(grace));
        let _ = self.background.send(true);
        if let Some(worker) = &self.worker {
            let _ = worker.stop.send(true);
        }
    }

    /// Waits for the server to stop, then closes the database.
    pub async fn wait(self) -> Result<(), StartError> {
        let result = self.task.await;
        if let Some(worker) = self.worker {
            let _ = worker.stop.send(true);
            let _ = worker.task.await;
        }
        self.db.close().await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StartError::Serve(e.to_string())),
            Err(e) => Err(StartError::Serve(e.to_string())),
        }
    }
}

/// Re-seals the stored secrets under a new data key. The new key is written first, beside
/// its destination (`.new`), then the database is re-sealed in one transaction, then the key
/// file is moved into place: a crash at any point leaves a key that opens the secrets (the
/// old one, or the `.new` file, which the error then names). Returns where the key went.
pub async fn rotate_key(
    config: &Config,
    new_key_file: Option<&Path>,
) -> Result<(PathBuf, usize), StartError> {
    let keys = Keys::load(config)?;
    let target = match (new_key_file, &config.secret_key, &config.secret_key_file) {
        (Some(path), _, _) => path.to_owned(),
        (None, Some(_), _) => {
            return Err(StartError::Refused(
                "the data key comes from PMP_SECRET_KEY: give --new-key-file to receive the new one, then use it as secret_key_file".to_owned(),
            ));
        }
        (None, None, Some(path)) => path.clone(),
        (None, None, None) => config.data_dir.join("secret.key"),
    };
    let db = open_database(config).await?;
    crate::sealed::check(&db, &keys)
        .await
        .map_err(sealed_error)?;
    let (raw, text) = crate::sealed::new_key();
    let staging = target.with_extension("new");
    crate::secrets::write_private(&staging, &text).map_err(|e| {
        StartError::Refused(format!(
            "cannot write the new key to {}: {e} (a previous rotation may have left it)",
            staging.display()
        ))
    })?;
    let new = keys.with_data_key(&raw)?;
    let count = crate::sealed::reseal(&db, &keys, &new)
        .await
        .map_err(sealed_error)?;
    std::fs::rename(&staging, &target).map_err(|e| {
        StartError::Refused(format!(
            "the secrets are re-sealed under the key in {}, but it could not be moved to {}: {e}; move it yourself",
            staging.display(),
            target.display()
        ))
    })?;
    db.close().await;
    Ok((target, count))
}

/// A failed key check as a start-up error.
pub fn sealed_error(e: crate::sealed::SealError) -> StartError {
    match e {
        crate::sealed::SealError::Db(e) => StartError::Database(e),
        crate::sealed::SealError::Key(e) => StartError::Keys(e),
    }
}

/// Connects to the configured database and brings its schema up to date.
pub async fn open_database(config: &Config) -> Result<Db, StartError> {
    let url = config.database();
    let settings = PoolSettings {
        max_connections: config.database_max_connections,
        connect_timeout: Duration::from_secs(config.database_connect_timeout_secs),
    };
    let db = Db::connect(&url, settings).await?;
    db.migrate().await?;
    crate::alerts::anomaly::watch_the_trail();
    crate::access::store::seed_builtin_roles(&db).await?;
    tracing::info!(database = %url, "database ready");
    Ok(db)
}

/// Runs the portal until `stop` resolves (see `shutdown_signal`), then shuts down gracefully.
pub async fn run(
    portal: Portal,
    grace: Duration,
    stop: impl Future<Output = ()>,
) -> Result<(), StartError> {
    tracing::info!(url = %portal.base_url(), "portal listening");
    if let Some(link) = portal.setup_link() {
        tracing::warn!(
            "no administrator exists yet; open this one-time setup link to create one: {link}"
        );
    }
    stop.await;
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down; finishing in-flight requests"
    );
    portal.shutdown(grace);
    portal.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

/// A future that resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are registered when
/// this is called, not when it is first awaited, so call it before the listener is bound:
/// a signal that arrives during start-up is then a graceful stop, never an abrupt kill.
pub fn shutdown_signal() -> Result<impl Future<Output = ()>, StartError> {
    use tokio::signal::unix::{SignalKind, signal};
    let register = |kind| {
        signal(kind).map_err(|e| StartError::Serve(format!("cannot listen for signals: {e}")))
    };
    let mut interrupt = register(SignalKind::interrupt())?;
    let mut terminate = register(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}

fn tls_config(cert: &Path, key: &Path) -> Result<RustlsConfig, StartError> {
    let file_error = |what, path: &Path, reason: String| StartError::TlsFile {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error("certificate", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error("certificate", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(
            "certificate",
            cert,
            "it holds no PEM certificate".to_owned(),
        ));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| file_error("key", key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::TlsConfig(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::TlsConfig(e.to_string()))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(server)))
}
