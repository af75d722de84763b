//! A person's own account: changing their password (the current one is asked, throttled per
//! user) and their TOTP second factor (enrol with a QR code rendered here, confirm with a
//! first code, receive recovery codes once, disable with the password). Pages and API.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};

use crate::http::{ApiJson, AppError, AppState, Client, PageError};
use crate::identity::events::{self, Kind, Subject};
use crate::identity::guard::{Gate, Viewer};
use crate::identity::password;
use crate::identity::principal::{Principal, Via};
use crate::identity::throttle::{self, Key};
use crate::identity::totp::{self, Enrolment};
use crate::identity::users::{self, User};
use crate::web::{Shell, render};

/// Own-account routes: every one needs a signed-in person or a bearer credential.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/password", get(password_page).post(password_form))
        .route("/account/2fa", get(totp_page).post(totp_start_form))
        .route("/account/2fa/confirm", post(totp_confirm_form))
        .route("/account/2fa/disable", post(totp_disable_form))
        .route("/api/v1/me/password", post(password_api))
        .route("/api/v1/me/totp", post(totp_start_api))
        .route("/api/v1/me/totp/confirm", post(totp_confirm_api))
        .route("/api/v1/me/totp/disable", post(totp_disable_api))
}

/// Why an own-account change was refused, worded for the person.
#[derive(Debug)]
enum Refused {
    WrongPassword,
    Policy(String),
    Throttled(i64),
    Failed(AppError),
}

impl Refused {
    fn message(&self) -> String {
        match self {
            Self::WrongPassword => "The current password is wrong.".to_owned(),
            Self::Policy(why) => format!("The new password is not accepted: {why}."),
            Self::Throttled(_) | Self::Failed(_) => String::new(),
        }
    }

