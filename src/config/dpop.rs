//! `[dpop]`: how DPoP proofs (RFC 9449) are taken.

use super::{Problem, raw::decode};
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DpopSettings {
    /// Every proof must carry a nonce the server handed out (RFC 9449 §8), so that a
    /// proof made ahead of time by a client's stolen key does not work.
    pub require_nonce: bool,
}

pub fn validate_dpop(dpop: Option<toml::Value>, problems: &mut Vec<Problem>) -> DpopSettings {
    dpop.and_then(|table| decode::<DpopSettings>(table, "dpop", problems))
        .unwrap_or_default()
}
