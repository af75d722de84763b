//! The portal's one typed configuration: defaults, then a TOML file, then `PMP_*` environment
//! variables, then command-line flags, each layer overriding the one before. Every key is
//! documented in `docs/configuration.md`; an unknown key is an error, not a silent no-op.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::db::DatabaseUrl;

pub mod syslog;

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The portal's configuration after every layer has been applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port the HTTP(S) server listens on.
    pub listen: SocketAddr,
    /// Where the portal keeps its files (the SQLite database by default, generated keys).
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; defaults to `sqlite://{data_dir}/pmp.db`.
    pub database_url: Option<DatabaseUrl>,
    /// Most connections the database pool opens.
    pub database_max_connections: u32,
    /// Seconds to wait for a database connection before giving up.
    pub database_connect_timeout_secs: u64,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter, in `tracing` directive syntax (`info`, `pmp=debug,info`).
    pub log_level: String,
    /// PEM certificate chain; with `tls_key`, the portal serves HTTPS itself.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Seconds that in-flight requests get to finish after SIGTERM or SIGINT.
    pub shutdown_grace_secs: u64,
    /// A browser session ends after this many seconds without a request.
    pub session_idle_timeout_secs: u64,
    /// A browser session ends this many seconds after sign-in, however active.
    pub session_absolute_timeout_secs: u64,
    /// Lifetime of an API access token (JWT), in seconds.
    pub access_token_ttl_secs: u64,
    /// Lifetime of an API refresh token, in seconds.
    pub refresh_token_ttl_secs: u64,
    /// The JWT signing secret (at least 32 bytes); usually given as `PMP_JWT_SECRET`.
    pub jwt_secret: Option<SecretValue>,
    /// A file holding the JWT signing secret.
    pub jwt_secret_file: Option<PathBuf>,
    /// The data key encrypting secrets at rest: 32 bytes in standard base64 (`PMP_SECRET_KEY`).
    pub secret_key: Option<SecretValue>,
    /// A file holding the data key.
    pub secret_key_file: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges).
    pub trusted_proxies: Vec<ProxyNet>,
    /// The trusted proxy terminates TLS, so cookies are marked Secure though we serve HTTP.
    pub proxy_tls: bool,
    /// Whether `pmp serve` also runs jobs (an in-process worker).
    pub worker_enabled: bool,
    /// Jobs one worker runs at once.
    pub worker_concurrency: usize,
    /// Seconds a worker's claim on a job lasts without a heartbeat.
    pub job_lease_secs: u64,
    /// Days an ended job (and its log) is kept before it is pruned.
    pub job_retention_days: u64,
    /// Seconds between inventory polls of a server nobody is watching.
    pub inventory_idle_secs: u64,
    /// Milliseconds between polls while someone watches a page or a job runs on the server.
    pub inventory_busy_ms: u64,
    /// Milliseconds between status reads of a PVE task a job follows.
    pub task_poll_ms: u64,
    /// Seconds between evaluations of the inventory and job alert rules.
    pub alert_interval_secs: u64,
    /// Seconds between reads of storages and backups from PVE for the alert rules on them.
    pub alert_scan_interval_secs: u64,
    /// Notifications each channel may send per minute; the rest are dropped and logged.
    pub notify_per_minute: u32,
    /// Addresses that notification destinations may use although they are loopback,
    /// link-local or metadata addresses (refused otherwise), as addresses or CIDR ranges.
    pub notify_allow: Vec<ProxyNet>,
    /// The bearer token a Prometheus scraper presents at `/metrics` (at least 24 characters).
    pub metrics_token: Option<SecretValue>,
    /// Addresses (or CIDR ranges) that may scrape `/metrics` without the token.
    pub metrics_allow: Vec<ProxyNet>,
    /// Where the audit trail is forwarded as RFC 5424 syslog: `udp://HOST:PORT` or `tcp://HOST:PORT`.
    pub syslog_target: Option<syslog::Target>,
}

/// A secret given in the configuration: never printed, not even by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretValue(pub String);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for SecretValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// A trusted proxy: one address (`10.0.0.5`) or a range (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(pub ipnet::IpNet);

impl std::str::FromStr for ProxyNet {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        raw.parse::<ipnet::IpNet>()
            .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(Self)
            .map_err(|_| format!("`{raw}` is neither an IP address nor a CIDR range"))
    }
}

impl<'de> Deserialize<'de> for ProxyNet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for ProxyNet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_max_connections: 10,
            database_connect_timeout_secs: 10,
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            tls_cert: None,
            tls_key: None,
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
            session_idle_timeout_secs: 30 * 60,
            session_absolute_timeout_secs: 12 * 60 * 60,
            access_token_ttl_secs: 60 * 60,
            refresh_token_ttl_secs: 30 * 24 * 60 * 60,
            jwt_secret: None,
            jwt_secret_file: None,
            secret_key: None,
            secret_key_file: None,
            trusted_proxies: Vec::new(),
            proxy_tls: false,
            worker_enabled: true,
            worker_concurrency: 4,
            job_lease_secs: 30,
            job_retention_days: 30,
            inventory_idle_secs: 15,
            inventory_busy_ms: 2_000,
            task_poll_ms: 1_000,
            alert_interval_secs: 30,
            alert_scan_interval_secs: 900,
            notify_per_minute: 20,
            notify_allow: Vec::new(),
            metrics_token: None,
            metrics_allow: Vec::new(),
            syslog_target: None,
        }
    }
}

