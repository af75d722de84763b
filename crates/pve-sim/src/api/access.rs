//! `POST /access/ticket`: log in with a password, or renew by posting the current ticket as the
//! password. Failures are PVE's 401 "authentication failure" whatever went wrong.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::params::Params;
use super::{Answer, ApiState, PveError, data, same};

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
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        let missing = if params.get("username").is_none() {
            "username"
        } else {
            "password"
        };
        return Err(PveError::parameter(
            missing,
            "property is missing and it is not optional",
        ));
    };
    let userid = match (username.contains('@'), params.get("realm")) {
        (false, Some(realm)) => format!("{username}@{realm}"),
        _ => username.to_owned(),
    };
    let renewed = state
        .tickets
        .check_ticket(password)
        .is_some_and(|holder| holder == userid);
    let valid = renewed || (userid == "root@pam" && same(password, &state.root_password));
    if !valid {
        tracing::info!(%userid, "simulated login failed");
        return Err(PveError::new(
            StatusCode::UNAUTHORIZED,
            "authentication failure",
        ));
    }
    // The schema's return object is closed: no `cap`, which real PVE adds.
    data(json!({
        "username": userid,
        "ticket": state.tickets.ticket(&userid),
        "CSRFPreventionToken": state.tickets.csrf(&userid),
        "clustername": state.cluster.name,
    }))
}
