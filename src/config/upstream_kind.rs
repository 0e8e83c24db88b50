//! How the config floor knows upstream kinds without importing them: each kind (a folder
//! under `upstream/`) reads its own keys into a type that implements [`KindSettings`],
//! and the list of kinds (`upstream::KINDS`) is handed to [`Config::load`]. The config
//! asks the settings the few questions it and the floors above need answered for any
//! kind; everything else only the kind itself reads.
//!
//! [`Config::load`]: super::Config::load

use super::{Duration, Problem};
use std::any::Any;
use std::path::Path;
use std::sync::Arc;

/// One upstream kind's settings, as its folder reads them.
pub trait KindSettings: Any + Send + Sync + std::fmt::Debug {
    /// Whether `other` is the same kind with the same settings (a reload keeps the running
    /// upstream then, with what its discovery learnt).
    fn same_as(&self, other: &dyn KindSettings) -> bool;

    /// Whether the `email_verified` it reports is believed when the config does not say
    /// (`trust_email_verified`).
    fn believes_email_verified(&self) -> bool {
        true
    }

    /// Whether it keeps the upstream's refresh tokens, which needs a key-encryption key.
    fn keeps_refresh_tokens(&self) -> bool {
        false
    }

    /// With `refresh = "on_refresh"`: how often an app's refresh reads the claims at the
    /// upstream again.
    fn renew_on_app_refresh(&self) -> Option<Duration> {
        None
    }

    /// The audiences its tokens may carry to be exchanged for Gatehouse's (RFC 8693),
    /// when it takes part in token exchange.
    fn exchange_audiences(&self) -> Option<&[String]> {
        None
    }

    /// How it sends Gatehouse its Shared Signals, when it does.
    fn signal_receiver(&self) -> Option<&super::SignalReceiver> {
        None
    }

    /// The issuer of the tokens it has exchanged, when it takes part in token exchange.
    fn exchange_issuer(&self) -> Option<&str> {
        None
    }

    /// The mapping of an upstream of this kind that names none: its file name (for
    /// messages) and text. Standard OpenID Connect claims passed through, unless the kind
    /// says otherwise.
    fn default_mapping(&self) -> (&'static str, &'static str) {
        (
            "claim-mappings/generic-oidc.toml (built in)",
            include_str!("../../claim-mappings/generic-oidc.toml"),
        )
    }

    /// The `acr` values of Gatehouse's own that its answers may be given.
    fn acr_values(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// [`KindSettings::same_as`] for settings that compare with `==`.
pub fn same_settings<T: KindSettings + PartialEq>(mine: &T, other: &dyn KindSettings) -> bool {
    let other: &dyn Any = other;
    other.downcast_ref::<T>() == Some(mine)
}

/// Reads a kind's own keys of the table at `at` (the keys every upstream has are taken
/// out first), reporting each problem under its key; `None` when there is any.
pub type ReadSettings = fn(toml::Value, &str, &Path, &mut Vec<Problem>) -> Option<Arc<dyn KindSettings>>;

/// A value `kind` may take, and how that kind's keys are read.
#[derive(Clone, Copy)]
pub struct UpstreamKind {
    pub name: &'static str,
    pub read: ReadSettings,
}
