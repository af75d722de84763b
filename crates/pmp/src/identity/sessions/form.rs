//! The one path a page form takes: `PageForm<T>` extracts the signed-in `Viewer`, reads the
//! form body as `T` (a malformed body is refused exactly as axum's `Form` refuses it), and lets
//! it through only from this site and with the session's CSRF token. A handler that takes a
//! `PageForm` cannot forget the check. A submission the handler refuses goes back to its page
//! as a `Refused`, with what the person typed and the reason, so nothing they typed is lost.

use axum::Form;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::http::{FormFields, form_value};
use crate::identity::sessions::guard::Viewer;

/// A state-changing form from a signed-in person's page, checked and parsed.
#[derive(Debug)]
pub struct PageForm<T = Button> {
    /// Who submitted it.
    pub viewer: Viewer,
    /// What they submitted.
    pub input: T,
}

/// A form that carries nothing but its CSRF token: a button.
#[derive(Debug, Deserialize)]
pub struct Button {}

/// A submission the handler refused: the page shows it again with the reason.
#[derive(Debug)]
pub struct Refused<T> {
    /// What the person typed.
    pub input: T,
    /// Why it was refused, one sentence for them.
    pub error: String,
}

impl<T> PageForm<T> {
    /// Refuses the submission with `error`, keeping what was typed for the page shown again.
    pub fn refuse(self, error: String) -> (Viewer, Refused<T>) {
        let refused = Refused {
            input: self.input,
            error,
        };
        (self.viewer, refused)
    }
}

/// The form's route for the log when a check fails: method and route template.
fn which(parts: &Parts) -> String {
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or(parts.uri.path(), MatchedPath::as_str);
    format!("{} {route}", parts.method)
}

/// `bytes` as a form of type `F`, read with the request's own method, URI and headers.
async fn parse<F, S>(head: &Request<()>, bytes: Bytes, state: &S) -> Result<F, Response>
where
    F: DeserializeOwned,
    S: Send + Sync,
{
    let mut request = Request::new(Body::from(bytes));
    *request.method_mut() = head.method().clone();
    *request.uri_mut() = head.uri().clone();
    *request.headers_mut() = head.headers().clone();
    let Form(form) = Form::<F>::from_request(request, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(form)
}

impl<S, T> FromRequest<S> for PageForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let form = which(&parts);
        let mut head = Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.uri_mut() = parts.uri.clone();
        *head.headers_mut() = parts.headers.clone();
        // Read once, within the body limit the request carries.
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let input: T = parse(&head, bytes.clone(), state).await?;
        let fields: FormFields = parse(&head, bytes, state).await?;
        let csrf = form_value(&fields, "csrf");
        viewer
            .session
            .check_form(head.headers(), csrf, &viewer.shell, &form)
            .map_err(IntoResponse::into_response)?;
        Ok(Self { viewer, input })
    }
}
