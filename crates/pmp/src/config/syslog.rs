//! Where audit entries are forwarded (`syslog_target`): a receiver parsed from
//! `udp://host:port` or `tcp://host:port`, refused at start-up when malformed.

use std::fmt;

/// How messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RFC 5426: one datagram per message; cheap, and lost when the receiver is down.
    Udp,
    /// RFC 6587: a stream; what the receiver does not take is sent again later.
    Tcp,
}

/// A syslog receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub protocol: Protocol,
    /// A DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    /// Never 0.
    pub port: u16,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let bad = || format!("`{raw}` is not udp://HOST:PORT or tcp://HOST:PORT");
        let (protocol, rest) = match raw.split_once("://") {
            Some(("udp", rest)) => (Protocol::Udp, rest),
            Some(("tcp", rest)) => (Protocol::Tcp, rest),
            _ => return Err(bad()),
        };
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) if v6.parse::<std::net::Ipv6Addr>().is_ok() => v6,
            Some(_) => return Err(bad()),
            None => host,
        };
        let name_ok = |h: &str| {
            !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        };
        if !(name_ok(host) || host.parse::<std::net::Ipv6Addr>().is_ok()) {
            return Err(bad());
        }
        Ok(Self {
            protocol,
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.protocol {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
