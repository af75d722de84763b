//! What a signed-in person must do before anything else: choose a new password after an
//! administrator reset it, or enrol a second factor when the portal requires one for them.
//! Pages redirect there; the API answers 403 naming the step. The same `gate` decides both.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use crate::access::{self, Grants};
use crate::db::{Db, DbError};
use crate::http::AppError;
use crate::identity::IdentityState;
use crate::identity::second_factor::totp;
use crate::identity::sessions::{MaybeSession, Session};
use crate::identity::users::{self, User};
use crate::settings::{self, Key};
use crate::ui::PageError;
use crate::ui::Shell;

const TOTP_POLICY: Key = Key("security.require_totp");

/// Who must use a second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TotpPolicy {
    /// Nobody is forced (anyone may enrol).
    Optional,
    /// Holders of any of these roles (directly or through a group, anywhere) must.
    Roles(Vec<String>),
    /// Everyone must.
    Everyone,
}

impl TotpPolicy {
    /// The stored form: `optional`, `everyone` or `roles:ID,ID`.
    pub fn to_stored(&self) -> String {
        match self {
            Self::Optional => "optional".to_owned(),
            Self::Everyone => "everyone".to_owned(),
            Self::Roles(roles) => format!("roles:{}", roles.join(",")),
        }
    }

    /// Parses the stored form.
    pub fn from_stored(raw: &str) -> Option<Self> {
        match raw {
            "optional" => Some(Self::Optional),
            "everyone" => Some(Self::Everyone),
            // Older stored value, before policies could name roles.
            "admins" => Some(Self::Roles(vec![access::store::ADMINISTRATOR.to_owned()])),
            other => other.strip_prefix("roles:").map(|ids| {
                Self::Roles(
                    ids.split(',')
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )
            }),
        }
    }

    /// The API's name for the kind of policy.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Optional => "optional",
            Self::Roles(_) => "roles",
            Self::Everyone => "everyone",
        }
    }

    /// The roles it names (none for the other kinds).
    pub fn roles(&self) -> &[String] {
        match self {
            Self::Roles(roles) => roles,
            _ => &[],
        }
    }

    fn applies_to(&self, grants: &Grants) -> bool {
        match self {
            Self::Optional => false,
            Self::Roles(roles) => roles.iter().any(|r| grants.has_role(r)),
            Self::Everyone => true,
        }
    }
}

/// The portal's second-factor policy.
pub async fn totp_policy(db: &Db) -> Result<TotpPolicy, DbError> {
    let stored = settings::get(db, TOTP_POLICY).await?;
    Ok(stored
        .as_deref()
        .and_then(TotpPolicy::from_stored)
        .unwrap_or(TotpPolicy::Optional))
}

/// Stores the second-factor policy.
pub async fn set_totp_policy(db: &Db, policy: &TotpPolicy) -> Result<(), DbError> {
    settings::set(db, TOTP_POLICY, &policy.to_stored()).await
}

/// A step that must come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Choose a new password.
    ChangePassword,
    /// Enrol TOTP.
    EnrolTotp,
}

impl Gate {
    /// The page that performs the step.
    pub fn page(self) -> &'static str {
        match self {
            Self::ChangePassword => "/account/password",
            Self::EnrolTotp => "/account/2fa",
        }
    }

    /// The API's refusal while the step is pending.
    pub fn api_error(self) -> AppError {
        AppError::Forbidden(
            match self {
                Self::ChangePassword => "Change your password first (POST /api/v1/me/password).",
                Self::EnrolTotp => "Enrol two-factor sign-in first (POST /api/v1/me/totp).",
            }
            .to_owned(),
        )
    }
}

/// The step `user` (holding `grants`) must take before anything else, if any.
pub async fn gate(db: &Db, user: &User, grants: &Grants) -> Result<Option<Gate>, DbError> {
    if user.must_change_password {
        return Ok(Some(Gate::ChangePassword));
    }
    if totp_policy(db).await?.applies_to(grants) && !totp::is_enabled(db, &user.id).await? {
        return Ok(Some(Gate::EnrolTotp));
    }
    Ok(None)
}

/// The step the holder of `session` must take first, if any (for public pages that greet
/// signed-in people but must not let them skip the step).
pub async fn pending_for(db: &Db, session: &Session) -> Result<Option<Gate>, DbError> {
    match users::by_id(db, &session.user_id).await? {
        Some(user) => {
            let grants = access::store::grants_of(db, &user.id).await?;
            gate(db, &user, &grants).await
        }
        None => Ok(None),
    }
}

/// A signed-in person viewing a page: their session, their user record as stored now, and
/// the shell for their pages. Not signed in: redirected to the sign-in page. A pending
/// `Gate`: redirected to its page, unless this is that page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The session.
    pub session: Session,
    /// The user.
    pub user: User,
    /// The page shell, signed in.
    pub shell: Shell,
    /// The step still pending (only ever set on that step's own page).
    pub gate: Option<Gate>,
    /// What the person is granted, loaded for this request.
    pub grants: Grants,
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            AppError::internal("a page that takes a viewer declares no access").into_response()
        })
    }
}

impl Viewer {
    /// The signed-in person viewing a page, with their grants; a redirect to sign-in when
    /// nobody is, or to the pending step's page.
    pub async fn authenticate(parts: &mut Parts, state: &IdentityState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/login").into_response();
        let Ok(MaybeSession(Some(session))) = MaybeSession::from_request_parts(parts, state).await
        else {
            return Err(to_login());
        };
        let shell = Shell::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {})
            .for_session(Some(session.signed_in()));
        let failed = |e: DbError| PageError::in_shell(AppError::internal(e), shell.clone());
        let user = users::by_id(&state.db, &session.user_id)
            .await
            .map_err(|e| failed(e).into_response())?
            .ok_or_else(to_login)?;
        let grants = access::store::grants_of(&state.db, &user.id)
            .await
            .map_err(|e| failed(e).into_response())?;
        let gate = gate(&state.db, &user, &grants)
            .await
            .map_err(|e| failed(e).into_response())?;
        if let Some(step) = gate
            && !parts.uri.path().starts_with(step.page())
        {
            return Err(Redirect::to(step.page()).into_response());
        }
        Ok(Self {
            session,
            user,
            shell,
            gate,
            grants,
        })
    }
}