/// Values given on the command line; each one set overrides every other source.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--database-url`, validated with the other layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--tls-cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

/// Why the configuration could not be loaded; each message is one sentence for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("invalid configuration: tls_cert and tls_key must be given together")]
    TlsHalf,
    #[error("invalid configuration: {0} must be greater than zero")]
    Zero(&'static str),
}

impl Config {
    /// Layers defaults, the TOML file (if any), `PMP_*` environment variables and `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // PMP_CONFIG names the file itself and is not a key inside it.
        figment = figment
            .merge(Env::prefixed("PMP_").ignore(&["config"]))
            .merge(Serialized::defaults(overrides));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(&e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::TlsHalf);
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError::Zero("database_max_connections"));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::Zero("max_body_bytes"));
        }
        if self.session_idle_timeout_secs == 0 {
            return Err(ConfigError::Zero("session_idle_timeout_secs"));
        }
        if self.session_absolute_timeout_secs == 0 {
            return Err(ConfigError::Zero("session_absolute_timeout_secs"));
        }
        if self.access_token_ttl_secs == 0 {
            return Err(ConfigError::Zero("access_token_ttl_secs"));
        }
        if self.job_retention_days == 0 {
            return Err(ConfigError::Zero("job_retention_days"));
        }
        if self.worker_concurrency == 0 {
            return Err(ConfigError::Zero("worker_concurrency"));
        }
        if self.job_lease_secs < 3 {
            return Err(ConfigError::Invalid(
                "job_lease_secs must be at least 3".to_owned(),
            ));
        }
        if self.inventory_idle_secs == 0 {
            return Err(ConfigError::Zero("inventory_idle_secs"));
        }
        if self.inventory_busy_ms < 100 || self.task_poll_ms < 50 {
            return Err(ConfigError::Invalid(
                "inventory_busy_ms must be at least 100 and task_poll_ms at least 50".to_owned(),
            ));
        }
        if self.alert_interval_secs == 0 || self.alert_scan_interval_secs == 0 {
            return Err(ConfigError::Zero(
                "alert_interval_secs and alert_scan_interval_secs",
            ));
        }
        if self.refresh_token_ttl_secs == 0 {
            return Err(ConfigError::Zero("refresh_token_ttl_secs"));
        }
        if self
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.0.trim().len() < 24 || t.0.trim() != t.0)
        {
            return Err(ConfigError::Invalid(
                "metrics_token must be at least 24 characters, without surrounding spaces"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// The database to use: the configured URL, or SQLite inside the data directory.
    pub fn database(&self) -> DatabaseUrl {
        self.database_url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::Sqlite(self.data_dir.join("pmp.db")))
    }

    /// Whether the portal terminates TLS itself.
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some()
    }
}

/// One sentence naming the key, what is wrong with it and where the bad value came from.
fn describe(error: &figment::Error) -> String {
    let unknown = match &error.kind {
        figment::error::Kind::UnknownField(field, _) => Some(field.as_str()),
        _ => None,
    };
    let mut keys: Vec<&str> = error.path.iter().map(String::as_str).collect();
    if let Some(field) = unknown.filter(|f| keys.last() != Some(f)) {
        keys.push(field);
    }
    let source = error
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(figment::Source::File(path)) => format!(" in {}", path.display()),
            _ if m.name.contains("environment") => {
                format!(
                    " in environment variable PMP_{}",
                    keys.join("_").to_uppercase()
                )
            }
            _ => String::new(),
        })
        .unwrap_or_default();
    match (unknown, &error.kind) {
        (Some(field), _) => format!("unknown key `{field}`{source} (see docs/configuration.md)"),
        (None, kind) if keys.is_empty() => format!("{kind}{source}"),
        (None, kind) => format!("key `{}`{source}: {kind}", keys.join(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_loopback_and_sqlite_in_data_dir() {
        let config = Config::default();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database(),
            DatabaseUrl::Sqlite(PathBuf::from("./data/pmp.db"))
        );
    }

    #[test]
    fn every_key_is_documented() {
        let doc = include_str!("../../../../docs/configuration.md");
        let keys = serde_json::to_value(Config::default()).expect("serialisable");
        for key in keys.as_object().expect("a table").keys() {
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "docs/configuration.md lacks `{key}`"
            );
        }
    }

    #[test]
    fn a_short_or_padded_metrics_token_is_refused() {
        for token in ["short", " scrape-token-0123456789abcdef", &"x".repeat(23)] {
            let config = Config {
                metrics_token: Some(SecretValue(token.to_owned())),
                ..Config::default()
            };
            assert!(
                matches!(config.validate(), Err(ConfigError::Invalid(_))),
                "{token:?}"
            );
        }
        let config = Config {
            metrics_token: Some(SecretValue("x".repeat(24))),
            ..Config::default()
        };
        assert!(config.validate().is_ok());
    }

    #[test]
    fn half_tls_is_refused() {
        let config = Config {
            tls_cert: Some("cert.pem".into()),
            ..Config::default()
        };
        assert!(matches!(config.validate(), Err(ConfigError::TlsHalf)));
    }
}
