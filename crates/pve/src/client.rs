//! The client: one HTTPS connection pool per cluster member, each with its own trust (PVE
//! nodes each have their own certificate), a preferred member that requests go to first and
//! a fail-over to the next member when one is unreachable, bounded retries with backoff for
//! reads only, per-request timeouts, and PVE's envelope and error shapes turned into [`Error`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Fingerprint;
use crate::auth::{Auth, Credentials, Session};
use crate::error::{Error, transport_error};
use crate::tls::{PinnedVerifier, Trust, client_config};

/// One cluster member the client may talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `https://host:8006` (a trailing `/api2/json` is accepted).
    pub url: String,
    /// How its certificate is trusted.
    pub trust: Trust,
}

/// Told of every API call once it ended (after its retries), for latency and error metrics.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// `method path` took `elapsed` and ended with `outcome`.
    fn observe(&self, method: &str, path: &str, elapsed: Duration, outcome: Result<(), &Error>);
}

/// Timeouts, retries, ticket renewal and who watches the calls.
#[derive(Debug, Clone)]
pub struct Options {
    /// Per request, connection included.
    pub timeout: Duration,
    /// How many times a failed read is tried again (writes never are).
    pub read_retries: u32,
    /// First pause between read retries; doubles each time.
    pub retry_backoff: Duration,
    /// A ticket older than this is renewed before use (PVE's last two hours).
    pub ticket_renew_after: Duration,
    /// Told of every call, when set.
    pub observer: Option<Arc<dyn Observer>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            read_retries: 2,
            retry_backoff: Duration::from_millis(250),
            ticket_renew_after: Duration::from_secs(60 * 60),
            observer: None,
        }
    }
}

/// One member's connection pool.
#[derive(Debug)]
pub(crate) struct Conn {
    pub base: String,
    http: reqwest::Client,
    verifier: Option<Arc<PinnedVerifier>>,
}

#[derive(Debug)]
struct Inner {
    members: Vec<Conn>,
    preferred: AtomicUsize,
    session: Session,
    options: Options,
}

/// A client for one PVE cluster (or a single node). Cheap to clone; clones share connections
/// and the ticket.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// `url` without a trailing slash or `/api2/json`, if it is an `https://` URL with a host.
pub(crate) fn base_url(url: &str) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/api2/json").unwrap_or(trimmed);
    let host = trimmed.strip_prefix("https://").unwrap_or_default();
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return Err(Error::BadUrl(url.chars().take(200).collect()));
    }
    Ok(trimmed.to_owned())
}

pub(crate) fn connect(url: &str, trust: &Trust, timeout: Duration) -> Result<Conn, Error> {
    let base = base_url(url)?;
    let (tls, verifier) = client_config(trust).map_err(Error::Invalid)?;
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(Conn {
        base,
        http,
        verifier,
    })
}

#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Value,
}

#[derive(serde::Deserialize, Default)]
struct ErrorEnvelope {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Option<std::collections::BTreeMap<String, String>>,
}

/// The reason phrase of an answer when it is not the standard one for its status: PVE puts its
/// message there (595 `No route to host` from a proxied request to a node that is down, with an
/// empty body). hyper keeps such a phrase in the response's extensions.
fn reason_phrase(response: &reqwest::Response) -> Option<String> {
    let phrase = response.extensions().get::<hyper::ext::ReasonPhrase>()?;
    let text = String::from_utf8_lossy(phrase.as_bytes()).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

impl Conn {
    /// Sends one request to this member and unwraps PVE's envelope.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let url = format!("{}/api2/json{path}", self.base);
        let mut request = self.http.request(method.clone(), url);
        request = if method == Method::GET || method == Method::DELETE {
            request.query(params)
        } else {
            request.form(params)
        };
        for (name, value) in credentials.headers(&method) {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.send_error(&e, timeout))?;
        let status = response.status();
        let reason = reason_phrase(&response);
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&self.base, &e, timeout))?;
        if status.is_success() {
            return serde_json::from_slice::<Envelope>(&body)
                .map(|e| e.data)
                .map_err(|_| {
                    Error::Decode(format!(
                        "{} answered a body that is not PVE's JSON",
                        self.base
                    ))
                });
        }
        let parsed = serde_json::from_slice::<ErrorEnvelope>(&body).unwrap_or_default();
        let mut message = parsed
            .message
            .filter(|m| !m.trim().is_empty())
            .or(reason)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
            .trim()
            .to_owned();
        if let Some(errors) = parsed.errors {
            let detail: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            message = format!("{message} ({})", detail.join("; "));
        }
        Err(match status.as_u16() {
            401 => Error::AuthenticationFailed(message),
            403 => Error::PermissionDenied(message),
            code => Error::Api {
                status: code,
                message,
            },
        })
    }

    /// A bare GET, for probing the certificate only.
    pub(crate) async fn raw_get(&self, path: &str) -> Result<(), reqwest::Error> {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map(drop)
    }

    /// The fingerprint the last handshake presented, when this member is pinned.
    pub(crate) fn seen(&self) -> Option<Fingerprint> {
        self.verifier.as_ref().and_then(|v| v.seen())
    }

    fn send_error(&self, error: &reqwest::Error, timeout: Duration) -> Error {
        if let Some(verifier) = &self.verifier
            && let (Some(seen), Some(expected)) = (verifier.seen(), verifier.pinned())
            && seen != expected
        {
            return Error::FingerprintMismatch {
                url: self.base.clone(),
                expected,
                seen,
            };
        }
        transport_error(&self.base, error, timeout)
    }
}

