//! Cookies: read from the request, and set through one constructor that applies the
//! security flags every Gatehouse cookie carries.

use axum::http::{HeaderMap, HeaderValue, header};

/// The browser's session: the hash of its value keys the session record.
pub const SESSION: &str = "gatehouse_session";
/// A random id for the browser, binding each login in progress to the browser that
/// started it (against login CSRF).
pub const BROWSER: &str = "gatehouse_browser";

/// The value of the cookie `name`, if the request carries it.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
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

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure when `secure`; a session
/// cookie when `max_age` is `None`.
pub fn set(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    // Values are base64url tokens, always valid in a header.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// A `Set-Cookie` value that deletes the cookie `name`.
pub fn clear(name: &str, secure: bool) -> HeaderValue {
    set(name, "", secure, Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cookie_is_http_only_and_lax_and_secure_on_https() {
        let cookie = set(SESSION, "v", true, Some(60));
        assert_eq!(
            cookie,
            "gatehouse_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert_eq!(
            set(BROWSER, "v", false, None),
            "gatehouse_browser=v; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            clear(SESSION, true),
            "gatehouse_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
    }

    #[test]
    fn reads_one_cookie_among_many() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; gatehouse_session=abc; b=2"),
        );
        assert_eq!(get(&headers, SESSION).as_deref(), Some("abc"));
        assert_eq!(get(&headers, BROWSER), None);
    }
}
