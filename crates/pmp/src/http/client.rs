//! Who is on the other end of a request: the client's address and user agent, for throttling,
//! the sessions list and security events. `X-Forwarded-For` is believed only when the
//! connection comes from a configured trusted proxy; anyone else could write anything there
//! and so dodge throttling or frame another address.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::config::ProxyNet;
use crate::http::Trail;

/// The proxies whose `X-Forwarded-For` is believed, as configured; the application puts them
/// in every request's extensions (none there: nobody is trusted).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Arc<Vec<ProxyNet>>);

/// The client of a request.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client's address (behind trusted proxies, the one they report).
    pub ip: IpAddr,
    /// The `User-Agent`, cut to 256 characters.
    pub user_agent: String,
    /// The request's audit facts (a detached trail outside a request).
    pub trail: Trail,
}

impl Client {
    /// The client of a command-line action (`pmp user ...`, `pmp backup`): local, named by
    /// its command, outside any request.
    pub fn cli(command: &str) -> Self {
        Self {
            ip: IpAddr::from([127, 0, 0, 1]),
            user_agent: format!("pmp {command}"),
            trail: Trail::detached("cli"),
        }
    }
}

fn trusted(proxies: &[ProxyNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    proxies.iter().any(|net| net.0.contains(&ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address for a connection from `peer`: the right-most `X-Forwarded-For` entry
/// that is not itself a trusted proxy, when `peer` is trusted; `peer` otherwise. A malformed
/// entry stops the walk, so garbage never becomes an address.
pub fn client_ip(proxies: &[ProxyNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let mut ip = canonical(peer);
    if !trusted(proxies, ip) {
        return ip;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(hop) = hop.parse::<IpAddr>() else {
            break;
        };
        ip = canonical(hop);
        if !trusted(proxies, ip) {
            break;
        }
    }
    ip
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        // Requests always arrive through a listener that records the peer; a missing one can
        // only be an in-process call, which is treated as the unspecified address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(256)
            .collect();
        let proxies = parts
            .extensions
            .get::<TrustedProxies>()
            .map(|p| p.0.clone())
            .unwrap_or_default();
        let ip = client_ip(&proxies, peer, &parts.headers);
        // Requests all pass the request-id middleware; an in-process call gets its own trail.
        let trail = parts
            .extensions
            .get::<Trail>()
            .cloned()
            .unwrap_or_else(|| Trail::new(uuid::Uuid::new_v4().to_string()));
        trail.set_ip(ip);
        Ok(Self {
            ip,
            user_agent,
            trail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxies: Vec<ProxyNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let spoof = xff("198.51.100.7");
        assert_eq!(client_ip(&proxies, stranger, &spoof), stranger);
        assert_eq!(
            client_ip(&proxies, proxy, &spoof),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // A client-supplied left-most entry is ignored: the right-most untrusted hop counts.
        let chained = xff("1.1.1.1, 198.51.100.7, 10.9.9.9");
        assert_eq!(
            client_ip(&proxies, proxy, &chained),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&proxies, proxy, &xff("<script>")), proxy);
        assert_eq!(client_ip(&proxies, proxy, &HeaderMap::new()), proxy);
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(
            client_ip(&proxies, mapped, &spoof),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }
}
