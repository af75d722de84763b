//! `DatabaseUrl`: the validated choice of engine and location, parsed once at start-up so that
//! a malformed URL is reported before anything is opened. Its `Display` never shows a password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::postgres::PgConnectOptions;

/// Where the portal's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file, created on first run.
    Sqlite(PathBuf),
    /// A PostgreSQL server, as a `postgres://` URL.
    Postgres(String),
}

/// Why a database URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("the database URL is empty")]
    Empty,
    #[error(
        "the database URL `{0}` has no recognised scheme; use sqlite://PATH or postgres://USER@HOST/DB"
    )]
    UnknownScheme(String),
    #[error("the SQLite database URL names no file; use sqlite://PATH")]
    NoPath,
    #[error("the PostgreSQL URL `{0}` is malformed: {1}")]
    MalformedPostgres(String, String),
}

impl FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::Empty);
        }
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or(raw.strip_prefix("sqlite:"))
        {
            // In-memory databases vanish per connection and would lose everything on restart.
            if path.is_empty() || path.starts_with(":memory:") || path.contains('?') {
                return Err(UrlError::NoPath);
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let redacted = redact(raw);
            PgConnectOptions::from_str(raw)
                .map_err(|e| UrlError::MalformedPostgres(redacted, first_line(&e.to_string())))?;
            return Ok(Self::Postgres(raw.to_owned()));
        }
        Err(UrlError::UnknownScheme(redact(raw)))
    }
}

impl DatabaseUrl {
    /// The engine's name, for logs and test output.
    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// Replaces the password in `scheme://user:password@host` so the URL can be logged.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(64).collect();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            let tail: String = tail.split('?').next().unwrap_or_default().to_owned();
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => format!(
            "{scheme}://{authority}{}",
            tail.split('?').next().unwrap_or_default()
        ),
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_owned()
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Sqlite(path) => s.serialize_str(&format!("sqlite://{}", path.display())),
            Self::Postgres(url) => s.serialize_str(url),
        }
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_engines() {
        assert_eq!(
            "sqlite://./data/pmp.db".parse(),
            Ok(DatabaseUrl::Sqlite("./data/pmp.db".into()))
        );
        assert_eq!(
            "sqlite:///var/lib/pmp/pmp.db".parse(),
            Ok(DatabaseUrl::Sqlite("/var/lib/pmp/pmp.db".into()))
        );
        let pg: DatabaseUrl = "postgres://pmp:s3cret@db:5432/pmp".parse().unwrap();
        assert_eq!(pg.engine(), "postgres");
        assert_eq!(pg.to_string(), "postgres://pmp:***@db:5432/pmp");
    }

    #[test]
    fn refuses_malformed_urls_without_echoing_passwords() {
        assert_eq!("".parse::<DatabaseUrl>(), Err(UrlError::Empty));
        assert_eq!("sqlite://".parse::<DatabaseUrl>(), Err(UrlError::NoPath));
        assert_eq!(
            "sqlite::memory:".parse::<DatabaseUrl>(),
            Err(UrlError::NoPath)
        );
        let err = "mysql://root:hunter2@db/x"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = "postgres://u:hunter2@db:notaport/x"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert!(matches!(err, UrlError::MalformedPostgres(..)), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn redaction_drops_query_strings() {
        assert_eq!(
            redact("postgres://u:p@h/db?password=x"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact("postgres://h/db?password=x"), "postgres://h/db");
    }
}
