//! Every path Gatehouse serves, shared by the router, the pages and the discovery document.

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// OAuth 2.0 Authorization Server Metadata (RFC 8414 §3) of an issuer without a path;
/// for one with a path, the path goes after it ([`authorization_server_metadata`]).
pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
pub const JWKS: &str = "/jwks";
pub const HEALTH: &str = "/healthz";
/// 200 while the process runs.
pub const HEALTH_LIVE: &str = "/healthz/live";
/// 200 once the store answers, the keys are loaded and every required upstream is discovered.
pub const HEALTH_READY: &str = "/healthz/ready";
/// Prometheus metrics, on the admin listener.
pub const METRICS: &str = "/metrics";
pub const AUTHORIZE: &str = "/authorize";
pub const TOKEN: &str = "/token";
/// Pushed Authorization Requests (RFC 9126).
pub const PAR: &str = "/par";
pub const USERINFO: &str = "/userinfo";
/// The device authorization endpoint (RFC 8628 §3.1).
pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
/// Where a person types the user code their device shows (RFC 8628 §3.3).
pub const DEVICE: &str = "/device";
/// Where the sign-in started at [`DEVICE`] answers.
pub const DEVICE_DONE: &str = "/device/done";
pub const REVOKE: &str = "/revoke";
pub const INTROSPECT: &str = "/introspect";
pub const END_SESSION: &str = "/end_session";
/// Where upstreams send the person back after their own logout.
pub const UPSTREAM_LOGGED_OUT: &str = "/end_session/upstream";
pub const CONSENT: &str = "/consent";
/// Dynamic Client Registration (RFC 7591).
pub const REGISTER: &str = "/register";
/// `/register/{client_id}`: a registered client's configuration endpoint (RFC 7592).
pub const REGISTER_CLIENT: &str = "/register/{client_id}";

pub fn register_client(client_id: &str) -> String {
    format!("/register/{client_id}")
}
/// `/backchannel/{upstream}`: where an upstream sends its back-channel logout tokens.
pub const BACKCHANNEL: &str = "/backchannel/{upstream}";

pub fn backchannel(upstream: &str) -> String {
    format!("/backchannel/{upstream}")
}
/// Where an upstream's Shared Signals transmitter pushes its events (RFC 8935).
pub const SSF_RECEIVER: &str = "/ssf/{upstream}";

pub fn ssf_receiver(upstream: &str) -> String {
    format!("/ssf/{upstream}")
}
/// The Shared Signals transmitter's configuration (SSF 1.0 §7.2).
pub const SSF_CONFIGURATION: &str = "/.well-known/ssf-configuration";
/// An app's streams: create (POST), read (GET), update (PATCH), replace (PUT), delete.
pub const SIGNALS_STREAMS: &str = "/signals/streams";
pub const SIGNALS_STATUS: &str = "/signals/status";
pub const SIGNALS_SUBJECTS_ADD: &str = "/signals/subjects/add";
pub const SIGNALS_SUBJECTS_REMOVE: &str = "/signals/subjects/remove";
pub const SIGNALS_VERIFY: &str = "/signals/verify";
/// `/signals/poll/{stream_id}`: a poll stream's endpoint (RFC 8936).
pub const SIGNALS_POLL: &str = "/signals/poll/{stream_id}";

pub fn signals_poll(stream_id: &str) -> String {
    format!("/signals/poll/{stream_id}")
}
/// `/login/{pending}/{upstream}`: starts a login at an upstream (and takes the local form).
pub const LOGIN: &str = "/login/{pending}/{upstream}";

pub fn login_start(pending: &str, upstream: &str) -> String {
    format!("/login/{pending}/{upstream}")
}

/// `/login/{pending}`: the chooser's email, which picks the upstream of its domain.
pub const LOGIN_BY_EMAIL: &str = "/login/{pending}";

pub fn login_by_email(pending: &str) -> String {
    format!("/login/{pending}")
}

/// `/account/link`: the upstreams a signed-in person can link to their account.
pub const ACCOUNT_LINK: &str = "/account/link";
/// `/account/link/{upstream}`: starts linking the upstream (POST).
pub const ACCOUNT_LINK_TO: &str = "/account/link/{upstream}";

pub fn account_link_to(upstream: &str) -> String {
    format!("/account/link/{upstream}")
}

/// `/callback/{upstream}`: where upstreams send the person back.
pub const CALLBACK: &str = "/callback/{upstream}";

pub fn callback(upstream: &str) -> String {
    format!("/callback/{upstream}")
}

