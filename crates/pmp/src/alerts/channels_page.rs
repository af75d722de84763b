//! The notification channels part of the "Alerts" page, for holders of `settings.manage`: add a
//! channel (checked exactly as the API checks it, internal destinations refused), send a test
//! through one (delivered, or a generic failure), and delete one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;

use crate::access::Privilege;
use crate::access::routes::{Access, Routes};
use crate::alerts::AlertsState;
use crate::alerts::api::{NewChannel, add_channel, test_channel};
use crate::alerts::channels::{self, Kind, Security, Target};
use crate::alerts::page::{Flash, page, refused};
use crate::http::{AppError, FormFields, form_value};
use crate::identity::sessions::form::PageForm;
use crate::ui::PageError;
use axum::extract::FromRef;

/// Channel forms.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    AlertsState: FromRef<S>,
{
    let manage = Access::Privilege(Privilege::SettingsManage);
    Routes::new()
        .add("/alerts/channels", &["POST"], manage, post(add))
        .add("/alerts/channels/{id}/test", &["POST"], manage, post(test))
        .add(
            "/alerts/channels/{id}/delete",
            &["POST"],
            manage,
            post(remove),
        )
}

/// The channel the form describes; only the fields its kind uses are taken.
fn from_form(fields: &FormFields) -> Result<NewChannel, String> {
    let text = |name: &str| {
        let value = form_value(fields, name).trim();
        (!value.is_empty()).then(|| value.to_owned())
    };
    let kind = match form_value(fields, "kind") {
        "webhook" => Kind::Webhook,
        "ntfy" => Kind::Ntfy,
        "gotify" => Kind::Gotify,
        "email" => Kind::Email,
        _ => return Err("Choose a kind: webhook, ntfy, Gotify or e-mail.".to_owned()),
    };
    let mut target = Target {
        url: None,
        host: None,
        port: None,
        security: None,
        username: None,
        from: None,
        to: None,
    };
    if kind == Kind::Email {
        target.host = text("host");
        target.port = match text("port") {
            None => None,
            Some(port) => Some(
                port.parse()
                    .map_err(|_| "The port is 1 to 65535.".to_owned())?,
            ),
        };
        target.security = Some(match form_value(fields, "security") {
            "tls" => Security::Tls,
            "none" => Security::None,
            _ => Security::Starttls,
        });
        target.username = text("username");
        target.from = text("from");
        target.to = text("to");
    } else {
        target.url = text("url");
    }
    Ok(NewChannel {
        name: form_value(fields, "name").to_owned(),
        kind,
        target,
        secret: text("secret"),
    })
}

async fn add(
    State(state): State<AlertsState>,
    PageForm {
        viewer,
        input: fields,
    }: PageForm<FormFields>,
) -> Result<Response, PageError> {
    let body = match from_form(&fields) {
        Ok(body) => body,
        Err(why) => return refused(&state, &viewer, why).await,
    };
    match add_channel(&state, body).await {
        Ok((channel, signing_key)) => {
            let flash = Flash {
                signing_key,
                ..Flash::notice(format!("Channel {} added.", channel.name))
            };
            page(&state, &viewer, flash, StatusCode::OK).await
        }
        Err(AppError::BadRequest(why)) => refused(&state, &viewer, why).await,
        Err(e) => Err(PageError::in_shell(e, viewer.shell.clone())),
    }
}

async fn test(
    State(state): State<AlertsState>,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let (flash, status) = match test_channel(&state, &id).await {
        Ok(()) => (
            Flash::notice("Test notification delivered.".to_owned()),
            StatusCode::OK,
        ),
        Err(AppError::BadRequest(why)) => (Flash::error(why), StatusCode::BAD_REQUEST),
        Err(AppError::BadGateway(why)) => (Flash::error(why), StatusCode::BAD_GATEWAY),
        Err(e) => return Err(PageError::in_shell(e, viewer.shell.clone())),
    };
    page(&state, &viewer, flash, status).await
}

async fn remove(
    State(state): State<AlertsState>,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let fail = |e: AppError| PageError::in_shell(e, viewer.shell.clone());
    if !channels::delete(&state.db, &id)
        .await
        .map_err(|e| fail(AppError::internal(e)))?
    {
        return Err(fail(AppError::NotFound));
    }
    Ok(Redirect::to("/alerts#channels").into_response())
}
