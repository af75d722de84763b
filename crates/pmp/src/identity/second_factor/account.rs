//! A person's own TOTP second factor: enrol with a QR code rendered here (no third party sees
//! the seed), confirm with a first code, receive ten recovery codes once, turn it off with the
//! password. Page and API.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::access::routes::{Access, Routes};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{ApiJson, AppError, Client};
use crate::identity::IdentityState;
use crate::identity::principal::Principal;
use crate::identity::second_factor::totp::{self, Enrolment};
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::guard::{Gate, Viewer};
use crate::identity::signin::account::{Refused, confirm_password};
use crate::identity::users::User;
use crate::ui::PageError;
use crate::ui::{Shell, render};
use axum::extract::FromRef;

/// Two-factor routes: each needs a signed-in person or a bearer credential.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new()
        .add(
            "/account/2fa",
            &["GET", "POST"],
            Access::SignedIn,
            get(totp_page).post(totp_start_form),
        )
        .add(
            "/account/2fa/confirm",
            &["POST"],
            Access::SignedIn,
            post(totp_confirm_form),
        )
        .add(
            "/account/2fa/disable",
            &["POST"],
            Access::SignedIn,
            post(totp_disable_form),
        )
        .add(
            "/api/v1/me/totp",
            &["POST"],
            Access::SignedIn,
            post(totp_start_api),
        )
        .add(
            "/api/v1/me/totp/confirm",
            &["POST"],
            Access::SignedIn,
            post(totp_confirm_api),
        )
        .add(
            "/api/v1/me/totp/disable",
            &["POST"],
            Access::SignedIn,
            post(totp_disable_api),
        )
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
    async fn load(state: &IdentityState, viewer: Viewer) -> Result<Self, PageError> {
        let db = &state.db;
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
    code: String,
    #[serde(default)]
    password: String,
}

async fn totp_page(
    State(state): State<IdentityState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    render(&TotpPage::load(&state, viewer).await?, StatusCode::OK)
}

async fn totp_start_form(
    State(state): State<IdentityState>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let user = viewer.user.clone();
    let mut page = TotpPage::load(&state, viewer).await?;
    page.enrolment = totp::begin(&state.db, &state.keys, &user.id, &user.username)
        .await
        .map_err(AppError::internal)?;
    render(&page, StatusCode::OK)
}

async fn totp_confirm_form(
    State(state): State<IdentityState>,
    client: Client,
    PageForm { viewer, input }: PageForm<TotpForm>,
) -> Result<Response, PageError> {
    let user = viewer.user.clone();
    let codes = confirm(&state, &client, &user, &input.code).await?;
    let mut page = TotpPage::load(&state, viewer).await?;
    match codes {
        Some(codes) => page.recovery_codes = codes,
        None => {
            page.error =
                Some("That code is not valid; scan the code again and enter the newest code.");
            page.enrolment = totp::begin(&state.db, &state.keys, &user.id, &user.username)
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
    State(state): State<IdentityState>,
    client: Client,
    PageForm { viewer, input }: PageForm<TotpForm>,
) -> Result<Response, PageError> {
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
    state: &IdentityState,
    client: &Client,
    user: &User,
    code: &str,
) -> Result<Option<Vec<String>>, AppError> {
    let codes = totp::confirm(&state.db, &state.keys, &user.id, &user.username, code)
        .await
        .map_err(AppError::internal)?;
    if codes.is_some() {
        let subject = Subject::user(&user.id, &user.username);
        events::record(
            &state.db,
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
    state: &IdentityState,
    client: &Client,
    user: &User,
    password: String,
) -> Result<(), Refused> {
    confirm_password(state, client, user, password).await?;
    if totp::disable(&state.db, &user.id)
        .await
        .map_err(AppError::internal)?
    {
        let subject = Subject::user(&user.id, &user.username);
        events::record(
            &state.db,
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
    State(state): State<IdentityState>,
    principal: Principal,
) -> Result<Json<EnrolmentBody>, AppError> {
    let user = &principal.user;
    let enrolment = totp::begin(&state.db, &state.keys, &user.id, &user.username)
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
    State(state): State<IdentityState>,
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
    State(state): State<IdentityState>,
    principal: Principal,
    ApiJson(body): ApiJson<DisableBody>,
) -> Result<StatusCode, AppError> {
    disable(&state, &principal.client, &principal.user, body.password)
        .await
        .map_err(Refused::into_api)?;
    Ok(StatusCode::NO_CONTENT)
}
