//! Authentication: an API token (preferred: no expiry, no CSRF), or user and password with
//! PVE's ticket, including the TOTP step for accounts with a second factor. A ticket is
//! renewed before it ages out (posting it as the password, as PVE allows), so long jobs
//! survive PVE's two-hour limit; one that PVE refuses anyway leads to a fresh login.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::client::Conn;
use crate::error::Error;

/// How the client proves who it is.
#[derive(Clone)]
pub enum Auth {
    /// `USER@REALM!TOKENID` and its secret.
    ApiToken { id: String, secret: String },
    /// `user@realm`, its password, and the base32 TOTP secret if the account has one.
    Password {
        userid: String,
        password: String,
        totp_secret: Option<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach a log line through Debug.
        match self {
            Self::ApiToken { id, .. } => write!(f, "ApiToken({id})"),
            Self::Password { userid, .. } => write!(f, "Password({userid})"),
        }
    }
}

/// What one request carries.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// Only `/access/ticket` takes requests without credentials.
    Anonymous,
    Token(String),
    Ticket {
        ticket: String,
        csrf: String,
    },
}

impl Credentials {
    /// The headers for a request with `method`: the CSRF token goes only on writes.
    pub(crate) fn headers(&self, method: &Method) -> Vec<(&'static str, String)> {
        match self {
            Self::Anonymous => Vec::new(),
            Self::Token(value) => vec![("Authorization", value.clone())],
            Self::Ticket { ticket, csrf } => {
                let mut headers = vec![("Cookie", format!("PVEAuthCookie={ticket}"))];
                if method != Method::GET {
                    headers.push(("CSRFPreventionToken", csrf.clone()));
                }
                headers
            }
        }
    }

    pub(crate) fn is_ticket(&self) -> bool {
        matches!(self, Self::Ticket { .. })
    }
}

#[derive(Debug, Clone)]
struct Ticket {
    ticket: String,
    csrf: String,
    issued: Instant,
}

/// The credentials and, for password logins, the current ticket.
#[derive(Debug)]
pub(crate) struct Session {
    auth: Auth,
    ticket: Mutex<Option<Ticket>>,
}

#[derive(Deserialize)]
struct Login {
    ticket: String,
    #[serde(rename = "CSRFPreventionToken", default)]
    csrf: Option<String>,
    #[serde(rename = "NeedTFA", default)]
    need_tfa: Option<serde_json::Value>,
}

/// The current code of a base32 TOTP secret.
fn totp_code(secret: &str) -> Result<String, Error> {
    let seed = totp_rs::Secret::try_from_base32(secret)
        .map_err(|_| Error::Invalid("the stored TOTP secret is not valid base32".to_owned()))?;
    let totp = totp_rs::Builder::new()
        .with_secret(seed)
        .build_noncompliant();
    Ok(totp.generate_current().to_string())
}

impl Session {
    pub(crate) fn new(auth: Auth) -> Self {
        Self {
            auth,
            ticket: Mutex::new(None),
        }
    }

    /// Drops the ticket, so the next request logs in again.
    pub(crate) async fn forget(&self) {
        *self.ticket.lock().await = None;
    }

    /// The credentials for the next request through `conn`, logging in or renewing first
    /// when needed. One login at a time: concurrent requests wait for it and share the ticket.
    pub(crate) async fn credentials(
        &self,
        conn: &Conn,
        timeout: Duration,
        renew_after: Duration,
    ) -> Result<Credentials, Error> {
        let (userid, password, totp_secret) = match &self.auth {
            Auth::ApiToken { id, secret } => {
                return Ok(Credentials::Token(format!("PVEAPIToken={id}={secret}")));
            }
            Auth::Password {
                userid,
                password,
                totp_secret,
            } => (userid, password, totp_secret),
        };
        let mut slot = self.ticket.lock().await;
        let current = match slot.take() {
            Some(t) if t.issued.elapsed() < renew_after => t,
            Some(old) => match login(conn, userid, &old.ticket, None, timeout).await {
                Ok(renewed) => renewed,
                // A ticket that can no longer be renewed: start again with the password.
                Err(Error::AuthenticationFailed(_)) => {
                    login(conn, userid, password, totp_secret.as_deref(), timeout).await?
                }
                Err(e) => return Err(e),
            },
            None => login(conn, userid, password, totp_secret.as_deref(), timeout).await?,
        };
        let credentials = Credentials::Ticket {
            ticket: current.ticket.clone(),
            csrf: current.csrf.clone(),
        };
        *slot = Some(current);
        Ok(credentials)
    }
}

/// `POST /access/ticket`, with the TOTP step when PVE asks for it.
async fn login(
    conn: &Conn,
    userid: &str,
    password: &str,
    totp_secret: Option<&str>,
    timeout: Duration,
) -> Result<Ticket, Error> {
    let none = Credentials::Anonymous;
    let params = [
        ("username", userid.to_owned()),
        ("password", password.to_owned()),
    ];
    let first = conn
        .send(Method::POST, "/access/ticket", &params, &none, timeout)
        .await?;
    let first: Login = serde_json::from_value(first)
        .map_err(|e| Error::Decode(format!("the login answer: {e}")))?;
    let answer = if first.need_tfa.as_ref().is_some_and(|v| *v != 0) {
        let secret = totp_secret.ok_or(Error::SecondFactorRequired)?;
        let params = [
            ("username", userid.to_owned()),
            ("tfa-challenge", first.ticket),
            ("password", format!("totp:{}", totp_code(secret)?)),
        ];
        let second = conn
            .send(Method::POST, "/access/ticket", &params, &none, timeout)
            .await?;
        serde_json::from_value(second)
            .map_err(|e| Error::Decode(format!("the login answer: {e}")))?
    } else {
        first
    };
    Ok(Ticket {
        csrf: answer
            .csrf
            .ok_or_else(|| Error::Decode("the login answer has no CSRF token".to_owned()))?,
        ticket: answer.ticket,
        issued: Instant::now(),
    })
}
