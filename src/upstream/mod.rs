//! The RP face toward identity providers: each kind turns a login there into one JSON
//! document about the person, which the upstream's claim mapping then reads. Kinds that
//! redirect (`oidc`, `oauth2`) send the person away and take them back at
//! `/callback/{id}`; `local` logs people in on Gatehouse's own form. Each kind is a folder
//! implementing [`Kind`]; the list below is the only place that names them all.

pub mod acr_map;
mod http;
mod kinds;

pub use http::{FetchError, UpstreamHttp, install_tls_provider};
pub use kinds::{Capabilities, Kind};

kinds::upstream_kinds! {
    "oidc" => Oidc(oidc::OidcProvider),
    "oauth2" => OAuth2(oauth2::OAuth2Provider),
    "local" => Local(local::LocalUsers),
    "ldap" => Ldap(ldap::LdapDirectory),
    "saml" => Saml(saml::SamlProvider),
}

use crate::config::Config;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::sync::Arc;

/// What kind of token an app presents for exchange (RFC 8693 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectToken {
    IdToken,
    /// A JWT access token (RFC 9068), which also lets userinfo be read.
    AccessToken,
}

/// Why a login at an upstream ended without a person.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream could not be reached or failed: the RP gets `temporarily_unavailable`.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The upstream refused, or answered with something that must not be trusted: the RP
    /// gets `access_denied`.
    #[error("the identity provider's answer was refused: {0}")]
    Denied(String),
    /// The upstream's answer must not be trusted (an ID token that does not verify, a
    /// malformed or oversized answer): the RP gets `access_denied`.
    #[error("the identity provider's answer is not valid: {0}")]
    Invalid(String),
}

impl UpstreamError {
    /// The `reason` label of a failed login.
    pub fn reason(&self) -> &'static str {
        match self {
            UpstreamError::Unavailable(_) => "unavailable",
            UpstreamError::Denied(_) => "denied",
            UpstreamError::Invalid(_) => "invalid_answer",
        }
    }
}

/// What the callback from an upstream carries.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    /// RFC 9207: the issuer that sent the person back.
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// A SAML upstream's Response (base64), handed on by its ACS page.
    pub saml_response: Option<String>,
}

/// What a login asks of the upstream besides the person's identity: the relying party's
/// own wishes, passed on (OpenID Connect Core §3.1.2.1).
pub struct LoginOptions<'a> {
    /// Gatehouse's id for the parked request, sent as the upstream `state`.
    pub state: &'a str,
    pub login_hint: Option<&'a str>,
    /// `prompt=login`: the person must authenticate there again.
    pub force_login: bool,
    /// `prompt=select_account`: the person must be able to choose another account there.
    pub select_account: bool,
    /// The longest time since the person last authenticated that is acceptable.
    pub max_age: Option<i64>,
    /// The acr values asked for, in Gatehouse's terms (the kind translates them).
    pub acr_values: &'a [String],
    pub ui_locales: Option<&'a str>,
    pub now: i64,
}

/// How the upstream says the person authenticated (OpenID Connect Core §2), read from
/// what it signed, with `acr` already in Gatehouse's terms. Kinds that cannot say keep
/// the default: nothing is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    pub auth_time: Option<i64>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
}

/// The person an upstream logged in: the document the mapping reads, how they
/// authenticated, and the upstream session it was (for upstreams that can end it).
pub struct Person {
    pub document: Json,
    pub authentication: Authentication,
    pub session: Option<UpstreamSession>,
    /// What the answer was that may be taken only once (a SAML Assertion's ID), and
    /// until when it could be presented.
    pub once: Option<Once>,
}

/// An answer's id that the flow takes once (kept in the store until `until`, so that
/// every replica refuses it again).
pub struct Once {
    pub id: String,
    pub until: i64,
}

/// An upstream's session as its logout tokens name it: the subject (its ID token's
/// `sub`) and its session id (`sid`), if it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSession {
    pub subject: String,
    pub sid: Option<String>,
    /// The upstream's refresh token, when its `refresh` is on and it gave one.
    pub refresh_token: Option<crate::config::Secret>,
    /// The email address the upstream said (Shared Signals may name the person by it).
    pub email: Option<String>,
}

/// What an upstream says of the person after refreshing its tokens: the document for
/// the mapping, and the refresh token to use next time when it rotated it.
pub struct Refreshed {
    pub document: Json,
    pub refresh_token: Option<crate::config::Secret>,
}

/// What a verified logout token from an upstream names (Back-Channel Logout 1.0 §2.4):
/// a subject, a session, or both; and its `jti`, remembered until `remember_until` so
/// that it works once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutNotice {
    pub session: LoggedOut,
    pub jti: String,
    pub remember_until: i64,
}

