//! TOTP two-factor authentication (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way). Seeds are encrypted with the data key and bound to their user.
//! Each accepted code advances the user's `last_step`, in one conditional statement, so a
//! code (or an older one) is never accepted twice, even by two instances at once. Ten
//! single-use recovery codes, stored as SHA-256, stand in for a lost phone.

use rand::RngCore as _;
use totp_rs::{Builder, Totp};

use crate::db::now;
use crate::db::{BeginWrite as _, Db, DbError};
use crate::identity::digest;
use crate::secrets::Keys;
use crate::with_pool;

/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Proxmox Manager Portal";
/// How many recovery codes enrolment hands out.
pub const RECOVERY_CODES: usize = 10;

/// An enrolment in progress: what the person scans or types into their app.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The seed in base32, for typing in by hand.
    pub secret: String,
    /// The `otpauth://` URL the QR code holds.
    pub url: String,
    /// The QR code as an SVG document, rendered here (no third-party service sees the seed).
    pub qr_svg: String,
}

/// The outcome of checking a second-factor code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A valid, fresh TOTP code.
    Accepted,
    /// An unused recovery code (now spent).
    RecoveryCode,
    /// A code that was valid but already used (or older than one used).
    Replayed,
    /// Not a valid code.
    Wrong,
}

/// Why TOTP could not be set up or checked.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the stored TOTP seed cannot be decrypted with this portal's data key")]
    Seed,
    #[error("the TOTP generator refused its parameters: {0}")]
    Generator(String),
}

pub(crate) fn purpose(user_id: &str) -> String {
    format!("totp:{user_id}")
}

fn generator(seed: Vec<u8>, username: &str) -> Result<Totp, TotpError> {
    Builder::new()
        .with_secret(seed)
        .with_account_name(username)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| TotpError::Generator(e.to_string()))
}

async fn stored(
    db: &Db,
    keys: &Keys,
    user_id: &str,
    username: &str,
) -> Result<Option<(Totp, bool)>, TotpError> {
    const SQL: &str = "SELECT secret_enc, confirmed_at FROM totp WHERE user_id = $1";
    let row: Option<(String, Option<i64>)> = with_pool!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_optional(pool).await.map_err(DbError::from)?);
    let Some((sealed, confirmed)) = row else {
        return Ok(None);
    };
    let seed = keys
        .open(&purpose(user_id), &sealed)
        .map_err(|_| TotpError::Seed)?;
    Ok(Some((generator(seed, username)?, confirmed.is_some())))
}

/// Whether `user_id` has confirmed TOTP.
pub async fn is_enabled(db: &Db, user_id: &str) -> Result<bool, DbError> {
    const SQL: &str = "SELECT COUNT(*) FROM totp WHERE user_id = $1 AND confirmed_at IS NOT NULL";
    let n: i64 =
        with_pool!(db, pool => sqlx::query_scalar(SQL).bind(user_id).fetch_one(pool).await?);
    Ok(n > 0)
}

/// Starts (or restarts) enrolment with a fresh 160-bit seed. Refused while TOTP is confirmed:
/// replacing a working second factor must go through disabling it first.
pub async fn begin(
    db: &Db,
    keys: &Keys,
    user_id: &str,
    username: &str,
) -> Result<Option<Enrolment>, TotpError> {
    const UPSERT: &str = "INSERT INTO totp (user_id, secret_enc, confirmed_at, last_step) \
        VALUES ($1, $2, NULL, 0) ON CONFLICT (user_id) DO UPDATE SET secret_enc = excluded.secret_enc \
        WHERE totp.confirmed_at IS NULL";
    let mut seed = vec![0u8; 20];
    rand::rng().fill_bytes(&mut seed);
    let totp = generator(seed.clone(), username)?;
    let sealed = keys.seal(&purpose(user_id), &seed);
    let written = with_pool!(db, pool => sqlx::query(UPSERT).bind(user_id).bind(&sealed).execute(pool).await.map_err(DbError::from)?.rows_affected());
    if written == 0 {
        return Ok(None);
    }
    let url = totp
        .to_url()
        .map_err(|e| TotpError::Generator(e.to_string()))?;
    let qr_svg = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| TotpError::Generator(e.to_string()))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .build();
    // Inline in HTML, the XML declaration in front of the <svg> element has no place.
    let qr_svg = qr_svg
        .find("<svg")
        .map_or(qr_svg.clone(), |start| qr_svg[start..].to_owned());
    Ok(Some(Enrolment {
        secret: totp.secret().to_base32(),
        url,
        qr_svg,
    }))
}

/// The seed of an enrolment in progress, for showing it again after a wrong confirmation.
pub async fn pending(
    db: &Db,
    keys: &Keys,
    user_id: &str,
    username: &str,
) -> Result<Option<Totp>, TotpError> {
    Ok(stored(db, keys, user_id, username)
        .await?
        .filter(|(_, confirmed)| !confirmed)
        .map(|(t, _)| t))
}

