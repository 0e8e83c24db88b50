//! What `/userinfo` (OpenID Connect Core §5.3) answers for an access token: the released
//! claims of its person, or why the token is refused (RFC 6750 §3).

use super::TokenService;
use crate::domain::token_liveness::{ActiveToken, Inactive, active_access_token_and_account};
use crate::mapping::release;
use crate::scope::Scopes;
use serde_json::Value as Json;

/// An error of a bearer-token protected resource (RFC 6750 §3).
#[derive(Debug)]
pub enum BearerError {
    /// No token at all: only the challenge, no error code (RFC 6750 §3.1).
    Missing,
    InvalidRequest(String),
    InvalidToken(String),
    InsufficientScope(String),
    /// A DPoP-bound token, or a request that uses DPoP, refused (RFC 9449 §7.1): a
    /// `DPoP` challenge with the error and, for `use_dpop_nonce`, the nonce to use.
    Dpop {
        error: &'static str,
        description: String,
        nonce: Option<String>,
    },
    Server(String),
    /// The store cannot be reached now (503).
    Unavailable(String),
}

impl TokenService<'_> {
    /// An active access token, with the account it names (read in the same round trip).
    pub async fn active_token(&self, token: &str) -> Result<ActiveToken, BearerError> {
        active_access_token_and_account(self.config, self.keys, self.store, token, self.now)
            .await
            .map_err(|inactive| match inactive {
                Inactive::Ended(why) => BearerError::InvalidToken(why.to_string()),
                Inactive::Unknown(e) if e.is_unavailable() => BearerError::Unavailable(e.to_string()),
                Inactive::Unknown(e) => BearerError::Server(e.to_string()),
            })
    }

    /// The claims an access token's scopes release about its person, with `sub`.
    pub fn userinfo(&self, active: &ActiveToken) -> Result<Json, BearerError> {
        let claims = &active.claims;
        let scope = Scopes::parse(claims.get("scope").and_then(Json::as_str).unwrap_or_default());
        if !scope.contains("openid") {
            return Err(BearerError::InsufficientScope("userinfo needs the openid scope".into()));
        }
        let sub = claims
            .get("sub")
            .and_then(Json::as_str)
            .ok_or_else(|| BearerError::InvalidToken("the access token has no sub".into()))?;
        let account = active
            .account
            .as_ref()
            .ok_or_else(|| BearerError::InvalidToken("the account no longer exists".into()))?;
        let mut released = release(&account.claims, &scope, &self.config.scopes);
        released.insert("sub".into(), Json::String(sub.to_string()));
        Ok(Json::Object(released))
    }
}
