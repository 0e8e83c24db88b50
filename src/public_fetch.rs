//! Fetching what a client names by URL — a Client ID Metadata Document, the `jwks_uri`
//! of a client that registered itself — where the URL is chosen by whoever is on the
//! other end, so a fetch must not become a way into the network Gatehouse sits in
//! (server-side request forgery). Every fetch: GET only, `https` only, no redirects, no
//! proxy, a time limit, a size limit, and only to public addresses: the host is
//! resolved here, every address is checked, and the connection goes to the checked
//! addresses (reqwest connects to what the resolver answers), so a name cannot answer
//! the check with one address and the connection with another. An address literal in
//! the URL is checked the same way. `allow_loopback` (for tests) also lets loopback
//! addresses and `http://` to them through.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The most fetches in flight at once: anonymous requests start them.
const MOST_AT_ONCE: usize = 16;

#[derive(Clone)]
pub struct PublicFetch {
    client: reqwest::Client,
    allow_loopback: bool,
    in_flight: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublicFetchError {
    #[error("{0}")]
    Refused(String),
    #[error("too many fetches at once; try again")]
    Busy,
    #[error("the fetch failed: {0}")]
    Failed(String),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the answer is {0}")]
    Status(reqwest::StatusCode),
}

/// A fetched answer: its body and how long it may be kept, as its Cache-Control says.
pub struct Fetched {
    pub body: Vec<u8>,
    pub max_age: Option<i64>,
}

impl PublicFetch {
    pub fn new(timeout: Duration, allow_loopback: bool) -> Result<PublicFetch, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .dns_resolver(Arc::new(PublicResolver { allow_loopback }))
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(PublicFetch {
            client,
            allow_loopback,
            in_flight: Arc::new(tokio::sync::Semaphore::new(MOST_AT_ONCE)),
        })
    }

    /// Sends `url` through [`fetchable`].
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        fetchable(url, self.allow_loopback)
    }

    /// GETs `url` as `accept`, reading at most `most_bytes` of a 200 answer.
    pub async fn get(&self, url: &Url, accept: &str, most_bytes: usize) -> Result<Fetched, PublicFetchError> {
        self.check_url(url).map_err(PublicFetchError::Refused)?;
        let _place = self.in_flight.try_acquire().map_err(|_| PublicFetchError::Busy)?;
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(|e| PublicFetchError::Failed(describe(&e)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(PublicFetchError::Status(response.status()));
        }
        if response.content_length().is_some_and(|n| n > most_bytes as u64) {
            return Err(PublicFetchError::TooLarge(most_bytes));
        }
        let max_age = max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| PublicFetchError::Failed(describe(&e)))?
        {
            if body.len() + chunk.len() > most_bytes {
                return Err(PublicFetchError::TooLarge(most_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, max_age })
    }
}

impl PublicFetch {
    /// POSTs `body` as `content_type` to `url` (with `authorization`, when given); the
    /// answer's status, its body unread.
    pub async fn post(
        &self,
        url: &Url,
        content_type: &str,
        authorization: Option<&str>,
        body: Vec<u8>,
    ) -> Result<reqwest::StatusCode, PublicFetchError> {
        self.check_url(url).map_err(PublicFetchError::Refused)?;
        let _place = self.in_flight.try_acquire().map_err(|_| PublicFetchError::Busy)?;
        let mut request = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        if let Some(authorization) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PublicFetchError::Failed(describe(&e)))?;
        Ok(response.status())
    }
}

/// Whether `url` is one Gatehouse may fetch for a client at all: https (http to
/// loopback when `allow_loopback`), no credentials, and, when its host is an address,
/// a public one.
pub fn fetchable(url: &Url, allow_loopback: bool) -> Result<(), String> {
    let loopback_host = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => return Err(format!("{url} has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback_host => {}
        _ => return Err(format!("{url} is not an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{url} carries credentials"));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    match literal {
        Some(ip) if !allowed(ip, allow_loopback) => Err(format!("{url} names a non-public address")),
        _ => Ok(()),
    }
}

/// The error and its causes in one line (a refused address is a cause of a connect error).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The `max-age` of a Cache-Control header; `no-store` and `no-cache` read as 0.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            age = seconds.trim_matches('"').parse().ok();
        }
    }
    age
}

/// Resolves names to their public addresses only; a name with none is an error.
struct PublicResolver {
    allow_loopback: bool,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| allowed(a.ip(), allow_loopback)).collect();
            if public.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} resolves to no public address").into();
                return Err(refused);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether Gatehouse may connect to `ip` for a client: a public unicast address (or a
/// loopback one when allowed).
pub fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => !v4.is_loopback() && public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (RFC 6598), benchmarking (RFC 2544), reserved (240/4).
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10 (deprecated).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // Documentation 2001:db8::/32; NAT64 64:ff9b::/96 reaches IPv4 behind it.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_are_allowed() {
        for refused in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!allowed(refused.parse().unwrap(), false), "{refused}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:93.184.216.34",
        ] {
            assert!(allowed(public.parse().unwrap(), false), "{public}");
        }
        assert!(allowed("127.0.0.1".parse().unwrap(), true));
        assert!(
            !allowed("10.0.0.1".parse().unwrap(), true),
            "loopback only, not private"
        );
    }

    #[test]
    fn cache_control_gives_the_max_age_and_no_store_none() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("cache-control", "public, max-age=600".parse().unwrap());
        assert_eq!(max_age(&headers), Some(600));
        headers.insert("cache-control", "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), Some(0));
    }
}
