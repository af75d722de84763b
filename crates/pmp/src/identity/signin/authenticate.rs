//! Checking who someone is, shared by the sign-in form and `POST /api/v1/auth/token`: the
//! password step (throttled per account and address, same answer and same work for unknown
//! users and wrong passwords, hash upgraded when parameters changed) and the TOTP step
//! (throttled per user, replays refused). Every outcome is a security event.

use tokio::sync::OnceCell;

use crate::audit::events::{self, Kind, Subject};
use crate::http::{AppError, Client};
use crate::identity::IdentityState;
use crate::identity::second_factor::totp::{self, Check};
use crate::identity::signin::password;
use crate::identity::signin::throttle::{self, Key, Limit};
use crate::identity::users::{self, User, Username};

/// Why a check failed, for the caller to word for its audience.
#[derive(Debug)]
pub enum Refusal {
    /// Wrong username, password or code (never which).
    Wrong,
    /// Locked for this many seconds.
    Locked(i64),
    /// Something broke; the detail is for the log.
    Internal(AppError),
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        Self::Internal(e)
    }
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal::Internal(AppError::internal(e))
}

/// A hash to verify against when the user does not exist, so both failures cost the same.
async fn decoy_hash() -> Result<&'static String, Refusal> {
    static DECOY: OnceCell<String> = OnceCell::const_new();
    DECOY
        .get_or_try_init(|| password::hash("decoy password never matches".to_owned()))
        .await
        .map_err(internal)
}

/// Refuses while any of `keys` is locked.
async fn ensure_unlocked(state: &IdentityState, keys: &[&Key]) -> Result<(), Refusal> {
    for key in keys {
        if let Some(wait) = throttle::locked_for(&state.db, key)
            .await
            .map_err(internal)?
        {
            return Err(Refusal::Locked(wait));
        }
    }
    Ok(())
}

/// Counts a failure: first against the client's address; if that is locked (now or by a
/// racing request), the attempt is answered as throttled and counts against nothing else,
/// so one address can never lock an account for everyone. Otherwise it counts against each
/// of `keys`. A lockout that follows is recorded.
async fn count_failure(
    state: &IdentityState,
    address: &Key,
    keys: &[(&Key, Limit)],
    subject: Subject<'_>,
    client: &Client,
) -> Result<Refusal, Refusal> {
    let db = &state.db;
    if let Some(secs) = throttle::fail(db, address, throttle::ADDRESS)
        .await
        .map_err(internal)?
    {
        record_lock(state, secs, subject, client).await?;
        return Ok(Refusal::Locked(secs));
    }
    if let Some(wait) = throttle::locked_for(db, address).await.map_err(internal)? {
        return Ok(Refusal::Locked(wait));
    }
    for (key, limit) in keys {
        if let Some(secs) = throttle::fail(db, key, *limit).await.map_err(internal)? {
            record_lock(state, secs, subject, client).await?;
        }
    }
    Ok(Refusal::Wrong)
}

async fn record_lock(
    state: &IdentityState,
    secs: i64,
    subject: Subject<'_>,
    client: &Client,
) -> Result<(), Refusal> {
    let detail = format!("locked for {secs} s after repeated failures");
    events::record(&state.db, Kind::Locked, subject, client, &detail)
        .await
        .map_err(internal)
}

/// The password step: the enabled user `username` if `secret` is their password.
pub async fn password_step(
    state: &IdentityState,
    client: &Client,
    username: &str,
    secret: String,
) -> Result<User, Refusal> {
    let db = &state.db;
    let ip = client.ip.to_string();
    let account = Key::account(username);
    let pair = Key::account_at(username, &ip);
    let address = Key::address(&ip);
    ensure_unlocked(state, &[&address, &pair, &account]).await?;
    let name = Username::parse(username).ok();
    let found = match &name {
        Some(name) => users::credentials(db, name).await.map_err(internal)?,
        None => None,
    };
    // Over-long input is checked against the decoy, never hashed as typed.
    let secret = if secret.chars().count() > password::MAX_LENGTH {
        String::new()
    } else {
        secret
    };
    let stored = match &found {
        Some((_, hash)) => hash.clone(),
        None => decoy_hash().await?.clone(),
    };
    let matches = password::verify(secret.clone(), stored.clone())
        .await
        .map_err(internal)?;
    let Some((user, _)) = found.filter(|_| matches) else {
        let typed = name.as_ref().map(Username::as_str);
        let subject = Subject {
            user_id: None,
            username: typed,
        };
        events::record(
            db,
            Kind::LoginFailed,
            subject,
            client,
            "wrong username or password",
        )
        .await
        .map_err(internal)?;
        let keys = [(&pair, throttle::PAIR), (&account, throttle::ACCOUNT)];
        return Err(count_failure(state, &address, &keys, subject, client).await?);
    };
    if password::needs_rehash(&stored) {
        let upgraded = password::hash(secret).await.map_err(internal)?;
        users::upgrade_hash(db, &user.id, &upgraded)
            .await
            .map_err(internal)?;
        tracing::info!(user_id = %user.id, "password hash upgraded to current parameters");
    }
    throttle::clear(db, &pair).await.map_err(internal)?;
    Ok(user)
}

/// The TOTP step for `user` (a code from their app or a recovery code).
pub async fn totp_step(
    state: &IdentityState,
    client: &Client,
    user: &User,
    code: &str,
) -> Result<(), Refusal> {
    let db = &state.db;
    let per_user = Key::user("totp", &user.id);
    let address = Key::address(&client.ip.to_string());
    ensure_unlocked(state, &[&per_user, &address]).await?;
    let subject = Subject::user(&user.id, &user.username);
    let code: String = code.chars().take(64).collect();
    let check = totp::verify(db, &state.keys, &user.id, &user.username, &code)
        .await
        .map_err(internal)?;
    let failed = match check {
        Check::Accepted => None,
        Check::RecoveryCode => {
            let left = totp::recovery_codes_left(db, &user.id)
                .await
                .map_err(internal)?;
            let detail = format!("{left} recovery codes left");
            events::record(db, Kind::RecoveryCodeUsed, subject, client, &detail)
                .await
                .map_err(internal)?;
            None
        }
        Check::Replayed => Some((
            Kind::TotpReplayed,
            "a code already used was presented again",
        )),
        Check::Wrong => Some((Kind::TotpFailed, "wrong second-factor code")),
    };
    if let Some((kind, detail)) = failed {
        events::record(db, kind, subject, client, detail)
            .await
            .map_err(internal)?;
        let keys = [(&per_user, throttle::PAIR)];
        return Err(count_failure(state, &address, &keys, subject, client).await?);
    }
    throttle::clear(db, &per_user).await.map_err(internal)?;
    Ok(())
}

/// Records a completed sign-in; `how` says by which means (form, API).
pub async fn succeeded(
    state: &IdentityState,
    client: &Client,
    user: &User,
    how: &str,
) -> Result<(), AppError> {
    events::record(
        &state.db,
        Kind::LoginSucceeded,
        Subject::user(&user.id, &user.username),
        client,
        how,
    )
    .await
    .map_err(AppError::internal)
}
