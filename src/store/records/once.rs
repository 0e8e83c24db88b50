//! What may be taken only once, remembered until it could no longer be presented: a
//! second one with the same id is a replay, at every replica.

use serde::{Deserialize, Serialize};

/// A logout token that has been taken, keyed `{upstream length}:{upstream}:{jti}`: a
/// second one with the same `jti` is a replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeenLogoutToken {
    pub received_at: i64,
}

/// A client assertion (`private_key_jwt`, `client_secret_jwt`) that has been taken, keyed
/// `{client id length}:{client id}:{jti}` until its `exp`: one with the same `jti` again
/// is a replay (RFC 7523 §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsedClientAssertion {
    pub used_at: i64,
}

/// An upstream's answer that may be taken once (a SAML Assertion), keyed
/// `{upstream length}:{upstream}:{assertion ID}` until it could no longer be presented.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsedAssertion {
    pub used_at: i64,
}

/// A DPoP proof that has been taken, keyed `{key thumbprint}:{jti}` until it is too old
/// to be taken anyway (RFC 9449 §11.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsedDpopProof {
    pub used_at: i64,
}
