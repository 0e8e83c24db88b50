//! `[backchannel]`: how long logout tokens owed to clients are retried.

use super::{Duration, Problem, raw::decode};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BackchannelSettings {
    /// How long a delivery is retried (with backoff) before it is given up.
    pub retry_for: Duration,
}

impl Default for BackchannelSettings {
    fn default() -> Self {
        BackchannelSettings {
            retry_for: Duration::seconds(3600),
        }
    }
}

/// A duration is never zero (its parser refuses it), so the table needs no check of its own.
pub fn validate_backchannel(table: Option<toml::Value>, problems: &mut Vec<Problem>) -> BackchannelSettings {
    table
        .and_then(|t| decode::<BackchannelSettings>(t, "backchannel", problems))
        .unwrap_or_default()
}
