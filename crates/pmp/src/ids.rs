//! Domain identifiers, each valid by construction: built only by `parse`, so no handler passes
//! a raw string or integer as an id, and nothing user-supplied reaches a query or a Proxmox VE
//! URL unchecked. The grammars are deliberately narrow (no `/`, `..`, spaces or control
//! characters), which is what makes them safe inside paths.

use std::fmt;

/// Why an identifier was refused; the message names what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(&'static str);

fn check(
    raw: &str,
    max: usize,
    allowed: impl Fn(u8) -> bool,
    what: &'static str,
) -> Result<String, IdError> {
    let ok = !raw.is_empty()
        && raw.len() <= max
        && raw.bytes().all(&allowed)
        && raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(IdError(what))
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A Proxmox VE server (or cluster) registered in the portal: 1 to 32 characters of
    /// lower-case letters, digits and `-`, starting with a letter or digit.
    ServerId
);
string_id!(
    /// A Proxmox VE node name (a host name label): 1 to 63 letters, digits or `-`.
    Node
);
string_id!(
    /// A Proxmox VE resource pool: 1 to 64 letters, digits, `-`, `_` or `.`.
    PoolId
);

impl ServerId {
    /// Validates a server id.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        check(
            raw,
            32,
            allowed,
            "a server id is 1 to 32 lower-case letters, digits or '-'",
        )
        .map(Self)
    }
}

impl Node {
    /// Validates a node name.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
        check(
            raw,
            63,
            allowed,
            "a node name is 1 to 63 letters, digits or '-'",
        )
        .map(Self)
    }
}

impl PoolId {
    /// Validates a pool id.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        check(
            raw,
            64,
            allowed,
            "a pool id is 1 to 64 letters, digits, '-', '_' or '.'",
        )
        .map(Self)
    }
}

/// A guest's id within its server, as Proxmox VE allows it (100 to 999,999,999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vmid(u32);

impl Vmid {
    /// Validates a VMID given as text (decimal digits only: no sign, spaces or exponent).
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        const WHAT: &str = "a VMID is a whole number from 100 to 999999999";
        // Leading zeros are refused so that one guest has exactly one spelling.
        if raw.is_empty()
            || raw.len() > 9
            || raw.starts_with('0')
            || !raw.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(IdError(WHAT));
        }
        match raw.parse::<u32>() {
            Ok(n) if n >= 100 => Ok(Self(n)),
            _ => Err(IdError(WHAT)),
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Vmid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A name people give things (tokens, roles, groups): trimmed, 1 to `max` characters, no
/// control characters and no zero-width or bidirectional formatting characters, which could
/// make one name look like another or reorder the text around it. None when refused.
pub fn printable_name(raw: &str, max: usize) -> Option<String> {
    let name = raw.trim();
    let printable = name.chars().all(|c| {
        !c.is_control()
            && !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    });
    (!name.is_empty() && name.chars().count() <= max && printable).then(|| name.to_owned())
}

/// A guest anywhere in the portal: its server and its VMID there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GuestRef {
    /// The server.
    pub server: ServerId,
    /// The VMID on that server.
    pub vmid: Vmid,
}

impl fmt::Display for GuestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.server, self.vmid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_their_grammar_and_nothing_else() {
        assert_eq!(ServerId::parse("pve-lab1").unwrap().as_str(), "pve-lab1");
        assert_eq!(Node::parse("Node-01").unwrap().as_str(), "Node-01");
        assert_eq!(
            PoolId::parse("tenant_a.prod").unwrap().as_str(),
            "tenant_a.prod"
        );
        assert_eq!(Vmid::parse("100").unwrap().get(), 100);
        for bad in [
            "",
            "../x",
            "a/b",
            "UPPER",
            "-lead",
            "a b",
            "a\u{0}",
            "ä",
            &"a".repeat(33),
        ] {
            assert!(ServerId::parse(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "node/x", "..", "n.1", &"n".repeat(64)] {
            assert!(Node::parse(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "99",
            "0100",
            "0100x",
            "+100",
            " 100",
            "1e3",
            "1000000000",
            "-5",
            "4294967296",
        ] {
            assert!(Vmid::parse(bad).is_err(), "{bad:?}");
        }
        let guest = GuestRef {
            server: ServerId::parse("a").unwrap(),
            vmid: Vmid::parse("101").unwrap(),
        };
        assert_eq!(guest.to_string(), "a/101");
    }
}