/// Which of the upstream's sessions ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggedOut {
    /// Every session of this subject.
    Subject(String),
    /// This session (of this subject, when the token names one).
    Session { sid: String, subject: Option<String> },
    /// Every session of the person with this email address there (a Shared Signals
    /// `email` subject), lowercase.
    Email(String),
}

/// The person back from the upstream, and what was kept for them since the start.
pub struct Return<'a> {
    pub callback: &'a CallbackParams,
    /// The nonce sent in the authorization request (OpenID Connect upstreams).
    pub nonce: Option<&'a str>,
    pub pkce_verifier: &'a str,
    pub now: i64,
}

/// A logout at Gatehouse going on to the upstream's own logout: the upstream session
/// that ended there, and where and with what the upstream sends the person back.
pub struct LoggingOut<'a> {
    /// The upstream's subject (a SAML NameID) and session id (a SessionIndex) of the
    /// Gatehouse session that ended, as the login gave them.
    pub subject: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub post_logout_redirect_uri: &'a str,
    pub state: &'a str,
    pub now: i64,
}

/// The start of a login: where to send the person, and what to keep for the callback.
pub struct Begin {
    pub url: String,
    pub nonce: Option<String>,
    pub pkce_verifier: String,
}

/// How Gatehouse authenticates itself at an upstream's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

/// Where upstream `id` sends the person back to Gatehouse at `issuer`.
pub fn callback_uri(issuer: &str, id: &str) -> String {
    format!("{issuer}{}", crate::routes::callback(id))
}

impl Upstream {
    /// The upstream as a Shared Signals transmitter, when Gatehouse receives from it.
    pub fn signals(&self) -> Option<&oidc::OidcProvider> {
        match self {
            Upstream::Oidc(oidc) if oidc.signal_settings().is_some() => Some(oidc),
            _ => None,
        }
    }
}

/// An upstream as it runs: its table in the config, its kind running, and its claim
/// mapping, found together by the upstream's id.
pub struct LiveUpstream {
    pub config: crate::config::Upstream,
    pub kind: Arc<Upstream>,
    pub mapping: Arc<crate::mapping::Mapping>,
}

impl std::ops::Deref for LiveUpstream {
    type Target = Upstream;
    fn deref(&self) -> &Upstream {
        &self.kind
    }
}

/// The upstreams as they run, by id.
pub type Upstreams = HashMap<String, Arc<LiveUpstream>>;

/// The upstreams of `config` as they run, each with its mapping from `mappings`. An
/// upstream whose table is the same in `running` keeps its running kind, with what its
/// discovery learnt.
pub fn open_all(config: &Config, mappings: &crate::mapping::Mappings, running: Option<&Upstreams>) -> Upstreams {
    config
        .upstreams
        .iter()
        .filter_map(|u| {
            let kept = running
                .and_then(|running| running.get(&u.id))
                .filter(|live| live.config == *u)
                .map(|live| live.kind.clone());
            let kind = match kept {
                Some(kind) => kind,
                None => match Upstream::open(&*u.settings, &u.id, &config.issuer) {
                    Some(kind) => Arc::new(kind),
                    None => {
                        tracing::error!(upstream = %u.id, "no upstream kind made these settings: not started");
                        return None;
                    }
                },
            };
            let Some(mapping) = mappings.get(&u.id) else {
                tracing::error!(upstream = %u.id, "the upstream has no mapping: not started");
                return None;
            };
            let live = LiveUpstream {
                config: u.clone(),
                kind,
                mapping: mapping.clone(),
            };
            Some((u.id.clone(), Arc::new(live)))
        })
        .collect()
}

/// An error the upstream sent back on the callback (RFC 6749 §4.1.2.1).
pub fn refusal(error: &str, description: Option<&str>) -> UpstreamError {
    let message = format!("the upstream answered {error}: {}", description.unwrap_or_default());
    match error {
        "temporarily_unavailable" | "server_error" => UpstreamError::Unavailable(message),
        _ => UpstreamError::Denied(message),
    }
}

/// GETs a JSON object with the upstream's access token (userinfo, a user endpoint).
pub async fn fetch_json(
    http: &UpstreamHttp,
    url: &str,
    access_token: &str,
) -> Result<Map<String, Json>, UpstreamError> {
    let request = http
        .client()
        .get(url)
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json");
    let (status, body) = http.fetch(request).await.map_err(|e| match e {
        FetchError::Http(e) => UpstreamError::Unavailable(format!("{url} failed: {e}")),
        too_large @ FetchError::TooLarge(_) => UpstreamError::Invalid(format!("{url}: {too_large}")),
    })?;
    if !status.is_success() {
        return Err(UpstreamError::Unavailable(format!("{url} answered {status}")));
    }
    serde_json::from_slice::<Map<String, Json>>(&body)
        .map_err(|e| UpstreamError::Invalid(format!("{url} did not answer a JSON object: {e}")))
}
