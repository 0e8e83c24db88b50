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

pub fn validate_backchannel(table: Option<toml::Value>, problems: &mut Vec<Problem>) -> BackchannelSettings {
    let settings = table
        .and_then(|t| decode::<BackchannelSettings>(t, "backchannel", problems))
        .unwrap_or_default();
    if settings.retry_for.as_secs() == 0 {
        problems.push(Problem::new("backchannel.retry_for", "must be at least 1s"));
    }
    settings
}
