//! The keys of a `kind = "oidc"` upstream.

use crate::config::checks::{required, required_url};
use crate::config::{Duration, KindSettings, Problem, Secret, decode, same_settings};
use crate::upstream::acr_map::{AcrMap, OneOrMore};
use crate::upstream::UpstreamAuthMethod;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub auth_method: UpstreamAuthMethod,
    pub scopes: Vec<String>,
    /// Also fetch the upstream's userinfo and merge it over the ID token claims.
    pub userinfo: bool,
    /// On logout, also send the person to the upstream's end_session_endpoint.
    pub logout_upstream: bool,
    /// A "Person API": fetched with the upstream access token after the code exchange and
    /// merged over the ID token and userinfo claims.
    pub attributes_url: Option<String>,
    /// Gatehouse's acr values and the upstream's that stand for them.
    pub acr_map: AcrMap,
    /// Whether refreshing an app's tokens refreshes what the upstream says too.
    pub refresh: RefreshPolicy,
    /// How long what the upstream said stays fresh enough not to ask again.
    pub refresh_interval: Duration,
    /// With `exchange = true`: the audiences its tokens may carry to be exchanged for
    /// Gatehouse's (RFC 8693): `client_id` and the `exchange_audiences`.
    pub exchange: Option<Vec<String>>,
    /// Its Shared Signals transmitter, when Gatehouse receives from it (`[upstreams.ssf]`).
    pub ssf: Option<crate::config::SignalReceiver>,
}

impl KindSettings for OidcSettings {
    fn same_as(&self, other: &dyn KindSettings) -> bool {
        same_settings(self, other)
    }

    fn keeps_refresh_tokens(&self) -> bool {
        self.refresh != RefreshPolicy::Never
    }

    fn renew_on_app_refresh(&self) -> Option<Duration> {
        (self.refresh == RefreshPolicy::OnRefresh).then_some(self.refresh_interval)
    }

    fn exchange_audiences(&self) -> Option<&[String]> {
        self.exchange.as_deref()
    }

    fn exchange_issuer(&self) -> Option<&str> {
        self.exchange.is_some().then_some(self.issuer.as_str())
    }

    fn signal_receiver(&self) -> Option<&crate::config::SignalReceiver> {
        self.ssf.as_ref()
    }

    fn acr_values(&self) -> Vec<&str> {
        self.acr_map.ours().collect()
    }
}

/// `refresh`: what refreshing an app's tokens does at the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshPolicy {
    /// Nothing: the claims are those of the login.
    #[default]
    Never,
    /// The upstream's refresh token is kept (sealed) and used: the claims are read again,
    /// and a refusal ends the app's refresh family.
    OnRefresh,
}

/// How long the upstream's answer is taken as current when `refresh_interval` is unset.
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::seconds(300);

#[derive(Deserialize)]
struct RawOidc {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    auth_method: Option<UpstreamAuthMethod>,
    scopes: Option<Vec<String>>,
    userinfo: Option<bool>,
    logout_upstream: Option<bool>,
    attributes_url: Option<String>,
    acr_map: Option<BTreeMap<String, OneOrMore>>,
    refresh: Option<RefreshPolicy>,
    refresh_interval: Option<Duration>,
    exchange: Option<bool>,
    exchange_audiences: Option<Vec<String>>,
    ssf: Option<toml::Value>,
}

const KIND: &str = "oidc";

pub fn read(table: toml::Value, at: &str, problems: &mut Vec<Problem>) -> Option<OidcSettings> {
    let raw: RawOidc = decode(table, at, problems)?;
    let scopes = raw
        .scopes
        .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
    if !scopes.iter().any(|s| s == "openid") {
        problems.push(Problem::new(
            format!("{at}.scopes"),
            "must include \"openid\" for an oidc upstream",
        ));
    }
    let issuer = required_url(at, KIND, "issuer", &raw.issuer, problems);
    let attributes_url = match &raw.attributes_url {
        Some(_) => Some(required_url(at, KIND, "attributes_url", &raw.attributes_url, problems)?),
        None => None,
    };
    let client_id = required(at, KIND, "client_id", &raw.client_id, problems);
    let acr_map = AcrMap::read(raw.acr_map.unwrap_or_default(), at, problems);
    let exchange = match (raw.exchange.unwrap_or(false), raw.exchange_audiences) {
        (true, audiences) => {
            let mut accepted: Vec<String> = client_id.iter().cloned().collect();
            accepted.extend(audiences.unwrap_or_default());
            Some(accepted)
        }
        (false, Some(_)) => {
            problems.push(Problem::new(
                format!("{at}.exchange_audiences"),
                "only applies with exchange = true",
            ));
            None
        }
        (false, None) => None,
    };
    let ssf = match raw.ssf {
        Some(table) => Some(crate::config::read_receiver(table, &format!("{at}.ssf"), problems)?),
        None => None,
    };
    if ssf.is_some() && raw.client_secret.is_none() {
        problems.push(Problem::new(
            format!("{at}.ssf"),
            "needs client_secret: Gatehouse manages its stream there with a client_credentials token",
        ));
    }
    Some(OidcSettings {
        ssf,
        issuer: issuer?,
        client_id: client_id?,
        client_secret: raw.client_secret.map(Secret),
        auth_method: raw.auth_method.unwrap_or_default(),
        scopes,
        userinfo: raw.userinfo.unwrap_or(false),
        logout_upstream: raw.logout_upstream.unwrap_or(false),
        attributes_url,
        acr_map,
        refresh: raw.refresh.unwrap_or_default(),
        refresh_interval: raw.refresh_interval.unwrap_or(DEFAULT_REFRESH_INTERVAL),
        exchange,
    })
}
