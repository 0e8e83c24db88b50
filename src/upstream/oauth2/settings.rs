//! The keys of a `kind = "oauth2"` upstream.

use crate::config::checks::{required, required_url};
use crate::config::{KindSettings, Problem, Secret, decode, same_settings};
use crate::upstream::UpstreamAuthMethod;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub struct OAuth2Settings {
    pub authorization_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub auth_method: UpstreamAuthMethod,
    pub scopes: Vec<String>,
}

impl KindSettings for OAuth2Settings {
    fn same_as(&self, other: &dyn KindSettings) -> bool {
        same_settings(self, other)
    }

    /// An OAuth 2.0 API's `verified` flag means whatever that API means by it.
    fn believes_email_verified(&self) -> bool {
        false
    }
}

#[derive(Deserialize)]
struct RawOAuth2 {
    authorization_url: Option<String>,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    auth_method: Option<UpstreamAuthMethod>,
    scopes: Option<Vec<String>>,
}

const KIND: &str = "oauth2";

pub fn read(table: toml::Value, at: &str, problems: &mut Vec<Problem>) -> Option<OAuth2Settings> {
    let raw: RawOAuth2 = decode(table, at, problems)?;
    let authorization_url = required_url(at, KIND, "authorization_url", &raw.authorization_url, problems);
    let token_url = required_url(at, KIND, "token_url", &raw.token_url, problems);
    let userinfo_url = required_url(at, KIND, "userinfo_url", &raw.userinfo_url, problems);
    let client_id = required(at, KIND, "client_id", &raw.client_id, problems);
    Some(OAuth2Settings {
        authorization_url: authorization_url?,
        token_url: token_url?,
        userinfo_url: userinfo_url?,
        client_id: client_id?,
        client_secret: raw.client_secret.map(Secret),
        auth_method: raw.auth_method.unwrap_or_default(),
        scopes: raw.scopes.unwrap_or_default(),
    })
}
