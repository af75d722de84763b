//! Adding a server: every field checked before anything is sent anywhere (id, name, address
//! against the SSRF rules, fingerprint, credentials), then the entry node contacted pinned to
//! the fingerprint the administrator confirmed, the members and their certificates learned
//! from the cluster, the permission self-test run, and only then the record written, with the
//! credentials sealed. Its poller starts right away.

use serde::Deserialize;

use crate::http::AppError;
use crate::ids::{ServerId, printable_name};
use crate::servers::ServersState;
use crate::servers::connect;
use crate::servers::store::{self, NewAuth, Server};

/// Longest server name.
pub const MAX_NAME: usize = 64;
/// What a server name must be.
pub const NAME_RULE: &str = "a server name is 1 to 64 printable characters";

/// The add-server request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewServer {
    pub id: String,
    pub name: String,
    pub url: String,
    /// The entry node's certificate fingerprint, as the administrator confirmed it.
    pub fingerprint: String,
    #[serde(default)]
    pub token_id: Option<String>,
    #[serde(default)]
    pub token_secret: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub totp_secret: Option<String>,
}

/// `user@realm`: a PVE user id.
fn valid_userid(raw: &str) -> bool {
    let Some((user, realm)) = raw.split_once('@') else {
        return false;
    };
    let ok = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    ok(user, 64) && ok(realm, 32)
}

/// The credentials of the request: a token, or a user and password, never both.
/// Credential fields as a request gives them.
#[derive(Debug, Default)]
pub struct CredentialFields {
    pub token_id: Option<String>,
    pub token_secret: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub totp_secret: Option<String>,
}

impl CredentialFields {
    /// Whether any credential field is given.
    pub fn any(&self) -> bool {
        self.token_id.is_some()
            || self.token_secret.is_some()
            || self.username.is_some()
            || self.password.is_some()
            || self.totp_secret.is_some()
    }
}

fn credentials(body: &NewServer) -> Result<NewAuth, AppError> {
    checked_credentials(&CredentialFields {
        token_id: body.token_id.clone(),
        token_secret: body.token_secret.clone(),
        username: body.username.clone(),
        password: body.password.clone(),
        totp_secret: body.totp_secret.clone(),
    })
}

/// The credentials of a request: a token, or a user and password, never both.
pub fn checked_credentials(body: &CredentialFields) -> Result<NewAuth, AppError> {
    let bad = |m: &str| AppError::BadRequest(m.to_owned());
    let secret_ok = |s: &str| !s.is_empty() && s.len() <= 512 && !s.chars().any(char::is_control);
    match (
        &body.token_id,
        &body.token_secret,
        &body.username,
        &body.password,
    ) {
        (Some(id), Some(secret), None, None) => {
            let (user, name) = id
                .split_once('!')
                .ok_or_else(|| bad("a token id is user@realm!name"))?;
            let name_ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid_userid(user) || !name_ok {
                return Err(bad("a token id is user@realm!name"));
            }
            if !secret_ok(secret) || body.totp_secret.is_some() {
                return Err(bad("the token secret is missing or malformed"));
            }
            Ok(NewAuth::Token {
                id: id.clone(),
                secret: secret.clone(),
            })
        }
        (None, None, Some(user), Some(password)) => {
            if !valid_userid(user) {
                return Err(bad("a user name is user@realm, for example root@pam"));
            }
            if !secret_ok(password) {
                return Err(bad("the password is missing or malformed"));
            }
            let totp = body
                .totp_secret
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty());
            if totp.is_some_and(|t| totp_rs::Secret::try_from_base32(t).is_err()) {
                return Err(bad(
                    "the TOTP secret is the base32 key shown when the second factor was set up",
                ));
            }
            Ok(NewAuth::Password {
                userid: user.clone(),
                password: password.clone(),
                totp: totp.map(str::to_owned),
            })
        }
        _ => Err(bad(
            "give either an API token (token_id and token_secret) or a user name and password",
        )),
    }
}

/// Checks, connects, learns and stores; returns the server and its self-test.
pub async fn add(
    state: &ServersState,
    body: NewServer,
) -> Result<(Server, pve::SelfTest), AppError> {
    let id = ServerId::parse(&body.id).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let name = printable_name(&body.name, MAX_NAME)
        .ok_or_else(|| AppError::BadRequest(NAME_RULE.to_owned()))?;
    let fingerprint: pve::Fingerprint = body
        .fingerprint
        .parse()
        .map_err(|e: pve::FingerprintError| AppError::BadRequest(e.to_string()))?;
    let auth = credentials(&body)?;
    let url = crate::servers::address::check(&body.url)
        .await
        .map_err(AppError::BadRequest)?;
    if store::get(&state.db, &id)
        .await
        .map_err(AppError::internal)?
        .is_some()
    {
        return Err(AppError::Conflict(format!(
            "a server with the id {id} exists"
        )));
    }
    let onboarded = connect::onboard(&url, fingerprint, &auth)
        .await
        .map_err(|e| crate::servers::api::upstream(&e))?;
    let inserted = store::insert(
        &state.db,
        &state.keys,
        &id,
        &name,
        &auth,
        &onboarded.members,
    )
    .await
    .map_err(AppError::internal)?;
    if !inserted {
        return Err(AppError::Conflict(format!(
            "a server with the id {id} exists"
        )));
    }
    crate::servers::start(
        &state.inventory,
        state.db.clone(),
        state.keys.clone(),
        id.clone(),
    );
    let server = store::get(&state.db, &id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    tracing::info!(server = %id, version = %onboarded.version, members = server.members.len(), "server added");
    Ok((server, onboarded.self_test))
}
