//! The portal's two keys: the JWT signing secret and the data key that encrypts secrets at
//! rest (XChaCha20-Poly1305). Each comes from the configuration (environment), from a file,
//! or, when neither is given, from a file in the data directory that the first start fills
//! with random bytes. Short values and known placeholders stop start-up: a guessable key
//! would make every token forgeable and every stored secret readable.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

use crate::config::{Config, SecretValue};

/// Shortest JWT secret accepted, in bytes.
pub const MIN_JWT_SECRET: usize = 32;

/// Fragments that mark a value somebody copied from an example instead of generating. All
/// are six letters or more, so a random value contains one by chance about once in 10^7.
const PLACEHOLDERS: &[&str] = &[
    "change",
    "replace",
    "example",
    "placeholder",
    "secret",
    "default",
    "password",
    "insecure",
];

/// Why a key could not be loaded, in one sentence for the operator.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the {what} is shorter than {min} bytes; generate one with `openssl rand -base64 48`")]
    TooShort { what: &'static str, min: usize },
    #[error("the {what} looks like a placeholder copied from an example; generate a random one")]
    Placeholder { what: &'static str },
    #[error("the data key must be 32 bytes in standard base64 (`openssl rand -base64 32`)")]
    BadDataKey,
    #[error("cannot read the {what} file {path}: {reason}")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "the data key does not open the secrets stored in the database; start with the key that sealed them (PMP_SECRET_KEY, secret_key_file or DATA_DIR/secret.key)"
    )]
    WrongDataKey,
    #[error("cannot write a new {what} to {path}: {reason}")]
    Write {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
}

/// Why a sealed value could not be opened: tampered with, another key, or another purpose.
#[derive(Debug, thiserror::Error)]
#[error("an encrypted value could not be decrypted with this portal's data key")]
pub struct OpenError;

/// The loaded keys. `Debug` shows nothing of them.
pub struct Keys {
    jwt: Vec<u8>,
    data: XChaCha20Poly1305,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

/// Where a key comes from, in order of preference.
struct Source<'a> {
    what: &'static str,
    value: Option<&'a SecretValue>,
    file: Option<&'a Path>,
    generated: PathBuf,
}