impl Client {
    /// A client for a single node trusting only the certificate `pinned`, with API-token or
    /// password authentication.
    pub fn new(
        url: &str,
        auth: Auth,
        pinned: Fingerprint,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let member = Member {
            url: url.to_owned(),
            trust: Trust::Fingerprint(pinned),
        };
        let options = Options {
            timeout,
            ..Options::default()
        };
        Self::cluster(vec![member], auth, options)
    }

    /// A client for the cluster reachable through `members`, tried in order.
    pub fn cluster(members: Vec<Member>, auth: Auth, options: Options) -> Result<Self, Error> {
        if members.is_empty() {
            return Err(Error::Invalid(
                "at least one Proxmox VE address is needed".to_owned(),
            ));
        }
        let conns = members
            .iter()
            .map(|m| connect(&m.url, &m.trust, options.timeout))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                members: conns,
                preferred: AtomicUsize::new(0),
                session: Session::new(auth),
                options,
            }),
        })
    }

    /// The base URL of the member requests currently go to first.
    pub fn current_member(&self) -> &str {
        let i = self.inner.preferred.load(Ordering::Relaxed);
        &self.inner.members[i % self.inner.members.len()].base
    }

    /// `GET path` deserialized into `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, Error> {
        let value = self.call(Method::GET, path, params).await?;
        serde_json::from_value(value).map_err(|e| Error::Decode(format!("{path}: {e}")))
    }

    /// `method path` with `params`; returns PVE's `data`. Reads are retried with backoff on
    /// transient failures; every request moves on to the next member when one is down.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, Error> {
        let options = &self.inner.options;
        let attempts = if method == Method::GET {
            1 + options.read_retries
        } else {
            1
        };
        let mut pause = options.retry_backoff;
        let mut attempt = 1;
        let started = std::time::Instant::now();
        loop {
            match self.on_members(&method, path, params).await {
                Err(e) if attempt < attempts && e.transient() => {
                    tracing::debug!(%path, attempt, error = %e, "retrying a Proxmox VE read");
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                    attempt += 1;
                }
                result => {
                    if let Some(observer) = &options.observer {
                        let outcome = result.as_ref().map(drop);
                        observer.observe(method.as_str(), path, started.elapsed(), outcome);
                    }
                    return result;
                }
            }
        }
    }

    async fn on_members(
        &self,
        method: &Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, Error> {
        let inner = &self.inner;
        let count = inner.members.len();
        let first = inner.preferred.load(Ordering::Relaxed);
        let mut last = None;
        for step in 0..count {
            let index = (first + step) % count;
            let conn = &inner.members[index];
            match self.on_member(conn, method, path, params).await {
                Err(e) if e.member_down() => last = Some(e),
                result => {
                    if step > 0 && result.is_ok() {
                        tracing::info!(member = %conn.base, "Proxmox VE requests fail over to another member");
                        inner.preferred.store(index, Ordering::Relaxed);
                    }
                    return result;
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Invalid("no Proxmox VE member".to_owned())))
    }

    async fn on_member(
        &self,
        conn: &Conn,
        method: &Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value, Error> {
        let inner = &self.inner;
        let timeout = inner.options.timeout;
        let renew = inner.options.ticket_renew_after;
        let credentials = inner.session.credentials(conn, timeout, renew).await?;
        match conn
            .send(method.clone(), path, params, &credentials, timeout)
            .await
        {
            // A ticket that PVE no longer accepts (expired, key rotated): log in again, once.
            Err(Error::AuthenticationFailed(_)) if credentials.is_ticket() => {
                inner.session.forget().await;
                let fresh = inner.session.credentials(conn, timeout, renew).await?;
                conn.send(method.clone(), path, params, &fresh, timeout)
                    .await
            }
            result => result,
        }
    }
}
