//! Gatehouse's own tokens: the grants of the token endpoint, the tokens the authorization
//! endpoint hands out itself, and the state behind them (refresh families, revocation,
//! introspection). Plain functions over the store and keys, taking `now`; no HTTP here
//! (`op/` turns a [`TokenError`] into the answer RFC 6749 §5.2 describes).

pub mod device_grant;
mod exchange;
mod grants;
mod refresh;
mod request;
mod sign;
mod state;
#[cfg(test)]
mod tests;
mod userinfo;

pub use request::{ExchangeRequest, Params, TokenRequest};
pub use userinfo::BearerError;

use crate::config::Config;
use crate::keys::Keys;
use crate::scope::Scopes;
use crate::store::Store;
use serde::Serialize;

/// An error of the token, revocation and introspection endpoints (RFC 6749 §5.2).
#[derive(Debug)]
pub enum TokenError {
    InvalidRequest(String),
    InvalidClient(String),
    InvalidGrant(String),
    UnauthorizedClient(String),
    UnsupportedGrantType(String),
    InvalidScope(String),
    /// A DPoP proof is missing, malformed or does not fit (RFC 9449 §5).
    InvalidDpopProof(String),
    /// The DPoP proof must carry this server nonce (RFC 9449 §8).
    UseDpopNonce(String),
    /// The person has not yet answered a device grant (RFC 8628 §3.5).
    AuthorizationPending(String),
    /// The device polls faster than its interval, which grows by five seconds.
    SlowDown(String),
    /// The person refused the device grant.
    AccessDenied(String),
    /// The device code expired before the person answered.
    ExpiredToken(String),
    /// The audience or resource of a token exchange is not one tokens are issued for.
    InvalidTarget(String),
    /// Too busy to answer now (503): password checks are all taken.
    TemporarilyUnavailable(String),
    /// Something broke on our side; the cause is logged, not sent.
    Server(ServerFault),
}

/// What broke on our side, kept with its cause for the log.
#[derive(Debug, thiserror::Error)]
pub enum ServerFault {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error("the password check failed: {0}")]
    PasswordCheck(String),
    /// Something that the config and the code rule out happened anyway.
    #[error("{0}")]
    Broken(String),
}

impl TokenError {
    /// The `error` code RFC 6749 §5.2 gives this error.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidClient(_) => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::UnauthorizedClient(_) => "unauthorized_client",
            TokenError::UnsupportedGrantType(_) => "unsupported_grant_type",
            TokenError::InvalidScope(_) => "invalid_scope",
            TokenError::InvalidDpopProof(_) => "invalid_dpop_proof",
            TokenError::UseDpopNonce(_) => "use_dpop_nonce",
            TokenError::AuthorizationPending(_) => "authorization_pending",
            TokenError::SlowDown(_) => "slow_down",
            TokenError::AccessDenied(_) => "access_denied",
            TokenError::ExpiredToken(_) => "expired_token",
            TokenError::InvalidTarget(_) => "invalid_target",
            TokenError::TemporarilyUnavailable(_) => "temporarily_unavailable",
            TokenError::Server(_) => "server_error",
        }
    }
}

impl From<crate::store::StoreError> for TokenError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::debug!(error = %e, "the store is unavailable: answering 503");
            return TokenError::TemporarilyUnavailable("the service is unavailable for a moment; try again".into());
        }
        TokenError::Server(e.into())
    }
}

impl From<crate::limits::CheckError> for TokenError {
    fn from(e: crate::limits::CheckError) -> Self {
        match e {
            crate::limits::CheckError::Busy | crate::limits::CheckError::Unavailable(_) => {
                TokenError::TemporarilyUnavailable(e.to_string())
            }
            crate::limits::CheckError::Failed(detail) => TokenError::Server(ServerFault::PasswordCheck(detail)),
        }
    }
}

impl From<crate::dpop::DpopError> for TokenError {
    fn from(e: crate::dpop::DpopError) -> Self {
        match e {
            crate::dpop::DpopError::Invalid(why) => TokenError::InvalidDpopProof(why),
            crate::dpop::DpopError::UseNonce(nonce) => TokenError::UseDpopNonce(nonce),
            crate::dpop::DpopError::Store(e) => e.into(),
        }
    }
}

impl From<crate::keys::KeyError> for TokenError {
    fn from(e: crate::keys::KeyError) -> Self {
        TokenError::Server(e.into())
    }
}

/// What the token endpoint answers (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: Scopes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// What a token exchange issued (RFC 8693 §2.2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// Tokens from the authorization endpoint (implicit and hybrid flows).
#[derive(Debug)]
pub struct FrontChannelTokens {
    pub access_token: Option<IssuedAccessToken>,
    pub id_token: Option<String>,
}

#[derive(Debug)]
pub struct IssuedAccessToken {
    pub token: String,
    pub expires_in: i64,
}

/// Everything issuing, revoking and introspecting need, as of one moment.
pub struct TokenService<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub keys: &'a Keys,
    pub telemetry: &'a crate::telemetry::Telemetry,
    /// The bounds on pending logins, which device grants count against.
    pub guards: &'a crate::limits::Guards,
    /// Refreshing at the upstreams when apps refresh (`refresh = "on_refresh"`).
    pub renewal: crate::domain::upstream_refresh::Renewal<'a>,
    pub now: i64,
}
