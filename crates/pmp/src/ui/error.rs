//! Errors answered as HTML pages, in the person's shell, and the cross-site check for forms
//! that answers with such a page.

use askama::Template;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};

use crate::http::{AppError, is_same_origin};
use crate::ui::Shell;

/// An error answered by an HTML page, rendered inside the shell (the person's theme when the
/// handler had it at hand, the system theme otherwise).
#[derive(Debug)]
pub struct PageError(pub AppError, pub Option<Box<Shell>>);

impl PageError {
    /// An error page in the given shell.
    pub fn in_shell(error: AppError, shell: Shell) -> Self {
        Self(error, Some(Box::new(shell)))
    }
}

impl From<AppError> for PageError {
    fn from(error: AppError) -> Self {
        Self(error, None)
    }
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage {
    shell: Shell,
    status: u16,
    title: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _, message) = self.0.parts();
        let PageError(error, shell) = self;
        let page = ErrorPage {
            shell: shell.map(|shell| *shell).unwrap_or_default(),
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message,
        };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "error page failed to render");
                (status, "error").into_response()
            }
        };
        error.retry_after(&mut response);
        response
    }
}

/// Refuses a form submitted from another site with a page the person understands; `what`
/// names the form in the log.
pub fn refuse_cross_site(headers: &HeaderMap, shell: &Shell, what: &str) -> Result<(), PageError> {
    if is_same_origin(headers) {
        return Ok(());
    }
    tracing::warn!(form = what, "cross-site submission refused");
    Err(PageError::in_shell(
        AppError::Forbidden("Cross-site requests are not accepted.".to_owned()),
        shell.clone(),
    ))
}
