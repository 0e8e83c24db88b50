//! The records Gatehouse keeps. Secrets that must be looked up (codes, refresh
//! tokens) are never stored: their tables are keyed by a hash of the secret.

use crate::config::SigningAlg;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A signing key. The active one signs; retired ones stay (and are published) until
/// every token they signed has expired, and then expire themselves.
#[derive(Clone, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: SigningAlg,
    /// PKCS#8 PEM.
    pub private_key_pem: String,
    pub created_at: i64,
    /// When another key took over; `None` while this key is active.
    pub retired_at: Option<i64>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A local account, keyed by its opaque `sub`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub sub: String,
    pub created_at: i64,
}

/// Links (upstream id, upstream subject) to a local account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpstreamLink {
    pub sub: String,
    pub linked_at: i64,
}

impl UpstreamLink {
    /// The table key for an upstream identity; unambiguous whatever the subject holds.
    pub fn key(upstream: &str, upstream_subject: &str) -> String {
        format!("{}:{upstream}:{upstream_subject}", upstream.len())
    }
}

/// A browser session: one login on one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub sid: String,
    pub sub: String,
    pub upstream: String,
    pub auth_time: i64,
}

/// An authorization request parked while the person logs in upstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub response_mode: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub upstream: Option<String>,
    pub created_at: i64,
}

/// An issued authorization code, keyed by the hash of the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub sub: String,
    pub sid: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub issued_at: i64,
}

/// A refresh token, keyed by the hash of the token. Every rotation issues a new one in
/// the same family; presenting a rotated one revokes the family.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshToken {
    pub family: String,
    pub client_id: String,
    pub sub: String,
    pub sid: String,
    pub scope: String,
    pub issued_at: i64,
    /// Set once this token has been exchanged for its successor.
    pub rotated_at: Option<i64>,
}

/// The scopes a person has allowed a client to receive, keyed by `Consent::key`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Consent {
    pub scopes: Vec<String>,
    pub granted_at: i64,
}

impl Consent {
    pub fn key(sub: &str, client_id: &str) -> String {
        format!("{}:{sub}:{client_id}", sub.len())
    }
}

/// A revoked access token, keyed by its `jti`, kept until the token would have expired.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokedToken {
    pub revoked_at: i64,
}
