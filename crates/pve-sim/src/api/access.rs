//! `POST /access/ticket`: log in with a password, with PVE's second step for users with TOTP
//! (a half ticket, then `password=totp:<code>` with `tfa-challenge`), or renew by posting the
//! current ticket as the password. Failures are PVE's 401 "authentication failure" whatever
//! went wrong. Also `GET /access/permissions`.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::params::Params;
use super::{Answer, ApiState, Principal, PveError, data, same};
use crate::perms::Access;
use crate::read;

fn failure() -> PveError {
    PveError::new(StatusCode::UNAUTHORIZED, "authentication failure")
}

/// Whether `code` is the current (or the previous) TOTP code of the base32 `secret`.
fn totp_matches(secret: &str, code: &str) -> bool {
    let Ok(seed) = totp_rs::Secret::try_from_base32(secret) else {
        return false;
    };
    let totp = totp_rs::Builder::new()
        .with_secret(seed)
        .build_noncompliant();
    totp.check_current(code).is_some()
}

pub(super) async fn ticket(State(state): State<ApiState>, params: Params) -> Answer {
    params.only(&[
        "new-format",
        "otp",
        "password",
        "path",
        "privs",
        "realm",
        "tfa-challenge",
        "username",
    ])?;
    params.require(&["password", "username"])?;
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        return Err(failure());
    };
    let userid = match (username.contains('@'), params.get("realm")) {
        (false, Some(realm)) => format!("{username}@{realm}"),
        _ => username.to_owned(),
    };
    let Some(user) = read(&state.access).users.get(&userid).cloned() else {
        tracing::info!(%userid, "simulated login failed: no such user");
        return Err(failure());
    };
    let full = |state: &ApiState| {
        data(json!({
            "username": userid,
            "ticket": state.tickets.ticket(&userid),
            "CSRFPreventionToken": state.tickets.csrf(&userid),
            "clustername": state.cluster.name,
        }))
    };
    if let Some(challenge) = params.get("tfa-challenge") {
        let code = password.strip_prefix("totp:").unwrap_or_default();
        let secret = user.totp.as_deref().unwrap_or_default();
        if state.tickets.check_half_ticket(challenge, &userid) && totp_matches(secret, code) {
            return full(&state);
        }
        return Err(failure());
    }
    let renewed = state
        .tickets
        .check_ticket(password)
        .is_some_and(|holder| holder == userid);
    if renewed {
        return full(&state);
    }
    if !same(password, &user.password) {
        tracing::info!(%userid, "simulated login failed");
        return Err(failure());
    }
    match (&user.totp, params.get("otp")) {
        (None, _) => full(&state),
        (Some(secret), Some(otp)) if totp_matches(secret, otp) => full(&state),
        (Some(_), Some(_)) => Err(failure()),
        // The schema's return object is closed apart from `NeedTFA`: no `cap`, no CSRF yet.
        (Some(_), None) => data(json!({
            "username": userid,
            "ticket": state.tickets.half_ticket(&userid),
            "NeedTFA": 1,
        })),
    }
}

/// `GET /access/permissions`: `{path: {privilege: 1}}` for the caller, one of its tokens, or
/// (with Sys.Audit on `/access`) anyone.
pub(super) async fn permissions(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    params: Params,
) -> Answer {
    params.only(&["path", "userid"])?;
    let caller = principal.0.as_str();
    let subject = params.get("userid").unwrap_or(caller);
    let access = read(&state.access);
    let own = subject == caller || Access::owner(subject) == caller;
    if !own
        && !access
            .privileges(caller, "/access", None)
            .contains("Sys.Audit")
    {
        return Err(super::check::denied("/access", &["Sys.Audit"]));
    }
    let paths: Vec<String> = match params.get("path") {
        Some(path) => vec![path.to_owned()],
        None => access.acl_paths().into_iter().collect(),
    };
    let map: BTreeMap<String, Value> = paths
        .into_iter()
        .map(|path| {
            let privs: BTreeMap<&str, u8> = access
                .privileges(subject, &path, None)
                .into_iter()
                .map(|p| (p, 1))
                .collect();
            (path, json!(privs))
        })
        .collect();
    data(json!(map))
}