/// `/saml/{upstream}/metadata`: Gatehouse's SP metadata for a SAML upstream.
pub const SAML_METADATA: &str = "/saml/{upstream}/metadata";
/// `/saml/{upstream}/acs`: where a SAML upstream posts its Response (HTTP-POST binding).
pub const SAML_ACS: &str = "/saml/{upstream}/acs";
/// `/saml/{upstream}/slo`: where a SAML upstream sends its LogoutRequests and
/// LogoutResponses (HTTP-Redirect or HTTP-POST).
pub const SAML_SLO: &str = "/saml/{upstream}/slo";

/// `/saml/{upstream}`: what the SAML upstream's paths (and default entity id) start with.
pub fn saml(upstream: &str) -> String {
    format!("/saml/{upstream}")
}

/// Where the RFC 8414 metadata of `issuer` is, on its host: the well-known path with the
/// issuer's own path after it (RFC 8414 §3.1).
pub fn authorization_server_metadata(issuer: &str) -> String {
    let path = url::Url::parse(issuer)
        .map(|url| url.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    format!("{AUTHORIZATION_SERVER_METADATA}{path}")
}

/// Every route pattern of both routers, for the `route` label of the metrics.
const PATTERNS: &[&str] = &[
    DISCOVERY,
    AUTHORIZATION_SERVER_METADATA,
    JWKS,
    HEALTH,
    HEALTH_LIVE,
    HEALTH_READY,
    METRICS,
    AUTHORIZE,
    TOKEN,
    PAR,
    USERINFO,
    DEVICE_AUTHORIZATION,
    DEVICE,
    DEVICE_DONE,
    REVOKE,
    INTROSPECT,
    END_SESSION,
    UPSTREAM_LOGGED_OUT,
    CONSENT,
    REGISTER,
    REGISTER_CLIENT,
    SSF_RECEIVER,
    SSF_CONFIGURATION,
    SIGNALS_STREAMS,
    SIGNALS_STATUS,
    SIGNALS_SUBJECTS_ADD,
    SIGNALS_SUBJECTS_REMOVE,
    SIGNALS_VERIFY,
    SIGNALS_POLL,
    BACKCHANNEL,
    LOGIN,
    LOGIN_BY_EMAIL,
    ACCOUNT_LINK,
    ACCOUNT_LINK_TO,
    CALLBACK,
    SAML_METADATA,
    SAML_ACS,
    SAML_SLO,
    admin::KEYS,
    admin::KEYS_ROTATE,
    admin::SESSIONS,
    admin::SESSION,
    admin::RELOAD,
    admin::ACCOUNT_LINKS,
    admin::ACCOUNT_LINK,
    admin::ACCOUNT_CONSENT,
    admin::BACKCHANNEL,
    admin::CLIENTS,
    admin::CLIENT,
];

/// The admin API's paths, on the admin listener (`op/admin.rs`).
pub mod admin {
    pub const KEYS: &str = "/admin/keys";
    pub const KEYS_ROTATE: &str = "/admin/keys/rotate";
    pub const SESSIONS: &str = "/admin/sessions";
    pub const SESSION: &str = "/admin/sessions/{sid}";
    pub const RELOAD: &str = "/admin/reload";
    pub const ACCOUNT_LINKS: &str = "/admin/accounts/{sub}/links";
    pub const ACCOUNT_LINK: &str = "/admin/accounts/{sub}/links/{upstream}";
    pub const ACCOUNT_CONSENT: &str = "/admin/accounts/{sub}/consents/{client}";
    /// The back-channel logout outbox.
    pub const BACKCHANNEL: &str = "/admin/backchannel";
    /// The clients that registered themselves.
    pub const CLIENTS: &str = "/admin/clients";
    pub const CLIENT: &str = "/admin/clients/{client_id}";
}

/// The route pattern a router matched, as a label value that lives forever.
pub fn pattern(matched: &str) -> &'static str {
    if matched.starts_with(AUTHORIZATION_SERVER_METADATA) {
        return AUTHORIZATION_SERVER_METADATA;
    }
    PATTERNS.iter().find(|p| **p == matched).copied().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_server_metadata_goes_before_the_issuers_path() {
        assert_eq!(
            authorization_server_metadata("https://login.example.com"),
            "/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            authorization_server_metadata("https://example.com/tenant/a"),
            "/.well-known/oauth-authorization-server/tenant/a"
        );
        assert_eq!(
            pattern("/.well-known/oauth-authorization-server/tenant/a"),
            AUTHORIZATION_SERVER_METADATA
        );
    }
}
