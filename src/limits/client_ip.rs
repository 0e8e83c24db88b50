//! The client's IP address, for the limits counted per address: the peer of the
//! connection, or, when that peer is a configured trusted proxy, the last address in the
//! proxy's header (the one the proxy itself added; earlier ones are the client's word).

use crate::config::Limits;
use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

pub fn client_ip(peer: Option<SocketAddr>, headers: &HeaderMap, limits: &Limits) -> Option<IpAddr> {
    let peer = peer?.ip();
    if !limits.trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded = headers
        .get_all(limits.client_ip_header.as_str())
        .iter()
        .next_back()
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok());
    Some(forwarded.unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy_and_only_its_last_entry() {
        let limits = Limits {
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
            ..Limits::default()
        };
        let proxy = Some("10.0.0.1:4000".parse().unwrap());
        let stranger = Some("198.51.100.7:4000".parse().unwrap());
        let forwarded = headers(&["203.0.113.9, 192.0.2.5"]);
        assert_eq!(client_ip(proxy, &forwarded, &limits), "192.0.2.5".parse().ok());
        assert_eq!(client_ip(stranger, &forwarded, &limits), "198.51.100.7".parse().ok());
        let two_lines = headers(&["203.0.113.9", "192.0.2.6"]);
        assert_eq!(client_ip(proxy, &two_lines, &limits), "192.0.2.6".parse().ok());
        assert_eq!(client_ip(proxy, &headers(&["junk"]), &limits), "10.0.0.1".parse().ok());
        assert_eq!(client_ip(None, &forwarded, &limits), None);
    }
}