    fn into_api(self) -> AppError {
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
async fn confirm_password(
    state: &AppState,
    client: &Client,
    user: &User,
    current: String,
) -> Result<(), Refused> {
    let db = state.db();
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
    state: &AppState,
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
        state.db(),
        &user.id,
        &hash,
        users::PasswordChange::Own { keep_session },
    )
    .await
    .map_err(AppError::internal)?;
    let subject = Subject::user(&user.id, &user.username);
    events::record(
        state.db(),
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
    csrf: String,
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
    State(state): State<AppState>,
    viewer: Viewer,
    client: Client,
    headers: HeaderMap,
    Form(input): Form<PasswordForm>,
) -> Result<Response, PageError> {
    viewer
        .session
        .check_form(&headers, &input.csrf, &viewer.shell, "password change")?;
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
    State(state): State<AppState>,
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

#[derive(Template)]
#[template(path = "identity/account_2fa.html")]
struct TotpPage {
    shell: Shell,
    enabled: bool,
    required: bool,
    codes_left: i64,
    enrolment: Option<Enrolment>,
    recovery_codes: Vec<String>,
    error: Option<&'static str>,
}

impl TotpPage {
    async fn load(state: &AppState, viewer: Viewer) -> Result<Self, PageError> {
        let db = state.db();
        let fail = |e| PageError::in_shell(AppError::internal(e), viewer.shell.clone());
        Ok(Self {
            enabled: totp::is_enabled(db, &viewer.user.id).await.map_err(fail)?,
            codes_left: totp::recovery_codes_left(db, &viewer.user.id)
                .await
                .map_err(fail)?,
            required: viewer.gate == Some(Gate::EnrolTotp),
            shell: viewer.shell,
            enrolment: None,
            recovery_codes: Vec::new(),
            error: None,
        })
    }
}

#[derive(Deserialize)]
struct TotpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

async fn totp_page(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    render(&TotpPage::load(&state, viewer).await?, StatusCode::OK)
}

async fn totp_start_form(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(input): Form<TotpForm>,
) -> Result<Response, PageError> {
    viewer
        .session
        .check_form(&headers, &input.csrf, &viewer.shell, "2FA enrolment")?;
    let user = viewer.user.clone();
    let mut page = TotpPage::load(&state, viewer).await?;
    page.enrolment = totp::begin(state.db(), state.keys(), &user.id, &user.username)
        .await
        .map_err(AppError::internal)?;
    render(&page, StatusCode::OK)
}

async fn totp_confirm_form(
    State(state): State<AppState>,
    viewer: Viewer,
    client: Client,
    headers: HeaderMap,
    Form(input): Form<TotpForm>,
) -> Result<Response, PageError> {
    viewer
        .session
        .check_form(&headers, &input.csrf, &viewer.shell, "2FA confirmation")?;
    let user = viewer.user.clone();
    let codes = confirm(&state, &client, &user, &input.code).await?;
    let mut page = TotpPage::load(&state, viewer).await?;
    match codes {
        Some(codes) => page.recovery_codes = codes,
        None => {
            page.error =
                Some("That code is not valid; scan the code again and enter the newest code.");
            page.enrolment = totp::begin(state.db(), state.keys(), &user.id, &user.username)
                .await
                .map_err(AppError::internal)?;
        }
    }
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(&page, status)
}

async fn totp_disable_form(
    State(state): State<AppState>,
    viewer: Viewer,
    client: Client,
    headers: HeaderMap,
    Form(input): Form<TotpForm>,
) -> Result<Response, PageError> {
    viewer
        .session
        .check_form(&headers, &input.csrf, &viewer.shell, "2FA removal")?;
    let user = viewer.user.clone();
    let shell = viewer.shell.clone();
    match disable(&state, &client, &user, input.password).await {
        Ok(()) => Ok(Redirect::to("/account/2fa").into_response()),
        Err(Refused::Throttled(wait)) => Err(PageError::in_shell(AppError::TooMany(wait), shell)),
        Err(Refused::Failed(e)) => Err(PageError::in_shell(e, shell)),
        Err(_) => {
            let mut page = TotpPage::load(&state, viewer).await?;
            page.error = Some("The password is wrong; two-factor sign-in stays on.");
            render(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

async fn confirm(
    state: &AppState,
    client: &Client,
    user: &User,
    code: &str,
) -> Result<Option<Vec<String>>, AppError> {
    let codes = totp::confirm(state.db(), state.keys(), &user.id, &user.username, code)
        .await
        .map_err(AppError::internal)?;
    if codes.is_some() {
        let subject = Subject::user(&user.id, &user.username);
        events::record(
            state.db(),
            Kind::TotpEnabled,
            subject,
            client,
            "enrolled by the user",
        )
        .await
        .map_err(AppError::internal)?;
    }
    Ok(codes)
}

async fn disable(
    state: &AppState,
    client: &Client,
    user: &User,
    password: String,
) -> Result<(), Refused> {
    confirm_password(state, client, user, password).await?;
    if totp::disable(state.db(), &user.id)
        .await
        .map_err(AppError::internal)?
    {
        let subject = Subject::user(&user.id, &user.username);
        events::record(
            state.db(),
            Kind::TotpDisabled,
            subject,
            client,
            "removed by the user",
        )
        .await
        .map_err(AppError::internal)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct EnrolmentBody {
    secret: String,
    otpauth_url: String,
    qr_svg: String,
}

async fn totp_start_api(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<EnrolmentBody>, AppError> {
    let user = &principal.user;
    let enrolment = totp::begin(state.db(), state.keys(), &user.id, &user.username)
        .await
        .map_err(AppError::internal)?
        .ok_or_else(|| {
            AppError::Conflict("Two-factor sign-in is already on; disable it first.".to_owned())
        })?;
    Ok(Json(EnrolmentBody {
        secret: enrolment.secret,
        otpauth_url: enrolment.url,
        qr_svg: enrolment.qr_svg,
    }))
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

#[derive(Serialize)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

async fn totp_confirm_api(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<Json<RecoveryCodes>, AppError> {
    let codes = confirm(&state, &principal.client, &principal.user, &body.code)
        .await?
        .ok_or_else(|| {
            AppError::BadRequest("The code is not valid for the enrolment in progress.".to_owned())
        })?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

#[derive(Deserialize)]
struct DisableBody {
    password: String,
}

async fn totp_disable_api(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<DisableBody>,
) -> Result<StatusCode, AppError> {
    disable(&state, &principal.client, &principal.user, body.password)
        .await
        .map_err(Refused::into_api)?;
    Ok(StatusCode::NO_CONTENT)
}
