//! Proxmox VE API client. The only way the portal reaches PVE: TLS trust by pinned
//! fingerprint, API-token authentication, PVE's `{"data": ...}` envelope, and errors that say
//! in one sentence what happened. Knows nothing of the portal.

mod tls;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use tls::PinnedVerifier;
pub use tls::{Fingerprint, FingerprintError};

/// How the client proves who it is.
#[derive(Clone)]
pub enum Auth {
    /// `USER@REALM!TOKENID` and its secret.
    ApiToken { id: String, secret: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The secret never reaches a log line through Debug.
            Self::ApiToken { id, .. } => write!(f, "ApiToken({id})"),
        }
    }
}

/// What went wrong talking to PVE, phrased for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Proxmox VE server at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "the Proxmox VE server presented certificate {seen}, but {expected} is pinned; if the certificate was renewed, confirm the new fingerprint"
    )]
    FingerprintMismatch {
        expected: Fingerprint,
        seen: Fingerprint,
    },
    #[error("Proxmox VE rejected the credentials: {0}")]
    AuthenticationFailed(String),
    #[error("Proxmox VE refused the request for lack of permission: {0}")]
    PermissionDenied(String),
    #[error("Proxmox VE answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("Proxmox VE did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Proxmox VE sent a reply that could not be understood: {0}")]
    Decode(String),
    #[error("the Proxmox VE URL {0} is not an https:// URL")]
    BadUrl(String),
}

/// The answer of `GET /version`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Version {
    /// Point release, `x.y`.
    pub release: String,
    /// Full pve-manager version.
    pub version: String,
    /// Git revision.
    pub repoid: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize, Default)]
struct ErrorEnvelope {
    #[serde(default)]
    message: Option<String>,
}

/// A client for one PVE endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    pinned: Fingerprint,
    verifier: Arc<PinnedVerifier>,
    timeout: Duration,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn https_client(
    verifier: Arc<PinnedVerifier>,
    timeout: Duration,
) -> Result<reqwest::Client, Error> {
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Decode(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| Error::Decode(e.to_string()))
}

fn base_url(url: &str) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/api2/json").unwrap_or(trimmed);
    if !trimmed.starts_with("https://") || trimmed.len() <= "https://".len() {
        return Err(Error::BadUrl(url.chars().take(200).collect()));
    }
    Ok(trimmed.to_owned())
}

/// Reads the fingerprint of the certificate `url` presents, without trusting it: the
/// handshake is always aborted, so no request is ever sent.
pub async fn probe_fingerprint(url: &str) -> Result<Fingerprint, Error> {
    let base = base_url(url)?;
    let verifier = PinnedVerifier::new(None, &provider());
    let timeout = Duration::from_secs(10);
    let http = https_client(verifier.clone(), timeout)?;
    let result = http.get(format!("{base}/api2/json/version")).send().await;
    match (verifier.seen(), result) {
        (Some(seen), _) => Ok(seen),
        (None, Err(e)) => Err(transport_error(&base, &e, timeout)),
        (None, Ok(_)) => Err(Error::Decode("no certificate was presented".to_owned())),
    }
}

fn transport_error(base: &str, error: &reqwest::Error, timeout: Duration) -> Error {
    if error.is_timeout() {
        return Error::Timeout(timeout);
    }
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        reason = inner.to_string();
        source = inner.source();
    }
    Error::Unreachable {
        url: base.to_owned(),
        reason,
    }
}

impl Client {
    /// A client for `url` (`https://host:8006`) trusting only the certificate `pinned`.
    pub fn new(
        url: &str,
        auth: Auth,
        pinned: Fingerprint,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let base = base_url(url)?;
        let verifier = PinnedVerifier::new(Some(pinned), &provider());
        Ok(Self {
            http: https_client(verifier.clone(), timeout)?,
            base,
            auth,
            pinned,
            verifier,
            timeout,
        })
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<Version, Error> {
        self.get("/version").await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let Auth::ApiToken { id, secret } = &self.auth;
        let response = self
            .http
            .get(format!("{}/api2/json{path}", self.base))
            .header("Authorization", format!("PVEAPIToken={id}={secret}"))
            .send()
            .await
            .map_err(|e| self.send_error(&e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&self.base, &e, self.timeout))?;
        if status.is_success() {
            return serde_json::from_slice::<Envelope<T>>(&body)
                .map(|e| e.data)
                .map_err(|e| Error::Decode(e.to_string()));
        }
        let message = serde_json::from_slice::<ErrorEnvelope>(&body)
            .unwrap_or_default()
            .message
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        Err(match status.as_u16() {
            401 => Error::AuthenticationFailed(message),
            403 => Error::PermissionDenied(message),
            code => Error::Api {
                status: code,
                message,
            },
        })
    }

    fn send_error(&self, error: &reqwest::Error) -> Error {
        match self.verifier.seen() {
            Some(seen) if seen != self.pinned => Error::FingerprintMismatch {
                expected: self.pinned,
                seen,
            },
            _ => transport_error(&self.base, error, self.timeout),
        }
    }
}
