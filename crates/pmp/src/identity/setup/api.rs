//! First-run setup over the API: `POST /api/v1/setup` with the setup token from the start-up
//! log creates the first administrator (201), refuses a wrong token (401) and answers 409 once
//! setup is complete.

use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use crate::access::routes::{Access, Routes};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{ApiJson, AppError, Client};
use crate::identity::IdentityState;
use crate::identity::setup;
use crate::identity::signin::password;
use crate::identity::users::{self, Username};

/// The setup API route; public, since it is how the first credential comes to be.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new().add("/api/v1/setup", &["POST"], Access::Public, post(run_setup))
}

#[derive(Deserialize)]
struct SetupBody {
    setup_token: String,
    username: String,
    password: String,
}

#[derive(Serialize)]
struct Created {
    id: String,
    username: String,
}

async fn run_setup(
    State(state): State<IdentityState>,
    client: Client,
    ApiJson(body): ApiJson<SetupBody>,
) -> Result<Response, AppError> {
    let db = &state.db;
    let complete = || AppError::Conflict("Setup is already complete.".to_owned());
    if !setup::token_matches(db, &body.setup_token)
        .await
        .map_err(AppError::internal)?
    {
        // Completing setup deletes the token, so a request that lost a race lands here too.
        if setup::is_complete(db).await.map_err(AppError::internal)? {
            return Err(complete());
        }
        tracing::warn!(ip = %client.ip, "API setup attempted with an invalid token");
        return Err(AppError::Unauthorized(
            "invalid_setup_token",
            "The setup token is not valid; use the one in the newest start-up log.".to_owned(),
        ));
    }
    let name =
        Username::parse(&body.username).map_err(|e| AppError::BadRequest(format!("{e}.")))?;
    password::check_policy(&body.password, name.as_str())
        .map_err(|e| AppError::BadRequest(format!("{e}.")))?;
    let hash = password::hash(body.password)
        .await
        .map_err(AppError::internal)?;
    if !setup::create_first_admin(db, &name, &hash)
        .await
        .map_err(AppError::internal)?
    {
        return Err(complete());
    }
    let user = users::by_name(db, &name)
        .await
        .map_err(AppError::internal)?
        .ok_or_else(|| AppError::internal("the first administrator vanished"))?;
    let subject = Subject::user(&user.id, &user.username);
    events::record(
        db,
        Kind::SetupCompleted,
        subject,
        &client,
        "first administrator created via API",
    )
    .await
    .map_err(AppError::internal)?;
    let body = Created {
        id: user.id,
        username: user.username,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
