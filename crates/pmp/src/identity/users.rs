//! The `users` table: usernames are validated once, here, so nothing else handles raw names.

use std::fmt;

/// A validated username: 3 to 64 characters of `a-z 0-9 . _ -`, starting with a letter or
/// digit. Lower-case ASCII only, so look-alike and mixed-case names cannot collide visually.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// Why a username was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "a username is 3 to 64 characters of lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
)]
pub struct UsernameError;

impl Username {
    /// Validates `raw` (surrounding spaces are ignored, upper case is folded to lower).
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let name = raw.trim().to_ascii_lowercase();
        let valid_chars = name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        let starts_well = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if (3..=64).contains(&name.len()) && valid_chars && starts_well {
            Ok(Self(name))
        } else {
            Err(UsernameError)
        }
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_plain_lower_case_ascii() {
        assert_eq!(
            Username::parse(" Alice.Admin ").unwrap().as_str(),
            "alice.admin"
        );
        for bad in [
            "ab",
            "-lead",
            "<script>",
            "admin'--",
            "аdmin",
            "a b",
            "../etc",
            &"a".repeat(65),
        ] {
            assert_eq!(Username::parse(bad), Err(UsernameError), "{bad}");
        }
    }
}
