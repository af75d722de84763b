//! Where the portal may connect: a Proxmox VE URL is `https://host[:port]` (port 8006 when
//! left out, as PVE listens there), without credentials, query or path beyond `/api2/json`,
//! and the host must not resolve to an address a server never has but an attacker would like
//! the portal to reach: cloud metadata services, link-local, unspecified, multicast or
//! broadcast (IPv4-mapped IPv6 forms included). Private and loopback addresses are allowed:
//! that is where Proxmox VE lives.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// The first refused address class an address falls in, if any.
fn refused(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let metadata = [
                Ipv4Addr::new(169, 254, 169, 254),
                Ipv4Addr::new(100, 100, 100, 200),
            ];
            if metadata.contains(&v4) {
                Some("a cloud metadata address")
            } else if v4.is_link_local() {
                Some("a link-local address")
            } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
                Some("not a host address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let metadata = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
            if v6 == metadata {
                Some("a cloud metadata address")
            } else if v6.is_unicast_link_local() {
                Some("a link-local address")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a host address")
            } else {
                None
            }
        }
    }
}

/// Checks `raw` and resolves its host; returns the URL to use, `https://host:port`.
pub async fn check(raw: &str) -> Result<String, String> {
    let shape = "a Proxmox VE address is https://HOST or https://HOST:PORT";
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(shape.to_owned());
    }
    let url = url::Url::parse(raw).map_err(|_| shape.to_owned())?;
    if url.scheme() != "https" {
        return Err(
            "only https:// addresses are accepted: Proxmox VE always serves HTTPS".to_owned(),
        );
    }
    let path_ok = matches!(url.path(), "" | "/" | "/api2/json" | "/api2/json/");
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || !path_ok
    {
        return Err(shape.to_owned());
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| shape.to_owned())?;
    let port = url.port().unwrap_or(8006);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lookup = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((bare, port)),
            );
            match lookup.await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                _ => return Err(format!("the host name {bare} does not resolve")),
            }
        }
    };
    if let Some(why) = addresses.iter().find_map(|ip| refused(*ip)) {
        return Err(format!(
            "{bare} is {why}, which cannot be a Proxmox VE server"
        ));
    }
    Ok(format!("https://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn metadata_link_local_and_plain_http_are_refused() {
        for bad in [
            "http://pve.example:8006",
            "https://169.254.169.254",
            "https://[::ffff:169.254.169.254]:8006",
            "https://[fd00:ec2::254]",
            "https://169.254.10.1:8006",
            "https://[fe80::1]:8006",
            "https://0.0.0.0:8006",
            "https://255.255.255.255",
            "https://224.0.0.1",
            "https://user:pw@10.0.0.1:8006",
            "https://10.0.0.1:8006/../../etc",
            "https://10.0.0.1:8006/?x=1",
            "ftp://10.0.0.1",
            "javascript:alert(1)",
            "",
        ] {
            assert!(check(bad).await.is_err(), "{bad}");
        }
        assert_eq!(
            check("https://10.0.0.5").await.unwrap(),
            "https://10.0.0.5:8006"
        );
        assert_eq!(
            check(" https://127.0.0.2:8443/api2/json ").await.unwrap(),
            "https://127.0.0.2:8443"
        );
        assert_eq!(
            check("https://[::1]:8006").await.unwrap(),
            "https://[::1]:8006"
        );
        assert!(check("https://localhost:8006").await.is_ok());
    }
}
