//! The simulator's self-signed certificate, like a fresh PVE node's, and the SHA-256
//! fingerprint in PVE's notation that clients pin.

use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use crate::SimError;

/// A generated certificate and key.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    key: Vec<u8>,
    /// SHA-256 of the DER certificate, upper-case hex pairs joined by colons.
    pub fingerprint: String,
}

/// PVE's fingerprint notation for a DER certificate.
pub fn fingerprint_of(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Certificate {
    /// A new self-signed certificate for `localhost` and 127.0.0.1.
    pub fn generate() -> Result<Self, String> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
        let der = certified.cert.der().to_vec();
        Ok(Self {
            fingerprint: fingerprint_of(&der),
            der,
            key: certified.signing_key.serialize_der(),
        })
    }

    /// The certificate in DER form.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub(crate) fn rustls_config(&self) -> Result<RustlsConfig, SimError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SimError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(self.der.clone())], key)
            .map_err(|e| SimError::Tls(e.to_string()))?;
        Ok(RustlsConfig::from_config(Arc::new(config)))
    }
}
