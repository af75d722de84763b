//! Where a notification may go. A channel's URL or mail host is resolved and every address it
//! resolves to is checked: loopback, unspecified, link-local (with the cloud metadata
//! addresses), multicast and broadcast are refused, also when written as IPv4-mapped or
//! IPv4-compatible IPv6, unless the configuration allows that address (`notify_allow`). The
//! connection is then made to the checked address itself, so a DNS answer that changes between
//! check and use (rebinding) cannot redirect it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::config::ProxyNet;

/// Why a destination is refused (said to the administrator as is).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("the address must be an http:// or https:// URL without user name or password")]
    BadUrl,
    #[error("the host {0} cannot be resolved")]
    Unresolved(String),
    #[error(
        "{0} is a loopback, link-local, metadata or otherwise internal address; notifications may not go there unless notify_allow lists it"
    )]
    Internal(IpAddr),
}

/// The address an IPv4-mapped or -compatible IPv6 address carries, or the address itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // ::a.b.c.d (deprecated "compatible" form), but not :: and ::1 themselves.
            if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                return IpAddr::V4(std::net::Ipv4Addr::from(
                    ((s[6] as u32) << 16) | s[7] as u32,
                ));
            }
            ip
        }
        v4 => v4,
    }
}

/// Whether `ip` (already canonical) is internal in the sense above.
fn internal(ip: IpAddr) -> bool {
    const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                // Alibaba's metadata service sits outside link-local.
                || v4.octets() == [100, 100, 100, 200]
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == METADATA_V6
        }
    }
}

/// Checks one resolved address.
pub fn check(ip: IpAddr, allowed: &[ProxyNet]) -> Result<(), Refused> {
    let ip = canonical(ip);
    if internal(ip) && !allowed.iter().any(|net| net.0.contains(&ip)) {
        return Err(Refused::Internal(ip));
    }
    Ok(())
}

/// Resolves `host:port` and checks every address; returns the first.
pub async fn resolve(host: &str, port: u16, allowed: &[ProxyNet]) -> Result<SocketAddr, Refused> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|_| Refused::Unresolved(host.to_owned()))?
            .collect(),
    };
    for addr in &addrs {
        check(addr.ip(), allowed)?;
    }
    addrs
        .first()
        .copied()
        .ok_or_else(|| Refused::Unresolved(host.to_owned()))
}

/// Parses a notification URL: http(s), a host, no credentials in it.
pub fn parse_url(text: &str) -> Result<url::Url, Refused> {
    let url = url::Url::parse(text.trim()).map_err(|_| Refused::BadUrl)?;
    let fine = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && text.len() <= 2048;
    fine.then_some(url).ok_or(Refused::BadUrl)
}

/// Resolves and checks a parsed URL's host.
pub async fn resolve_url(url: &url::Url, allowed: &[ProxyNet]) -> Result<SocketAddr, Refused> {
    let host = url.host_str().ok_or(Refused::BadUrl)?;
    let port = url.port_or_known_default().ok_or(Refused::BadUrl)?;
    resolve(host, port, allowed).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_in_every_spelling() {
        for bad in [
            "127.0.0.1",
            "127.9.9.9",
            "0.0.0.0",
            "169.254.169.254",
            "100.100.100.200",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "fe80::1",
            "fd00:ec2::254",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(check(ip(bad), &[]).is_err(), "{bad}");
        }
        for fine in ["203.0.113.5", "10.0.0.7", "192.168.1.20", "2001:db8::1"] {
            assert_eq!(check(ip(fine), &[]), Ok(()), "{fine}");
        }
        let allow: Vec<ProxyNet> = vec!["127.0.0.2/32".parse().unwrap()];
        assert_eq!(check(ip("127.0.0.2"), &allow), Ok(()));
        assert!(check(ip("::ffff:127.0.0.1"), &allow).is_err());
    }

    #[test]
    fn urls_must_be_plain_http() {
        assert!(parse_url("https://hooks.example/x").is_ok());
        for bad in [
            "ftp://x/",
            "https://user:pw@x/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert_eq!(parse_url(bad), Err(Refused::BadUrl), "{bad}");
        }
    }
}
