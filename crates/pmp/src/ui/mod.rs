//! The page kit every HTML page is built with: the shell the base layout needs (theme, asset
//! URLs, who is signed in), rendering, times and numbers in human units, graphs, the static
//! files, and the error page. It knows HTML and HTTP, and no feature.

pub mod assets;
pub mod chart;
mod error;

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};

pub use error::{PageError, refuse_cross_site};

use crate::http::AppError;

/// The cookie that remembers a person's theme override (not sensitive, so readable by JS).
pub const THEME_COOKIE: &str = "pmp_theme";

/// Renders a page template with `status`; a template failure is an internal error.
pub fn render(page: &impl askama::Template, status: StatusCode) -> Result<Response, PageError> {
    let html = page.render().map_err(AppError::internal)?;
    Ok((status, Html(html)).into_response())
}

/// "2026-11-23 08:41 UTC" for a Unix time.
pub fn utc(unix: i64) -> String {
    stamp(unix, "%Y-%m-%d %H:%M UTC")
}

/// "2026-11-23 08:41:07 UTC": to the second, where the order of events matters (the audit
/// trail, alerts).
pub fn utc_secs(unix: i64) -> String {
    stamp(unix, "%Y-%m-%d %H:%M:%S UTC")
}

fn stamp(unix: i64, format: &str) -> String {
    jiff::Timestamp::from_second(unix)
        .map_or_else(|_| unix.to_string(), |t| t.strftime(format).to_string())
}

/// What the base layout needs on every page: theme and asset URLs.
#[derive(Debug, Clone)]
pub struct Shell {
    /// `light`, `dark`, or `system` to follow `prefers-color-scheme`.
    pub theme: &'static str,
    /// Stylesheet URL.
    pub css: &'static str,
    /// Script module URL.
    pub js: &'static str,
    /// Favicon URL.
    pub icon: &'static str,
    /// The portal's version, shown in the footer.
    pub version: &'static str,
    /// Who is signed in, and their CSRF token for the sign-out form.
    pub signed_in: Option<SignedIn>,
}

/// The signed-in person, as the layout shows them.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Their username.
    pub username: String,
    /// Their session's CSRF token.
    pub csrf: String,
    /// Whether they administer the portal (the Users link is shown).
    pub is_admin: bool,
}

impl Shell {
    /// This shell for the person signed in, if any.
    pub fn for_session(mut self, signed_in: Option<SignedIn>) -> Self {
        self.signed_in = signed_in;
        self
    }
}

impl Shell {
    /// The shell for a given theme choice; unknown values fall back to the system theme.
    pub fn with_theme(choice: Option<&str>) -> Self {
        let theme = match choice {
            Some("light") => "light",
            Some("dark") => "dark",
            _ => "system",
        };
        Self {
            theme,
            css: assets::url("app.css"),
            js: assets::url("app.js"),
            icon: assets::url("icon.svg"),
            version: env!("CARGO_PKG_VERSION"),
            signed_in: None,
        }
    }
}

impl Default for Shell {
    fn default() -> Self {
        Self::with_theme(None)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Shell {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let choice = crate::http::cookie(&parts.headers, THEME_COOKIE);
        Ok(Shell::with_theme(choice.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::Shell;

    #[test]
    fn theme_choice_is_whitelisted() {
        assert_eq!(Shell::with_theme(Some("dark")).theme, "dark");
        assert_eq!(Shell::with_theme(Some("light")).theme, "light");
        assert_eq!(Shell::with_theme(Some("\"><script>")).theme, "system");
        assert_eq!(Shell::with_theme(None).theme, "system");
    }
}
