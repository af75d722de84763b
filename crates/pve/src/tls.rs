//! Certificate trust for PVE nodes, which almost always present self-signed certificates:
//! a pinned SHA-256 fingerprint per node, checked on every handshake; or a CA bundle or the
//! system's roots with host-name checks; and a probe that reads a presented certificate's
//! fingerprint for trust-on-first-use without trusting it. There is deliberately no "accept
//! any certificate" mode.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

/// How a node's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Exactly the certificate with this SHA-256 fingerprint (PVE's self-signed default).
    Fingerprint(Fingerprint),
    /// Certificates issued by a CA in this PEM bundle, for the URL's host name.
    CaBundle(String),
    /// Certificates issued by a CA the operating system trusts, for the URL's host name.
    SystemRoots,
}

/// The TLS configuration for `trust`, and the pinning verifier when there is one (it records
/// what each handshake presented, so that a mismatch can name both fingerprints).
pub(crate) fn client_config(
    trust: &Trust,
) -> Result<(rustls::ClientConfig, Option<Arc<PinnedVerifier>>), String> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let roots = match trust {
        Trust::Fingerprint(pin) => {
            let verifier = PinnedVerifier::new(Some(*pin), &provider);
            let config = builder
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone())
                .with_no_client_auth();
            return Ok((config, Some(verifier)));
        }
        Trust::CaBundle(pem) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "the CA bundle is not valid PEM".to_owned())?,
        Trust::SystemRoots => rustls_native_certs::load_native_certs().certs,
    };
    let mut store = rustls::RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(roots);
    if added == 0 {
        return Err("no usable CA certificate was found".to_owned());
    }
    Ok((
        builder.with_root_certificates(store).with_no_client_auth(),
        None,
    ))
}

/// The ring provider: one crypto implementation for the whole portal.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A SHA-256 certificate fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

/// Why a fingerprint string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a certificate fingerprint is 32 hex pairs, optionally separated by colons")]
pub struct FingerprintError;

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// Accepts PVE's `AA:BB:...` notation, or 64 hex digits, in either case.
    fn from_str(s: &str) -> Result<Self, FingerprintError> {
        let hex_digits: String = s.trim().chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(hex_digits).map_err(|_| FingerprintError)?;
        bytes.try_into().map(Self).map_err(|_| FingerprintError)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// Accepts exactly the pinned certificate, and records what each handshake presented so that
/// a mismatch can name both fingerprints.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    pinned: Option<Fingerprint>,
    seen: Mutex<Option<Fingerprint>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    /// `pinned: None` accepts nothing and only records, for probing.
    pub(crate) fn new(pinned: Option<Fingerprint>, provider: &CryptoProvider) -> Arc<Self> {
        Arc::new(Self {
            pinned,
            seen: Mutex::new(None),
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// The pinned fingerprint, if any.
    pub(crate) fn pinned(&self) -> Option<Fingerprint> {
        self.pinned
    }

    /// The fingerprint presented by the most recent handshake.
    pub(crate) fn seen(&self) -> Option<Fingerprint> {
        self.seen.lock().map(|s| *s).unwrap_or(None)
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(presented);
        }
        match self.pinned {
            Some(pinned) if pinned == presented => Ok(ServerCertVerified::assertion()),
            _ => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pve_notation_and_plain_hex() {
        let colon = "F5:20:E4:EB:04:DF:83:70:52:4B:80:06:7D:63:16:C9:0B:6A:0E:9D:CB:DD:B1:BF:91:9C:AD:3B:52:B0:3F:96";
        let fp: Fingerprint = colon.parse().unwrap();
        assert_eq!(fp.to_string(), colon);
        let plain: Fingerprint = colon.replace(':', "").to_lowercase().parse().unwrap();
        assert_eq!(fp, plain);
        assert_eq!("F5:20".parse::<Fingerprint>(), Err(FingerprintError));
        assert_eq!(
            "zz".repeat(32).parse::<Fingerprint>(),
            Err(FingerprintError)
        );
    }
}
