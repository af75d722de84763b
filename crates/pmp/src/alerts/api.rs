//! The alert API: alerts and rules for holders of `audit.view`; resolving alerts, changing
//! rules and managing notification channels for holders of `settings.manage`. A channel's
//! secret is shown once, at creation; its test reports delivered or not, never what the remote
//! answered.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::Privilege;
use crate::access::routes::{Access, Routes};
use crate::alerts::AlertsState;
use crate::alerts::channels::{self, Channel, Kind, Target};
use crate::alerts::rules::{Rule, Settings};
use crate::alerts::send::{self, Failed, Message};
use crate::alerts::{destination, store};
use crate::http::{ApiJson, AppError};
use axum::extract::FromRef;

/// Alert routes.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    AlertsState: FromRef<S>,
{
    let view = Access::Privilege(Privilege::AuditView);
    let manage = Access::Privilege(Privilege::SettingsManage);
    Routes::new()
        .add("/api/v1/alerts", &["GET"], view, get(list))
        .add(
            "/api/v1/alerts/{id}/resolve",
            &["POST"],
            manage,
            post(resolve),
        )
        .add("/api/v1/alert-rules", &["GET"], view, get(rules))
        .add(
            "/api/v1/alert-rules/{rule}",
            &["PUT"],
            manage,
            put(set_rule),
        )
        .add(
            "/api/v1/notification-channels",
            &["GET"],
            manage,
            get(channel_list),
        )
        .add(
            "/api/v1/notification-channels",
            &["POST"],
            manage,
            post(create),
        )
        .add(
            "/api/v1/notification-channels/{id}",
            &["DELETE"],
            manage,
            delete(remove),
        )
        .add(
            "/api/v1/notification-channels/{id}/test",
            &["POST"],
            manage,
            post(test),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    state: Option<String>,
}

async fn list(
    State(state): State<AlertsState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let filter = match q.state.as_deref() {
        None => None,
        Some(s @ ("firing" | "resolved")) => Some(s),
        Some(_) => {
            return Err(AppError::BadRequest(
                "state is firing or resolved".to_owned(),
            ));
        }
    };
    let alerts = store::list(&state.db, filter, 500)
        .await
        .map_err(AppError::internal)?;
    Ok(Json(alerts).into_response())
}

async fn resolve(
    State(state): State<AlertsState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let alert = store::resolve_id(&state.db, &id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    crate::alerts::notify::changed(&state.db, &alert)
        .await
        .map_err(AppError::internal)?;
    Ok(Json(alert).into_response())
}

#[derive(Serialize)]
struct RuleView {
    rule: &'static str,
    description: &'static str,
    #[serde(flatten)]
    settings: Settings,
}

async fn rules(State(state): State<AlertsState>) -> Result<Response, AppError> {
    let mut out = Vec::new();
    for rule in Rule::ALL {
        let settings = store::settings(&state.db, rule)
            .await
            .map_err(AppError::internal)?;
        out.push(RuleView {
            rule: rule.as_str(),
            description: rule.describe(),
            settings,
        });
    }
    Ok(Json(out).into_response())
}

async fn set_rule(
    State(state): State<AlertsState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Settings>,
) -> Result<Response, AppError> {
    let rule = Rule::parse(&name).ok_or(AppError::NotFound)?;
    body.check().map_err(AppError::BadRequest)?;
    store::set_settings(&state.db, rule, body)
        .await
        .map_err(AppError::internal)?;
    Ok(Json(RuleView {
        rule: rule.as_str(),
        description: rule.describe(),
        settings: body,
    })
    .into_response())
}

async fn channel_list(State(state): State<AlertsState>) -> Result<Json<Vec<Channel>>, AppError> {
    Ok(Json(
        channels::list(&state.db)
            .await
            .map_err(AppError::internal)?,
    ))
}

/// A channel to add, from the API or the page's form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewChannel {
    pub name: String,
    pub kind: Kind,
    pub target: Target,
    #[serde(default)]
    pub secret: Option<String>,
}

/// Refuses a channel whose destination resolves to an internal address (or not at all).
async fn check_destination(
    state: &AlertsState,
    kind: Kind,
    target: &Target,
) -> Result<(), AppError> {
    let refused = |e: destination::Refused| AppError::BadRequest(format!("{}.", e));
    match kind {
        Kind::Email => {
            let host = target.host.as_deref().unwrap_or_default();
            destination::resolve(host, target.port.unwrap_or(587), &state.notify_allow)
                .await
                .map_err(refused)?;
        }
        _ => {
            let url = destination::parse_url(target.url.as_deref().unwrap_or_default())
                .map_err(refused)?;
            destination::resolve_url(&url, &state.notify_allow)
                .await
                .map_err(refused)?;
        }
    }
    Ok(())
}

/// Checks and stores a channel; returns it, and the webhook signing key to show once.
pub(super) async fn add_channel(
    state: &AlertsState,
    body: NewChannel,
) -> Result<(Channel, Option<String>), AppError> {
    channels::validate(&body.name, body.kind, &body.target, body.secret.as_deref())
        .map_err(AppError::BadRequest)?;
    check_destination(state, body.kind, &body.target).await?;
    // A webhook always signs: without a key of the administrator's, one is made and shown once.
    let secret = match (body.kind, body.secret) {
        (Kind::Webhook, None) => {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key))
        }
        (_, secret) => secret,
    };
    let channel = channels::create(
        &state.db,
        &state.keys,
        &body.name,
        body.kind,
        &body.target,
        secret.as_deref(),
    )
    .await
    .map_err(AppError::internal)?;
    let shown = if body.kind == Kind::Webhook {
        secret
    } else {
        None
    };
    Ok((channel, shown))
}

async fn create(
    State(state): State<AlertsState>,
    ApiJson(body): ApiJson<NewChannel>,
) -> Result<Response, AppError> {
    let (channel, shown) = add_channel(&state, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "channel": channel, "signing_key": shown })),
    )
        .into_response())
}

async fn remove(
    State(state): State<AlertsState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if channels::delete(&state.db, &id)
        .await
        .map_err(AppError::internal)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

/// Sends a test notification through channel `id`: delivered, or a generic failure (the
/// remote's answer goes to the log only).
pub(super) async fn test_channel(state: &AlertsState, id: &str) -> Result<(), AppError> {
    let (channel, secret) = channels::get(&state.db, &state.keys, id)
        .await
        .map_err(AppError::internal)?
        .ok_or(AppError::NotFound)?;
    let message = Message {
        event: "test".to_owned(),
        title: "Test notification from Proxmox Manager Portal".to_owned(),
        body: format!("The channel {} works.", channel.name),
        alert: serde_json::Value::Null,
    };
    match send::deliver(&channel, secret.as_deref(), &message, &state.notify_allow).await {
        Ok(()) => Ok(()),
        Err(Failed::Refused(e)) => Err(AppError::BadRequest(format!("{e}."))),
        Err(Failed::Delivery { detail, .. }) => {
            tracing::warn!(channel = %channel.id, %detail, "test notification not delivered");
            Err(AppError::BadGateway(
                "The test notification could not be delivered; the portal's log has the reason."
                    .to_owned(),
            ))
        }
    }
}

async fn test(
    State(state): State<AlertsState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    test_channel(&state, &id).await?;
    Ok(Json(json!({ "delivered": true })).into_response())
}
