//! Clients that registered themselves (RFC 7591), keyed by their client id, each with
//! the expiry of its registration.

use crate::config::Secret;
use serde::{Deserialize, Serialize};

/// A client's metadata as RFC 7591 §2 (and OpenID Connect RP-Initiated Logout, RFC 9449
/// §5.2) names it: what a registration sends, and, filled in with the defaults, what is
/// kept and answered. Values are read loosely (strings) so that a wrong one is answered
/// `invalid_client_metadata` naming it, not a parse error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// Only ever read, to refuse it: an unverified statement would vouch for nothing.
    #[serde(skip_serializing)]
    pub software_statement: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens: Option<bool>,
}

/// A registered client: its metadata and the hashes of what it was handed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisteredClient {
    pub metadata: ClientMetadata,
    /// `secrets::hash` of its client secret; none for a public or `private_key_jwt` client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<Secret>,
    /// `secrets::hash` of its registration access token (RFC 7592), which changes with
    /// every update.
    pub registration_token_hash: Secret,
    pub issued_at: i64,
    /// When the registration and its secret end (`client_secret_expires_at`).
    pub expires_at: i64,
}
