//! The back-channel logout outbox: each logout token owed to a client, queued in the same
//! write that ends the session, until it is delivered or given up.

use serde::{Deserialize, Serialize};

/// A logout token to deliver (Back-Channel Logout 1.0), keyed by a random id. The token
/// is signed at each attempt (it lives two minutes); its `jti` stays the same, so a
/// client that gets it twice can tell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogoutMessage {
    pub client_id: String,
    pub sub: String,
    pub sid: String,
    pub jti: String,
    pub queued_at: i64,
    pub attempts: u32,
    pub next_attempt_at: i64,
    /// While an attempt runs (on any replica), no other starts.
    pub leased_until: Option<i64>,
    /// Retries stop then.
    pub give_up_at: i64,
    /// Set once retries stopped; the message is kept a while to be listed.
    pub gave_up_at: Option<i64>,
    pub last_error: Option<String>,
    /// A Security Event Token to push to a Shared Signals stream instead of a logout
    /// token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<PushedSignal>,
}

/// A Security Event Token owed to a push stream (RFC 8935): the stream's key and the
/// token's claims, signed at each attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PushedSignal {
    pub stream_key: String,
    pub claims: serde_json::Value,
}
