//! The RP face toward identity providers: each kind turns a login there into one JSON
//! document about the person, which the upstream's claim mapping then reads. `local`
//! upstreams log people in on Gatehouse's own form; the remote kinds (`oidc`, `oauth2`)
//! send them away and take them back at `/callback/{id}`.

pub mod local;
pub mod oauth2;
pub mod oidc;

use crate::config::{Config, UpstreamKind};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

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
}

/// What a login asks of the upstream besides the person's identity.
pub struct LoginOptions<'a> {
    /// Gatehouse's id for the parked request, sent as the upstream `state`.
    pub state: &'a str,
    pub login_hint: Option<&'a str>,
    /// Ask the upstream to authenticate the person again (prompt=login, max_age=0).
    pub force_login: bool,
}

/// The start of a login: where to send the person, and what to keep for the callback.
pub struct Begin {
    pub url: String,
    pub nonce: Option<String>,
    pub pkce_verifier: String,
}

/// An upstream that the person is sent to.
pub enum Remote {
    // Boxed: its discovery document is large.
    Oidc(Box<oidc::OidcProvider>),
    OAuth2(oauth2::OAuth2Provider),
}

impl Remote {
    pub async fn begin(&self, http: &reqwest::Client, options: LoginOptions<'_>) -> Result<Begin, UpstreamError> {
        match self {
            Remote::Oidc(provider) => provider.begin(http, options).await,
            Remote::OAuth2(provider) => {
                let (url, pkce_verifier) = provider.begin(options.state)?;
                Ok(Begin {
                    url,
                    nonce: None,
                    pkce_verifier,
                })
            }
        }
    }

    pub async fn finish(
        &self,
        http: &reqwest::Client,
        callback: &CallbackParams,
        nonce: Option<&str>,
        pkce_verifier: &str,
        now: i64,
    ) -> Result<Json, UpstreamError> {
        match (self, nonce) {
            (Remote::Oidc(provider), Some(nonce)) => provider.finish(http, callback, nonce, pkce_verifier, now).await,
            (Remote::Oidc(_), None) => Err(UpstreamError::Denied("no nonce was kept for this login".into())),
            (Remote::OAuth2(provider), _) => provider.finish(http, callback, pkce_verifier).await,
        }
    }
}

/// The remote upstreams of `config`, by id.
pub fn remotes(config: &Config) -> HashMap<String, Arc<Remote>> {
    config
        .upstreams
        .iter()
        .filter_map(|u| {
            let remote = match &u.kind {
                UpstreamKind::Oidc(settings) => Remote::Oidc(Box::new(oidc::OidcProvider::new(
                    &u.id,
                    settings.clone(),
                    &config.issuer,
                ))),
                UpstreamKind::OAuth2(settings) => {
                    Remote::OAuth2(oauth2::OAuth2Provider::new(&u.id, settings.clone(), &config.issuer))
                }
                UpstreamKind::Local(_) => return None,
            };
            Some((u.id.clone(), Arc::new(remote)))
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
    http: &reqwest::Client,
    url: &str,
    access_token: &str,
) -> Result<Map<String, Json>, UpstreamError> {
    let response = http
        .get(url)
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| UpstreamError::Unavailable(format!("{url} failed: {e}")))?;
    if !response.status().is_success() {
        return Err(UpstreamError::Unavailable(format!(
            "{url} answered {}",
            response.status()
        )));
    }
    response
        .json::<Map<String, Json>>()
        .await
        .map_err(|e| UpstreamError::Denied(format!("{url} did not answer a JSON object: {e}")))
}

/// The one HTTP client for upstream calls: no redirects followed (a token endpoint that
/// redirects is not trusted), time limits so a silent upstream cannot hang a login, and
/// a User-Agent (GitHub's API refuses requests without one).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .build()
}
