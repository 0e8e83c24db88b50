//! Every path Gatehouse serves, shared by the router, the pages and the discovery document.

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/jwks";
pub const HEALTH: &str = "/healthz";
pub const AUTHORIZE: &str = "/authorize";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = "/userinfo";
pub const REVOKE: &str = "/revoke";
pub const INTROSPECT: &str = "/introspect";
pub const END_SESSION: &str = "/end_session";
/// Where upstreams send the person back after their own logout.
pub const UPSTREAM_LOGGED_OUT: &str = "/end_session/upstream";
pub const CONSENT: &str = "/consent";
/// `/login/{pending}/{upstream}`: starts a login at an upstream (and takes the local form).
pub const LOGIN: &str = "/login/{pending}/{upstream}";

pub fn login_start(pending: &str, upstream: &str) -> String {
    format!("/login/{pending}/{upstream}")
}

/// `/callback/{upstream}`: where upstreams send the person back.
pub const CALLBACK: &str = "/callback/{upstream}";

pub fn callback(upstream: &str) -> String {
    format!("/callback/{upstream}")
}