impl Source<'_> {
    /// The key's text: given, read from the named file, or read from (or first written to)
    /// the generated file.
    fn text(&self, generate: impl FnOnce() -> String) -> Result<String, KeyError> {
        if let Some(value) = self.value {
            return Ok(value.0.trim().to_owned());
        }
        let path = self.file.unwrap_or(&self.generated);
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(text.trim().to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.file.is_none() => {
                let text = generate();
                write_private(path, &text).map_err(|e| KeyError::Write {
                    what: self.what,
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                tracing::warn!(path = %path.display(), "generated a new {} (keep it with the database backups)", self.what);
                Ok(text)
            }
            Err(e) => Err(KeyError::Read {
                what: self.what,
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        }
    }
}

/// Creates `path` readable by its owner only, refusing to overwrite anything.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// Refuses a JWT secret that is short, repetitive or a known placeholder.
pub fn check_jwt_secret(secret: &str) -> Result<(), KeyError> {
    const WHAT: &str = "JWT secret";
    if secret.len() < MIN_JWT_SECRET {
        return Err(KeyError::TooShort {
            what: WHAT,
            min: MIN_JWT_SECRET,
        });
    }
    let lower = secret.to_ascii_lowercase();
    let distinct = lower
        .bytes()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if distinct < 8 || PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return Err(KeyError::Placeholder { what: WHAT });
    }
    Ok(())
}

impl Keys {
    /// Loads (or on first start generates) both keys as the configuration says.
    pub fn load(config: &Config) -> Result<Self, KeyError> {
        let jwt = Source {
            what: "JWT secret",
            value: config.jwt_secret.as_ref(),
            file: config.jwt_secret_file.as_deref(),
            generated: config.data_dir.join("jwt.secret"),
        }
        .text(|| URL_SAFE_NO_PAD.encode(random(48)))?;
        check_jwt_secret(&jwt)?;
        let data = Source {
            what: "data key",
            value: config.secret_key.as_ref(),
            file: config.secret_key_file.as_deref(),
            generated: config.data_dir.join("secret.key"),
        }
        .text(|| STANDARD.encode(random(32)))?;
        let data = STANDARD
            .decode(data.as_bytes())
            .ok()
            .filter(|bytes| bytes.len() == 32)
            .ok_or(KeyError::BadDataKey)?;
        if data.iter().all(|b| *b == data[0]) {
            return Err(KeyError::Placeholder { what: "data key" });
        }
        let data = XChaCha20Poly1305::new_from_slice(&data).map_err(|_| KeyError::BadDataKey)?;
        Ok(Self {
            jwt: jwt.into_bytes(),
            data,
        })
    }

    /// The same signing key with another data key (for re-sealing under a new one).
    pub fn with_data_key(&self, key: &[u8; 32]) -> Result<Self, KeyError> {
        Ok(Self {
            jwt: self.jwt.clone(),
            data: XChaCha20Poly1305::new_from_slice(key).map_err(|_| KeyError::BadDataKey)?,
        })
    }

    /// The HS256 signing key.
    pub fn jwt(&self) -> &[u8] {
        &self.jwt
    }

    /// Encrypts `plaintext` for `purpose` (e.g. `totp:{user_id}`), which binds the result to
    /// its place: a value copied to another row or column no longer opens.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> String {
        let mut nonce_bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce_bytes);
        let nonce = XNonce::from(nonce_bytes);
        let payload = Payload {
            msg: plaintext,
            aad: purpose.as_bytes(),
        };
        // Encryption fails only for messages beyond 256 GiB; an empty result then never opens.
        let sealed = self.data.encrypt(&nonce, payload).unwrap_or_default();
        format!(
            "v1.{}.{}",
            URL_SAFE_NO_PAD.encode(nonce_bytes),
            URL_SAFE_NO_PAD.encode(sealed)
        )
    }

    /// Decrypts what `seal` produced for the same `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let mut parts = sealed.split('.');
        let (Some("v1"), Some(nonce), Some(body), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError);
        };
        let nonce = URL_SAFE_NO_PAD.decode(nonce).map_err(|_| OpenError)?;
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| OpenError)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| OpenError)?;
        let payload = Payload {
            msg: &body,
            aad: purpose.as_bytes(),
        };
        self.data
            .decrypt(&XNonce::from(nonce), payload)
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> Config {
        Config {
            data_dir: dir.to_owned(),
            ..Config::default()
        }
    }

    #[test]
    fn generated_keys_are_private_files_reused_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let first = Keys::load(&config(dir.path())).unwrap();
        let second = Keys::load(&config(dir.path())).unwrap();
        assert_eq!(first.jwt(), second.jwt());
        let sealed = first.seal("totp:u1", b"seed");
        assert_eq!(second.open("totp:u1", &sealed).unwrap(), b"seed");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("jwt.secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn weak_secrets_are_refused() {
        for weak in [
            "short",
            "change-me-change-me-change-me-change-me",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "your-256-bit-secret-your-256-bit-secret",
        ] {
            assert!(check_jwt_secret(weak).is_err(), "{weak}");
        }
        assert!(check_jwt_secret("k8Jq2vN0pWm5Rz7Lx4Tb9Yc1Hd6Fg3Ae").is_ok());
        let dir = tempfile::tempdir().unwrap();
        let mut bad = config(dir.path());
        bad.secret_key = Some(SecretValue(STANDARD.encode([0u8; 32])));
        assert!(matches!(
            Keys::load(&bad),
            Err(KeyError::Placeholder { .. })
        ));
        bad.secret_key = Some(SecretValue("not base64!".to_owned()));
        assert!(matches!(Keys::load(&bad), Err(KeyError::BadDataKey)));
    }

    #[test]
    fn sealed_values_are_bound_to_their_purpose_and_detect_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::load(&config(dir.path())).unwrap();
        let sealed = keys.seal("totp:alice", b"seed");
        assert!(keys.open("totp:mallory", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.open("totp:alice", &tampered).is_err());
        assert!(keys.open("totp:alice", "v1..").is_err());
        assert_ne!(
            keys.seal("totp:alice", b"seed"),
            sealed,
            "fresh nonce each time"
        );
    }
}
