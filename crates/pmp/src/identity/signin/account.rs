//! A person's own password: changing it asks the current one (throttled per user and
//! address) and ends their other sessions and access tokens. Page and API. The check of the
//! current password is shared with turning off two-factor sign-in (`second_factor::account`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::access::routes::{Access, Routes};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{ApiJson, AppError, Client};
use crate::identity::IdentityState;
use crate::identity::principal::{Principal, Via};
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::guard::{Gate, Viewer};
use crate::identity::signin::password;
use crate::identity::signin::throttle::{self, Key};
use crate::identity::users::{self, User};
use crate::ui::PageError;
use crate::ui::{Shell, render};
use axum::extract::FromRef;

/// Password routes: each needs a signed-in person or a bearer credential.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new()
        .add(
            "/account/password",
            &["GET", "POST"],
            Access::SignedIn,
            get(password_page).post(password_form),
        )
        .add(
            "/api/v1/me/password",
            &["POST"],
            Access::SignedIn,
            post(password_api),
        )
}

/// Why an own-account change was refused, worded for the person.
#[derive(Debug)]
pub(in crate::identity) enum Refused {
    WrongPassword,
    Policy(String),
    Throttled(i64),
    Failed(AppError),
}

impl Refused {
    pub(in crate::identity) fn message(&self) -> String {
        match self {
            Self::WrongPassword => "The current password is wrong.".to_owned(),
            Self::Policy(why) => format!("The new password is not accepted: {why}."),
            Self::Throttled(_) | Self::Failed(_) => String::new(),
        }
    }

    pub(in crate::identity) fn into_api(self) -> AppError {
        match self {
            Self::WrongPassword => AppError::Unauthorized("invalid_credentials", self.message()),
            Self::Policy(_) => AppError::BadRequest(self.message()),
            Self::Throttled(wait) => AppError::TooMany(wait),
            Self::Failed(e) => e,
        }
    }
}

impl From<AppError> for Refused {
    fn from(e: AppError) -> Self {
        Self::Failed(e)
    }
}

/// Checks `user`'s current password, throttled per user and address.
pub(in crate::identity) async fn confirm_password(
    state: &IdentityState,
    client: &Client,
    user: &User,
    current: String,
) -> Result<(), Refused> {
    let db = &state.db;
    let keys = [
        Key::user("password", &user.id),
        Key::address(&client.ip.to_string()),
    ];
    for key in &keys {
        if let Some(wait) = throttle::locked_for(db, key)
            .await
            .map_err(AppError::internal)?
        {
            return Err(Refused::Throttled(wait));
        }
    }
    let name = users::Username::parse(&user.username).map_err(AppError::internal)?;
    let stored = users::credentials(db, &name)
        .await
        .map_err(AppError::internal)?;
    let ok = match stored {
        Some((_, hash)) if current.chars().count() <= password::MAX_LENGTH => {
            password::verify(current, hash)
                .await
                .map_err(AppError::internal)?
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let [per_user, address] = keys;
    throttle::fail(db, &per_user, throttle::PAIR)
        .await
        .map_err(AppError::internal)?;
    throttle::fail(db, &address, throttle::ADDRESS)
        .await
        .map_err(AppError::internal)?;
    Err(Refused::WrongPassword)
}

/// Changes `user`'s password after checking the current one; keeps `keep_session` signed in.
async fn change_password(
    state: &IdentityState,
    client: &Client,
    user: &User,
    current: String,
    new: String,
    keep_session: Option<&str>,
) -> Result<(), Refused> {
    confirm_password(state, client, user, current.clone()).await?;
    password::check_policy(&new, &user.username).map_err(|e| Refused::Policy(e.to_string()))?;
    if new == current {
        return Err(Refused::Policy(
            "it is the same as the current one".to_owned(),
        ));
    }
    let hash = password::hash(new).await.map_err(AppError::internal)?;
    users::set_password(
        &state.db,
        &user.id,
        &hash,
        users::PasswordChange::Own { keep_session },
    )
    .await
    .map_err(AppError::internal)?;
    let subject = Subject::user(&user.id, &user.username);
    events::record(
        &state.db,
        Kind::PasswordChanged,
        subject,
        client,
        "changed by the user",
    )
    .await
    .map_err(AppError::internal)?;
    Ok(())
}

#[derive(Template)]
#[template(path = "identity/account_password.html")]
struct PasswordPage {
    shell: Shell,
    forced: bool,
    error: Option<String>,
    done: bool,
    min_length: usize,
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

async fn password_page(viewer: Viewer) -> Result<Response, PageError> {
    let page = PasswordPage {
        forced: viewer.gate == Some(Gate::ChangePassword),
        shell: viewer.shell,
        error: None,
        done: false,
        min_length: password::MIN_LENGTH,
    };
    render(&page, StatusCode::OK)
}

async fn password_form(
    State(state): State<IdentityState>,
    client: Client,
    PageForm { viewer, input }: PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    let forced = viewer.gate == Some(Gate::ChangePassword);
    let outcome = if input.new == input.confirm {
        change_password(
            &state,
            &client,
            &viewer.user,
            input.current,
            input.new,
            Some(&viewer.session.id),
        )
        .await
    } else {
        Err(Refused::Policy("the two new passwords differ".to_owned()))
    };
    let (status, error) = match outcome {
        Ok(()) if forced => return Ok(Redirect::to("/").into_response()),
        Ok(()) => (StatusCode::OK, None),
        Err(Refused::Throttled(wait)) => {
            return Err(PageError::in_shell(AppError::TooMany(wait), viewer.shell));
        }
        Err(Refused::Failed(e)) => return Err(PageError::in_shell(e, viewer.shell)),
        Err(refused) => (StatusCode::UNPROCESSABLE_ENTITY, Some(refused.message())),
    };
    let page = PasswordPage {
        shell: viewer.shell,
        forced,
        done: error.is_none(),
        error,
        min_length: password::MIN_LENGTH,
    };
    render(&page, status)
}

#[derive(Deserialize)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

async fn password_api(
    State(state): State<IdentityState>,
    principal: Principal,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<StatusCode, AppError> {
    let keep = match &principal.via {
        Via::Session(id) => Some(id.as_str()),
        _ => None,
    };
    change_password(
        &state,
        &principal.client,
        &principal.user,
        body.current_password,
        body.new_password,
        keep,
    )
    .await
    .map_err(Refused::into_api)?;
    Ok(StatusCode::NO_CONTENT)
}
