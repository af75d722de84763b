//! `pmp user create-admin`: the command-line alternative to the setup wizard, for headless
//! installs. Same rules as the wizard: a valid username, the password policy, and exactly one
//! first administrator (it closes the wizard).

use crate::db::Db;
use crate::identity::setup;
use crate::identity::signin::password;
use crate::identity::users::Username;

/// Why the administrator was not created, in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum CreateAdminError {
    #[error("{0}")]
    Username(#[from] crate::identity::users::UsernameError),
    #[error("{0}")]
    Password(#[from] password::PasswordError),
    #[error("an administrator already exists; sign in with it instead")]
    AlreadySetUp,
    #[error("{0}")]
    Database(#[from] crate::db::DbError),
}

/// Creates the first administrator `username` with `secret` as password.
pub async fn create_admin(
    db: &Db,
    username: &str,
    secret: String,
) -> Result<Username, CreateAdminError> {
    let name = Username::parse(username)?;
    password::check_policy(&secret, name.as_str())?;
    if setup::is_complete(db).await? {
        return Err(CreateAdminError::AlreadySetUp);
    }
    let hash = password::hash(secret).await?;
    if !setup::create_first_admin(db, &name, &hash).await? {
        return Err(CreateAdminError::AlreadySetUp);
    }
    tracing::info!(username = %name, "first administrator created from the command line");
    Ok(name)
}

/// Why a password was not reset, in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("there is no user named {0}")]
    NoSuchUser(String),
    #[error("{0}")]
    Username(#[from] crate::identity::users::UsernameError),
    #[error("{0}")]
    Password(#[from] password::PasswordError),
    #[error("{0}")]
    Database(#[from] crate::db::DbError),
}

/// `pmp user reset-password`: sets `username`'s password to `secret` from the host's command
/// line (for an administrator locked out of the web UI), revokes every session and token of
/// theirs, and lifts sign-in locks on the account. With `must_change`, the user has to choose
/// a new password at next sign-in; with `reset_totp`, their second factor is removed too.
pub async fn reset_password(
    db: &Db,
    username: &str,
    secret: String,
    must_change: bool,
    reset_totp: bool,
) -> Result<Username, ResetError> {
    use crate::audit::events::{self, Kind, Subject};
    use crate::identity::second_factor::totp;
    use crate::identity::signin::throttle;
    use crate::identity::users;
    let name = Username::parse(username)?;
    let user = users::by_name(db, &name)
        .await?
        .ok_or_else(|| ResetError::NoSuchUser(name.to_string()))?;
    password::check_policy(&secret, name.as_str())?;
    let hash = password::hash(secret).await?;
    users::set_password(
        db,
        &user.id,
        &hash,
        users::PasswordChange::Reset { must_change },
    )
    .await?;
    if reset_totp {
        totp::disable(db, &user.id).await?;
    }
    throttle::clear_account(db, name.as_str()).await?;
    let client = crate::http::Client::cli("user reset-password");
    let detail = if reset_totp {
        "password and two-factor sign-in reset from the command line"
    } else {
        "password reset from the command line"
    };
    events::record(
        db,
        Kind::PasswordReset,
        Subject::user(&user.id, &user.username),
        &client,
        detail,
    )
    .await?;
    Ok(name)
}
