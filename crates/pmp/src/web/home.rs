//! The home page: the portal's front door. It says what state the portal is in (setup pending
//! or done, database engine and schema) and who is signed in, without revealing anything secret.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::http::AppError;

use crate::db::Db;
use crate::identity::sessions::guard;
use crate::identity::sessions::{MaybeSession, Session};
use crate::identity::setup;
use crate::ui::PageError;
use crate::ui::Shell;

#[derive(Template)]
#[template(path = "web/home.html")]
struct Home {
    shell: Shell,
    setup_complete: bool,
    engine: &'static str,
    schema_current: bool,
}

/// Renders the home page.
pub async fn page(
    State(db): State<Db>,
    MaybeSession(session): MaybeSession,
    shell: Shell,
) -> Result<Response, PageError> {
    let db = &db;
    if let Some(session) = &session
        && let Some(step) = guard::pending_for(db, session)
            .await
            .map_err(AppError::internal)?
    {
        return Ok(Redirect::to(step.page()).into_response());
    }
    let setup_complete = setup::is_complete(db).await.map_err(AppError::internal)?;
    let schema_current = db
        .readiness()
        .await
        .map_err(AppError::internal)?
        .is_current();
    let page = Home {
        shell: shell.for_session(session.as_ref().map(Session::signed_in)),
        setup_complete,
        engine: db.engine(),
        schema_current,
    };
    Ok(Html(page.render().map_err(AppError::internal)?).into_response())
}
