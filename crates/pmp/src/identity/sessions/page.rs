//! The "Sessions" page: a signed-in person's own browser sessions (address, browser, sign-in
//! and last-seen times), each revocable. Only one's own sessions are listed or revocable; a
//! foreign session id answers 404 like one that does not exist.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::access::routes::{Access, Routes};
use crate::audit::events::{self, Kind, Subject};
use crate::http::{AppError, Client};
use crate::identity::IdentityState;
use crate::identity::sessions::form::PageForm;
use crate::identity::sessions::{self, MaybeSession, SessionInfo};
use crate::ui::PageError;
use crate::ui::{Shell, render, utc};
use axum::extract::FromRef;

/// Session-management routes; each needs a signed-in person.
pub fn routes<S>() -> Routes<S>
where
    S: Clone + Send + Sync + 'static,
    IdentityState: FromRef<S>,
{
    Routes::new()
        .add("/sessions", &["GET"], Access::SignedIn, get(page))
        .add(
            "/sessions/{id}/revoke",
            &["POST"],
            Access::SignedIn,
            post(revoke),
        )
}

struct Row {
    id: String,
    current: bool,
    ip: String,
    browser: String,
    signed_in: String,
    last_seen: String,
}

#[derive(Template)]
#[template(path = "identity/sessions.html")]
struct SessionsPage {
    shell: Shell,
    rows: Vec<Row>,
}

/// A short browser name from a user-agent string.
fn browser(agent: &str) -> String {
    let known = ["Edg/", "Firefox/", "Chrome/", "Safari/", "curl/"];
    let name = known
        .iter()
        .find(|k| agent.contains(*k))
        .map_or("Unknown browser", |k| match *k {
            "Edg/" => "Edge",
            "Firefox/" => "Firefox",
            "Chrome/" => "Chrome",
            "Safari/" => "Safari",
            _ => "curl",
        });
    let system = ["Windows", "Mac OS", "Android", "iPhone", "Linux"]
        .iter()
        .find(|s| agent.contains(*s));
    match system {
        Some(system) => format!("{name} on {system}"),
        None => name.to_owned(),
    }
}

async fn page(
    State(state): State<IdentityState>,
    MaybeSession(session): MaybeSession,
    shell: Shell,
) -> Result<Response, PageError> {
    let Some(session) = session else {
        return Ok(Redirect::to("/login").into_response());
    };
    let list: Vec<SessionInfo> = sessions::list_for(&state.db, &state.sessions, &session.user_id)
        .await
        .map_err(AppError::internal)?;
    let rows = list
        .into_iter()
        .map(|s| Row {
            current: s.id == session.id,
            browser: browser(&s.user_agent),
            signed_in: utc(s.created_at),
            last_seen: utc(s.last_seen_at),
            ip: s.ip,
            id: s.id,
        })
        .collect();
    let page = SessionsPage {
        shell: shell.for_session(Some(session.signed_in())),
        rows,
    };
    render(&page, StatusCode::OK)
}

async fn revoke(
    State(state): State<IdentityState>,
    client: Client,
    Path(id): Path<String>,
    PageForm { viewer, .. }: PageForm,
) -> Result<Response, PageError> {
    let (session, shell) = (viewer.session, viewer.shell);
    // Session ids are UUIDs; anything else (a NUL byte, a path) never reaches the database.
    let Ok(id) = uuid::Uuid::parse_str(&id).map(|u| u.to_string()) else {
        return Err(PageError::in_shell(AppError::NotFound, shell));
    };
    if !sessions::revoke_own(&state.db, &session.user_id, &id)
        .await
        .map_err(AppError::internal)?
    {
        return Err(PageError::in_shell(AppError::NotFound, shell));
    }
    let subject = Subject::user(&session.user_id, &session.username);
    events::record(
        &state.db,
        Kind::SessionRevoked,
        subject,
        &client,
        &format!("session {id}"),
    )
    .await
    .map_err(AppError::internal)?;
    let to = if id == session.id {
        "/login"
    } else {
        "/sessions"
    };
    Ok(Redirect::to(to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_browsers_read_well() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_423_260), "2026-11-23 08:41 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(
            crate::ui::utc_secs(1_795_423_267),
            "2026-11-23 08:41:07 UTC"
        );
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36";
        assert_eq!(browser(chrome), "Chrome on Linux");
        assert_eq!(browser("<script>"), "Unknown browser");
    }
}
