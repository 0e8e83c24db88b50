//! Shared Signals (SSF 1.0): the streams apps manage at Gatehouse, the events waiting for
//! their pollers, and what Gatehouse keeps of its own stream at each upstream.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// An app's stream (SSF 1.0 §8.1.1), keyed by [`SignalStream::key`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignalStream {
    pub stream_id: String,
    pub client_id: String,
    pub events_requested: Vec<String>,
    /// The delivery method's URN.
    pub delivery_method: String,
    /// Push: the receiver's endpoint; poll: Gatehouse's endpoint for this stream.
    pub endpoint_url: String,
    /// Push: the Authorization header value the receiver asked to get.
    pub authorization_header: Option<String>,
    pub description: Option<String>,
    /// `enabled`, `paused` or `disabled` (§8.1.2).
    pub status: String,
    pub reason: Option<String>,
    /// The app's `sub`s it asked no events about (§8.1.3.3), at most a bounded number.
    pub removed_subjects: Vec<String>,
    pub created_at: i64,
    /// When the app last asked for a verification event (they are spaced out).
    #[serde(default)]
    pub verified_at: Option<i64>,
}

impl SignalStream {
    pub fn key(client_id: &str, stream_id: &str) -> String {
        format!("{}{stream_id}", SignalStream::prefix(client_id))
    }

    /// What the keys of the streams of `client_id` start with.
    pub fn prefix(client_id: &str) -> String {
        format!("{}:{client_id}:", client_id.len())
    }
}

/// A Security Event Token waiting for a poller (RFC 8936), keyed
/// `{stream key}|{queued at}:{jti}`: its claims, signed when it is handed out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueuedSignal {
    pub claims: Json,
}

/// What Gatehouse keeps of its stream at an upstream's transmitter, keyed by the
/// upstream's id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignalReceiverState {
    pub stream_id: String,
    /// The hash of the Authorization header value the transmitter pushes with.
    pub authorization_hash: Option<String>,
    /// Where Gatehouse polls, for a poll stream.
    pub poll_url: Option<String>,
    pub created_at: i64,
    /// The `state` of the verification event Gatehouse asked for last, and when.
    #[serde(default)]
    pub verification_state: Option<String>,
    #[serde(default)]
    pub verification_asked_at: Option<i64>,
    /// When that verification event arrived.
    #[serde(default)]
    pub verified_at: Option<i64>,
}

/// A person an upstream said is disabled there (RISC `account-disabled`), keyed
/// `{upstream length}:{upstream}:{subject}`: they cannot log in through it until it says
/// `account-enabled`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisabledSubject {
    pub disabled_at: i64,
}

impl DisabledSubject {
    pub fn key(upstream: &str, subject: &str) -> String {
        format!("{}:{upstream}:{subject}", upstream.len())
    }
}
