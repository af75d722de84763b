//! `pmp user create-admin`: the command-line alternative to the setup wizard, for headless
//! installs. Same rules as the wizard: a valid username, the password policy, and exactly one
//! first administrator (it closes the wizard).

use crate::db::Db;
use crate::identity::users::Username;
use crate::identity::{password, setup};

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
