//! Checks that several parts of the config share: URLs, password hashes, required keys.

use super::Problem;
use url::{Host, Url};

/// Parses an http(s) URL and requires https unless the host is loopback.
pub(crate) fn web_url(key: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Url> {
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(e) => {
            problems.push(Problem::new(key, format!("\"{text}\" is not an absolute URL ({e})")));
            return None;
        }
    };
    match url.scheme() {
        "https" => Some(url),
        "http" if is_loopback(&url) => Some(url),
        "http" => {
            problems.push(Problem::new(
                key,
                format!("\"{text}\" must use https (http is only allowed on loopback)"),
            ));
            None
        }
        other => {
            problems.push(Problem::new(key, format!("\"{text}\" has scheme {other}: use https")));
            None
        }
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub(crate) fn check_argon2_hash(key: &str, hash: &str, problems: &mut Vec<Problem>) {
    match argon2::PasswordHash::new(hash) {
        Ok(parsed) if parsed.algorithm.as_str().starts_with("argon2") => {}
        Ok(parsed) => problems.push(Problem::new(
            key,
            format!("is a {} hash; only argon2 is accepted", parsed.algorithm),
        )),
        Err(e) => problems.push(Problem::new(key, format!("is not an argon2 PHC string ({e})"))),
    }
}

/// `value`, or a problem saying that `key` is required for upstreams of kind `kind`.
pub(crate) fn required<T: Clone>(
    at: &str,
    kind: &str,
    key: &str,
    value: &Option<T>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    if value.is_none() {
        problems.push(Problem::new(
            format!("{at}.{key}"),
            format!("is required for kind \"{kind}\""),
        ));
    }
    value.clone()
}

/// A required https URL (http on loopback) of an upstream, without a trailing slash.
pub(crate) fn required_url(
    at: &str,
    kind: &str,
    key: &str,
    value: &Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let text = required(at, kind, key, value, problems)?;
    web_url(&format!("{at}.{key}"), &text, problems).map(|_| text.trim_end_matches('/').to_string())
}
