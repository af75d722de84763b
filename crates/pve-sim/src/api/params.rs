//! Request parameters as PVE takes them: the query string merged with a form-encoded or JSON
//! body (query wins), at most 512 KiB, and a check that refuses undeclared names.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde_json::Value;

use super::PveError;

const MAX_BODY: usize = 512 * 1024;

/// Every parameter of a request, by name.
#[derive(Debug, Default)]
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    /// Refuses parameters the endpoint does not declare, as PVE does.
    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), PveError> {
        let why =
            "property is not defined in schema and the schema does not allow additional properties";
        let unknown: BTreeMap<String, String> = self
            .0
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| (k.clone(), why.to_owned()))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(PveError::parameters(unknown))
        }
    }

    /// The value of `name`, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Refuses a request that lacks any of `names`, naming each missing one as PVE does.
    pub(crate) fn require(&self, names: &[&str]) -> Result<(), PveError> {
        let missing: BTreeMap<String, String> = names
            .iter()
            .filter(|n| !self.0.contains_key(**n))
            .map(|n| {
                (
                    (*n).to_owned(),
                    "property is missing and it is not optional".to_owned(),
                )
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(PveError::parameters(missing))
        }
    }

    /// `-name value` pairs, as PVE logs a task's parameters.
    pub(crate) fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("-{k} '{}'", v.chars().take(60).collect::<String>()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// An optional non-negative integer parameter, with PVE's message when it is not one.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<u64>, PveError> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    PveError::parameter(name, format!("type check ('integer') failed - got '{v}'"))
                })
            })
            .transpose()
    }
}

fn decode_form(text: &str) -> Vec<(String, String)> {
    // PVE also splits on ';', so tags and property strings must be percent-encoded.
    text.split(['&', ';'])
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                let plus = s.replace('+', " ");
                percent_decode(&plus)
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes; malformed escapes stay as they are.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = PveError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PveError> {
        let query: Vec<(String, String)> =
            request.uri().query().map(decode_form).unwrap_or_default();
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| PveError::new(StatusCode::BAD_REQUEST, "unable to read request body"))?;
        if body.len() > MAX_BODY {
            return Err(PveError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request entity too large",
            ));
        }
        let mut params = BTreeMap::new();
        if json && !body.is_empty() {
            let value: Value = serde_json::from_slice(&body)
                .map_err(|_| PveError::new(StatusCode::BAD_REQUEST, "unable to parse JSON body"))?;
            let Value::Object(map) = value else {
                return Err(PveError::new(
                    StatusCode::BAD_REQUEST,
                    "JSON body must be an object",
                ));
            };
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s,
                    Value::Bool(b) => u8::from(b).to_string(),
                    other => other.to_string(),
                };
                params.insert(k, text);
            }
        } else {
            params.extend(decode_form(&String::from_utf8_lossy(&body)));
        }
        // Query parameters win over body parameters.
        params.extend(query);
        Ok(Self(params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_like_pve() {
        assert_eq!(
            decode_form("a=1&tags=x%3By;b=hello+world&c"),
            vec![
                ("a".into(), "1".into()),
                ("tags".into(), "x;y".into()),
                ("b".into(), "hello world".into()),
                ("c".into(), "".into()),
            ]
        );
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
