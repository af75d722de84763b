//! Delivering one message over one channel. HTTP channels connect to the address that
//! `destination` checked (the host name still names the TLS certificate), with a short
//! timeout and no redirects; the webhook body is signed with HMAC-SHA256 over
//! `timestamp.body` (headers `X-PMP-Timestamp`, `X-PMP-Signature: sha256=HEX`). A remote's
//! answer is logged, never shown: a failure reads the same to the person whatever it said.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::json;
use sha2::Sha256;

use crate::alerts::channels::{Channel, Kind, Security};
use crate::alerts::destination::{self, Refused};
use crate::config::ProxyNet;

const TIMEOUT: Duration = Duration::from_secs(10);

/// What to say.
#[derive(Debug, Clone)]
pub struct Message {
    /// `alert.firing`, `alert.resolved` or `test`.
    pub event: String,
    /// One line.
    pub title: String,
    /// A few lines.
    pub body: String,
    /// The alert, for webhooks.
    pub alert: serde_json::Value,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    #[error(transparent)]
    Refused(#[from] Refused),
    /// `detail` goes to the log only; `retry` says whether trying later may help.
    #[error("the notification could not be delivered")]
    Delivery { detail: String, retry: bool },
}

fn failed(detail: impl std::fmt::Display, retry: bool) -> Failed {
    Failed::Delivery {
        detail: detail.to_string(),
        retry,
    }
}

/// The signature header value for `body` sent at `timestamp`.
pub fn signature(key: &[u8], timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length, so this never refuses one.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn http_client(host: &str, addr: std::net::SocketAddr) -> Result<reqwest::Client, Failed> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e, false))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve(host, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .user_agent("pmp-notify")
        .build()
        .map_err(|e| failed(e, false))
}

async fn post(
    url: &str,
    allowed: &[ProxyNet],
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<(), Failed> {
    let url = destination::parse_url(url)?;
    let addr = destination::resolve_url(&url, allowed).await?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = http_client(&host, addr)?;
    let response = build(client.post(url))
        .send()
        .await
        .map_err(|e| failed(e, true))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // 429 and 5xx may pass; other refusals will not.
    let retry = status.as_u16() == 429 || status.is_server_error();
    Err(failed(format!("the destination answered {status}"), retry))
}

/// Sends `message` over `channel` (whose secret is `secret`), refusing internal destinations
/// that `allowed` does not list.
pub async fn deliver(
    channel: &Channel,
    secret: Option<&str>,
    message: &Message,
    allowed: &[ProxyNet],
) -> Result<(), Failed> {
    let url = channel.target.url.as_deref().unwrap_or_default();
    match channel.kind {
        Kind::Webhook => {
            let body = json!({
                "event": message.event,
                "title": message.title,
                "message": message.body,
                "alert": message.alert,
            })
            .to_string();
            let at = crate::db::now();
            let signed = secret.map(|key| signature(key.as_bytes(), at, &body));
            post(url, allowed, |r| {
                let r = r
                    .header("content-type", "application/json")
                    .header("x-pmp-event", &message.event)
                    .header("x-pmp-timestamp", at.to_string());
                match signed {
                    Some(sig) => r.header("x-pmp-signature", sig),
                    None => r,
                }
                .body(body)
            })
            .await
        }
        Kind::Ntfy => {
            let title: String = message
                .title
                .chars()
                .filter(|c| c.is_ascii() && !c.is_control())
                .collect();
            post(url, allowed, |r| {
                let r = r
                    .header("title", title)
                    .header("tags", "warning")
                    .body(message.body.clone());
                match secret {
                    Some(token) => r.bearer_auth(token),
                    None => r,
                }
            })
            .await
        }
        Kind::Gotify => {
            let endpoint = format!("{}/message", url.trim_end_matches('/'));
            let body = json!({"title": message.title, "message": message.body, "priority": 5});
            post(&endpoint, allowed, |r| {
                r.header("x-gotify-key", secret.unwrap_or_default())
                    .json(&body)
            })
            .await
        }
        Kind::Email => mail(channel, secret, message, allowed).await,
    }
}

async fn mail(
    channel: &Channel,
    secret: Option<&str>,
    message: &Message,
    allowed: &[ProxyNet],
) -> Result<(), Failed> {
    let t = &channel.target;
    let host = t.host.as_deref().unwrap_or_default();
    let security = t.security.unwrap_or(Security::Starttls);
    let port = t.port.unwrap_or(match security {
        Security::Starttls => 587,
        Security::Tls => 465,
        Security::None => 25,
    });
    let addr = destination::resolve(host, port, allowed).await?;
    let name = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let params = || TlsParameters::new(name.clone()).map_err(|e| failed(e, false));
    let tls = match security {
        Security::Starttls => Tls::Required(params()?),
        Security::Tls => Tls::Wrapper(params()?),
        Security::None => Tls::None,
    };
    // Connect to the checked address; the certificate is still verified against the name.
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
            .port(port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
    if let (Some(user), Some(password)) = (t.username.as_deref(), secret) {
        builder = builder.credentials(Credentials::new(user.to_owned(), password.to_owned()));
    }
    let parse = |a: Option<&str>| {
        a.unwrap_or_default()
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| failed(e, false))
    };
    let email = lettre::Message::builder()
        .from(parse(t.from.as_deref())?)
        .to(parse(t.to.as_deref())?)
        .subject(message.title.clone())
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(message.body.clone())
        .map_err(|e| failed(e, false))?;
    builder
        .build()
        .send(email)
        .await
        .map(drop)
        .map_err(|e| failed(e, true))
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signatures_cover_time_and_body() {
        let a = signature(b"key", 1, "{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature(b"key", 2, "{}"));
        assert_ne!(a, signature(b"key", 1, "{ }"));
        assert_ne!(a, signature(b"other", 1, "{}"));
    }
}