/// Spends the time step `step` for `user_id`: true when it is newer than every step used.
async fn spend_step(db: &Db, user_id: &str, step: i64, confirm: bool) -> Result<bool, DbError> {
    const SQL: &str = "UPDATE totp SET last_step = $2, \
        confirmed_at = CASE WHEN $3 THEN $4 ELSE confirmed_at END \
        WHERE user_id = $1 AND last_step < $2 AND (confirmed_at IS NOT NULL) <> $3";
    let n = with_pool!(db, pool => sqlx::query(SQL).bind(user_id).bind(step).bind(confirm).bind(now()).execute(pool).await?.rows_affected());
    Ok(n == 1)
}

fn matching_step(totp: &Totp, code: &str) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(now()).unwrap_or_default();
    totp.check(&code, now)
        .and_then(|step| i64::try_from(step).ok())
}

/// Confirms an enrolment with a first code; returns the recovery codes (shown once), or none
/// when the code is wrong.
pub async fn confirm(
    db: &Db,
    keys: &Keys,
    user_id: &str,
    username: &str,
    code: &str,
) -> Result<Option<Vec<String>>, TotpError> {
    let Some(totp) = pending(db, keys, user_id, username).await? else {
        return Ok(None);
    };
    let Some(step) = matching_step(&totp, code) else {
        return Ok(None);
    };
    if !spend_step(db, user_id, step, true).await? {
        return Ok(None);
    }
    Ok(Some(new_recovery_codes(db, user_id).await?))
}

/// Checks a second-factor code at sign-in: a TOTP code or a recovery code.
pub async fn verify(
    db: &Db,
    keys: &Keys,
    user_id: &str,
    username: &str,
    code: &str,
) -> Result<Check, TotpError> {
    const SPEND_RECOVERY: &str = "UPDATE recovery_codes SET used_at = $3 \
        WHERE code_hash = $1 AND user_id = $2 AND used_at IS NULL";
    let Some((totp, true)) = stored(db, keys, user_id, username).await? else {
        return Ok(Check::Wrong);
    };
    if let Some(step) = matching_step(&totp, code) {
        return Ok(if spend_step(db, user_id, step, false).await? {
            Check::Accepted
        } else {
            Check::Replayed
        });
    }
    let normalised = normalise_recovery(code);
    if normalised.len() != 10 {
        return Ok(Check::Wrong);
    }
    let spent = with_pool!(db, pool => sqlx::query(SPEND_RECOVERY)
        .bind(digest(&normalised))
        .bind(user_id)
        .bind(now())
        .execute(pool)
        .await
        .map_err(DbError::from)?
        .rows_affected());
    Ok(if spent == 1 {
        Check::RecoveryCode
    } else {
        Check::Wrong
    })
}

/// Removes TOTP and recovery codes (the user's own choice, or an administrator's reset).
pub async fn disable(db: &Db, user_id: &str) -> Result<bool, DbError> {
    const TOTP: &str = "DELETE FROM totp WHERE user_id = $1";
    const CODES: &str = "DELETE FROM recovery_codes WHERE user_id = $1";
    let removed = with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let n = sqlx::query(TOTP).bind(user_id).execute(&mut *tx).await?.rows_affected();
        sqlx::query(CODES).bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        n
    });
    Ok(removed > 0)
}

/// Unused recovery codes left.
pub async fn recovery_codes_left(db: &Db, user_id: &str) -> Result<i64, DbError> {
    const SQL: &str = "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL";
    Ok(with_pool!(db, pool => sqlx::query_scalar(SQL).bind(user_id).fetch_one(pool).await?))
}

fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Replaces the user's recovery codes with ten fresh ones (`abcde-fghij`), returned once.
pub async fn new_recovery_codes(db: &Db, user_id: &str) -> Result<Vec<String>, DbError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    const CLEAR: &str = "DELETE FROM recovery_codes WHERE user_id = $1";
    const INSERT: &str =
        "INSERT INTO recovery_codes (code_hash, user_id, used_at) VALUES ($1, $2, NULL)";
    // The thread-local generator is not Send, so it lives only in this block.
    let codes: Vec<String> = {
        let mut rng = rand::rng();
        (0..RECOVERY_CODES)
            .map(|_| {
                let chars: String = (0..10)
                    .map(|_| {
                        char::from(
                            ALPHABET[usize::try_from(rng.next_u32()).unwrap_or(0) % ALPHABET.len()],
                        )
                    })
                    .collect();
                format!("{}-{}", &chars[..5], &chars[5..])
            })
            .collect()
    };
    with_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(CLEAR).bind(user_id).execute(&mut *tx).await?;
        for code in &codes {
            sqlx::query(INSERT).bind(digest(&normalise_recovery(code))).bind(user_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(codes)
}

/// The current code for a base32 seed (for tests and the benchmark, which play the phone).
pub fn code_for(secret_base32: &str, unix: u64) -> Option<String> {
    let seed = totp_rs::Secret::try_from_base32(secret_base32).ok()?;
    let totp = Builder::new().with_secret(seed).build_noncompliant();
    Some(totp.generate(unix).to_string())
}
