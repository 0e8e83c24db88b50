//! Cookies: read from the request, and set through one constructor that applies the
//! security flags every Gatehouse cookie carries.

use axum::http::{HeaderMap, HeaderValue, header};

/// The cookies Gatehouse sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cookie {
    /// The browser's session: the hash of its value keys the session record.
    Session,
    /// A random id for the browser, binding each login in progress to the browser that
    /// started it (against login CSRF).
    Browser,
}

/// The cookies of one issuer. On an https issuer every cookie is Secure and named with
/// the `__Host-` prefix, which browsers accept only from a secure origin, for the whole
/// host and no other: a neighbouring subdomain cannot plant or overwrite one (session
/// fixation, login CSRF through a planted browser id).
#[derive(Debug, Clone, Copy)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    pub fn for_issuer(https: bool) -> Cookies {
        Cookies { secure: https }
    }

    pub fn name(self, cookie: Cookie) -> &'static str {
        match (cookie, self.secure) {
            (Cookie::Session, false) => "gatehouse_session",
            (Cookie::Session, true) => "__Host-gatehouse_session",
            (Cookie::Browser, false) => "gatehouse_browser",
            (Cookie::Browser, true) => "__Host-gatehouse_browser",
        }
    }

    /// The value of `cookie`, if the request carries it.
    pub fn get(self, headers: &HeaderMap, cookie: Cookie) -> Option<String> {
        let name = self.name(cookie);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.trim_matches('"').to_string())
            .filter(|value| !value.is_empty())
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure on https; a session
    /// cookie when `max_age` is `None`.
    pub fn set(self, cookie: Cookie, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut text = format!("{}={value}; Path=/; HttpOnly; SameSite=Lax", self.name(cookie));
        if let Some(seconds) = max_age {
            text.push_str(&format!("; Max-Age={seconds}"));
        }
        if self.secure {
            text.push_str("; Secure");
        }
        // Values are base64url tokens, always valid in a header.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
    }

    /// A `Set-Cookie` value that deletes `cookie`.
    pub fn clear(self, cookie: Cookie) -> HeaderValue {
        self.set(cookie, "", Some(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cookie_is_http_only_and_lax_and_secure_and_host_only_on_https() {
        let https = Cookies::for_issuer(true);
        assert_eq!(
            https.set(Cookie::Session, "v", Some(60)),
            "__Host-gatehouse_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert_eq!(
            Cookies::for_issuer(false).set(Cookie::Browser, "v", None),
            "gatehouse_browser=v; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            https.clear(Cookie::Session),
            "__Host-gatehouse_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
    }

    #[test]
    fn reads_one_cookie_among_many_and_only_under_the_issuer_s_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; gatehouse_session=abc; b=2"),
        );
        let http = Cookies::for_issuer(false);
        assert_eq!(http.get(&headers, Cookie::Session).as_deref(), Some("abc"));
        assert_eq!(http.get(&headers, Cookie::Browser), None);
        assert_eq!(
            Cookies::for_issuer(true).get(&headers, Cookie::Session),
            None,
            "a cookie without the prefix may come from another subdomain"
        );
    }
}
