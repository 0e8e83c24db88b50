//! Every path Gatehouse serves, shared by the router and the discovery document.

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/jwks";
pub const HEALTH: &str = "/healthz";
