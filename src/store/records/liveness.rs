//! What ends access tokens before their `exp` at Gatehouse's own endpoints (userinfo,
//! introspection, token exchange): an ended session, a withdrawn grant, and the tokens an
//! exchanged token came from. Each is kept only as long as a token it ends could live.

use serde::{Deserialize, Serialize};

/// A session that ended (logout, an upstream's logout, an operator), keyed by its `sid`:
/// the access tokens that carry the `sid` are no longer active.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndedSession {
    pub ended_at: i64,
}

/// A person's grant to a client that was withdrawn, keyed by [`super::Consent::key`]: the
/// client's access tokens for the person issued until `withdrawn_at` are no longer active.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WithdrawnGrant {
    pub withdrawn_at: i64,
}

/// The Gatehouse access tokens an exchanged one came from (RFC 8693), keyed by the
/// exchanged token's `jti`, the first first: it is active only while each of them is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExchangedFrom {
    pub subjects: Vec<ExchangedSubject>,
}

/// A subject token of an exchange: what decides whether it would still be active.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExchangedSubject {
    pub jti: String,
    pub client_id: String,
    pub iat: i64,
}
