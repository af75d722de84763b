//! API access tokens: compact JWTs signed with HMAC-SHA256 under the portal's JWT secret.
//! The algorithm is pinned: a token is accepted only when its header says exactly
//! `{"alg":"HS256","typ":"JWT"}`, so `alg: none` and RS/HS confusion never get as far as a
//! signature check. Written here on `hmac` rather than taken from `jsonwebtoken`, whose
//! current releases pull in the `rsa` crate (RUSTSEC-2023-0071) or a second crypto provider
//! for algorithms this portal never accepts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How long API credentials live.
#[derive(Debug, Clone, Copy)]
pub struct TokenPolicy {
    /// Access token (JWT) lifetime in seconds.
    pub access_secs: u64,
    /// Refresh token lifetime in seconds.
    pub refresh_secs: u64,
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The user's `auth_epoch` when issued; a later bump voids the token.
    pub epoch: i64,
}

/// Why a token was refused. Callers answer every case with the same 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's header is not HS256")]
    Algorithm,
    #[error("the token's signature does not match")]
    Signature,
    #[error("the token has expired")]
    Expired,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn mac(key: &[u8], signing_input: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(signing_input.as_bytes());
    mac
}

/// Signs `claims` into a compact JWT.
pub fn encode(key: &[u8], claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    // Serialising four plain fields cannot fail.
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(mac(key, &input).finalize().into_bytes());
    format!("{input}.{signature}")
}

/// Verifies `token` and returns its claims if it is unexpired at `now`.
pub fn decode(key: &[u8], token: &str, now: i64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed)?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|_| JwtError::Malformed)?;
    let expected: serde_json::Value =
        serde_json::from_str(HEADER).map_err(|_| JwtError::Malformed)?;
    if header != expected {
        return Err(JwtError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    mac(key, signing_input)
        .verify_slice(&signature)
        .map_err(|_| JwtError::Signature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JwtError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)?;
    if now >= claims.exp {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"k8Jq2vN0pWm5Rz7Lx4Tb9Yc1Hd6Fg3Ae";

    fn claims() -> Claims {
        Claims {
            sub: "user-1".into(),
            iat: 1000,
            exp: 4600,
            epoch: 0,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let token = encode(KEY, &claims());
        assert_eq!(decode(KEY, &token, 2000), Ok(claims()));
        assert_eq!(decode(KEY, &token, 4600), Err(JwtError::Expired));
        assert_eq!(
            decode(b"another key of 32 bytes or more!", &token, 2000),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn forged_headers_and_payloads_are_refused() {
        let token = encode(KEY, &claims());
        let (_, rest) = token.split_once('.').unwrap();
        let (payload, _) = rest.split_once('.').unwrap();
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
        );
        assert_eq!(decode(KEY, &none, 2000), Err(JwtError::Algorithm));
        let rs = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#)
        );
        assert_eq!(decode(KEY, &rs, 2000), Err(JwtError::Algorithm));
        let admin =
            URL_SAFE_NO_PAD.encode(r#"{"sub":"admin","iat":1000,"exp":99999999999,"epoch":0}"#);
        let signature = token.rsplit('.').next().unwrap();
        let tampered = format!("{}.{admin}.{signature}", token.split('.').next().unwrap());
        assert_eq!(decode(KEY, &tampered, 2000), Err(JwtError::Signature));
        for junk in ["", "a.b", "a.b.c.d", "...", "ü.ü.ü"] {
            assert!(decode(KEY, junk, 2000).is_err(), "{junk}");
        }
    }
}
