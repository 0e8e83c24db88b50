//! `[chooser]`: the page where a person picks how to sign in.

use super::{Problem, raw::decode};
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ChooserSettings {
    /// Offer "continue with your email", which goes to the upstream of the email's
    /// domain. Unset: offered when some upstream the client may use lists `domains`.
    pub ask_email: Option<bool>,
}

pub fn validate_chooser(chooser: Option<toml::Value>, problems: &mut Vec<Problem>) -> ChooserSettings {
    chooser
        .and_then(|table| decode::<ChooserSettings>(table, "chooser", problems))
        .unwrap_or_default()
}
