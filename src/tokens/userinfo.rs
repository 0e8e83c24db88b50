//! What `/userinfo` (OpenID Connect Core §5.3) answers for an access token: the released
//! claims of its person, or why the token is refused (RFC 6750 §3).

use super::TokenService;
use crate::mapping::release;
use serde_json::Value as Json;

/// An error of a bearer-token protected resource (RFC 6750 §3).
#[derive(Debug)]
pub enum BearerError {
    /// No token at all: only the challenge, no error code (RFC 6750 §3.1).
    Missing,
    InvalidRequest(String),
    InvalidToken(String),
    InsufficientScope(String),
    Server(String),
}

impl TokenService<'_> {
    /// The claims the token's scopes release about its person, with `sub`.
    pub async fn userinfo(&self, token: &str) -> Result<Json, BearerError> {
        let claims = super::active_access_token(self.config, self.keys, self.store, token, self.now)
            .await
            .map_err(|why| BearerError::InvalidToken(why.to_string()))?;
        let scope = claims.get("scope").and_then(Json::as_str).unwrap_or_default();
        if !super::has_scope(scope, "openid") {
            return Err(BearerError::InsufficientScope("userinfo needs the openid scope".into()));
        }
        let sub = claims
            .get("sub")
            .and_then(Json::as_str)
            .ok_or_else(|| BearerError::InvalidToken("the access token has no sub".into()))?;
        let account = self
            .store
            .accounts
            .get(sub, self.now)
            .await
            .map_err(|e| BearerError::Server(e.to_string()))?
            .ok_or_else(|| BearerError::InvalidToken("the account no longer exists".into()))?;
        let mut released = release(&account.claims, scope, &self.config.scopes);
        released.insert("sub".into(), Json::String(sub.to_string()));
        Ok(Json::Object(released))
    }
}
