//! What can go wrong talking to PVE, each variant phrased as one sentence for the person who
//! has to fix it. Secrets never appear in these messages.

use std::time::Duration;

use crate::Fingerprint;

/// What went wrong talking to PVE.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Proxmox VE server at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "the connection to {url} broke before Proxmox VE answered, so the request may or may not have been carried out: {reason}"
    )]
    Interrupted { url: String, reason: String },
    #[error(
        "the Proxmox VE server at {url} presented certificate {seen}, but {expected} is pinned; if the certificate was renewed, confirm the new fingerprint"
    )]
    FingerprintMismatch {
        url: String,
        expected: Fingerprint,
        seen: Fingerprint,
    },
    #[error("the certificate of the Proxmox VE server at {url} is not trusted: {reason}")]
    Untrusted { url: String, reason: String },
    #[error("Proxmox VE rejected the credentials: {0}")]
    AuthenticationFailed(String),
    #[error("Proxmox VE asks for a second factor (TOTP) and none is configured")]
    SecondFactorRequired,
    #[error("Proxmox VE refused the request for lack of permission: {0}")]
    PermissionDenied(String),
    #[error("Proxmox VE answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("Proxmox VE did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Proxmox VE sent a reply that could not be understood: {0}")]
    Decode(String),
    #[error("the Proxmox VE URL {0} is not an https:// URL with a host")]
    BadUrl(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no guest {0} exists on this cluster (or the credentials may not see it)")]
    GuestNotFound(u32),
}

impl Error {
    /// A short stable name of the kind of failure, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "unreachable",
            Self::Interrupted { .. } => "interrupted",
            Self::FingerprintMismatch { .. } => "certificate_changed",
            Self::Untrusted { .. } => "untrusted",
            Self::AuthenticationFailed(_) | Self::SecondFactorRequired => "authentication",
            Self::PermissionDenied(_) => "permission",
            Self::Api { .. } => "api",
            Self::Timeout(_) => "timeout",
            Self::Decode(_) => "decode",
            Self::BadUrl(_) | Self::Invalid(_) => "invalid",
            Self::GuestNotFound(_) => "not_found",
        }
    }

    /// Whether a read may be tried again (on this member or another): the request may not
    /// have reached PVE, or PVE was briefly unable to answer.
    pub(crate) fn transient(&self) -> bool {
        match self {
            Self::Unreachable { .. }
            | Self::Interrupted { .. }
            | Self::Timeout(_)
            | Self::Decode(_) => true,
            Self::Api { status, .. } => *status >= 500 && *status != 501,
            _ => false,
        }
    }

    /// Whether another cluster member should be tried: this one never took the request (a
    /// broken connection is not enough: a write may have been carried out).
    pub(crate) fn member_down(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// The innermost cause of a transport error, which is the part that says what happened.
pub(crate) fn transport_error(url: &str, error: &reqwest::Error, timeout: Duration) -> Error {
    if error.is_timeout() {
        return Error::Timeout(timeout);
    }
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        reason = inner.to_string();
        source = inner.source();
    }
    if reason.contains("certificate") || reason.contains("UnknownIssuer") {
        return Error::Untrusted {
            url: url.to_owned(),
            reason,
        };
    }
    if !error.is_connect() {
        return Error::Interrupted {
            url: url.to_owned(),
            reason,
        };
    }
    Error::Unreachable {
        url: url.to_owned(),
        reason,
    }
}
