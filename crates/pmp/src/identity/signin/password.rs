//! Password policy and hashing: argon2id with OWASP's parameters (19 MiB, t=2, p=1), run on
//! the blocking pool with bounded concurrency so a flood of logins cannot starve the server.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;
use tokio::sync::Semaphore;

/// Shortest password accepted, in characters.
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted, in characters: enough for any passphrase, short enough that
/// hashing it is never a denial of service.
pub const MAX_LENGTH: usize = 1024;

/// Commonly used passwords (see `data/README.md`), lower case.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// At most this many hashes run at once (half the cores, at least one); the rest wait their
/// turn in order. The other half of the machine keeps serving everything else, so a login
/// flood slows logins down but cannot starve the portal (see `benches/login.rs`).
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    Semaphore::new(cores.div_ceil(2))
});

/// Why a password was refused or could not be hashed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_LENGTH} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_LENGTH} characters long")]
    TooLong,
    #[error("the password must not contain the username")]
    ContainsUsername,
    #[error("the password is on a list of commonly used passwords; choose another")]
    Common,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn argon2() -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(19 * 1024, 2, 1, None).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks a new password against the policy.
pub fn check_policy(password: &str, username: &str) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    let lower = password.to_lowercase();
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Err(PasswordError::ContainsUsername);
    }
    if COMMON.contains(lower.as_str()) {
        return Err(PasswordError::Common);
    }
    Ok(())
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub async fn hash(password: String) -> Result<String, PasswordError> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
        argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| PasswordError::Hashing(e.to_string()))?
}

/// True when `password` matches the PHC string `stored`.
pub async fn verify(password: String, stored: String) -> Result<bool, PasswordError> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&stored).map_err(|e| PasswordError::Hashing(e.to_string()))?;
        Ok(argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| PasswordError::Hashing(e.to_string()))?
}

/// True when `stored` was made with other parameters than today's (an older or weaker
/// setting, or another algorithm), so the password should be hashed again at sign-in.
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return true;
    };
    let Ok(current) = argon2() else {
        return false;
    };
    let params = current.params();
    let get = |name: &str| parsed.params.get_decimal(name);
    parsed.algorithm.as_str() != "argon2id"
        || parsed.version != Some(0x13)
        || get("m") != Some(params.m_cost())
        || get("t") != Some(params.t_cost())
        || get("p") != Some(params.p_cost())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_counts_characters_not_bytes() {
        assert_eq!(check_policy("short", "admin"), Err(PasswordError::TooShort));
        assert_eq!(check_policy("ääääääääääää", "admin"), Ok(()));
        assert_eq!(
            check_policy(&"x".repeat(1025), "admin"),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            check_policy("my-Admin-password", "admin"),
            Err(PasswordError::ContainsUsername)
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        assert!(
            COMMON.len() >= 10_000,
            "the list has {} entries",
            COMMON.len()
        );
        assert_eq!(
            check_policy("Q1w2e3r4t5y6", "admin"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_policy("QWERTY123456", "admin"),
            Err(PasswordError::Common)
        );
        assert_eq!(check_policy("violet harbour lantern", "admin"), Ok(()));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let stored = hash("correct horse battery".to_owned()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(
            verify("correct horse battery".to_owned(), stored.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify("wrong horse battery".to_owned(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!needs_rehash(&stored));
    }

    #[test]
    fn weaker_or_foreign_hashes_are_upgraded() {
        let weak = "$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$\
            ZBBhvD2aHEOlE0ViRwXv7Q5x/MFg2gS8zBb2lxrMQ1M";
        assert!(needs_rehash(weak));
        assert!(needs_rehash("$2b$12$abcdefghijklmnopqrstuv"));
        assert!(needs_rehash("not a hash"));
    }
}
