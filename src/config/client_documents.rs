//! `[client_id_metadata_documents]`: clients whose `client_id` is the https URL of their
//! own metadata, fetched when they first ask.

use super::{Duration, Problem, raw::decode};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ClientDocumentSettings {
    pub enabled: bool,
    /// For tests: documents (and registered clients' `jwks_uri`s) on loopback addresses
    /// are fetched too, by `http://` as well.
    pub allow_loopback: bool,
    /// How long a fetched document is kept when its Cache-Control does not say.
    pub cache: Duration,
}

impl Default for ClientDocumentSettings {
    fn default() -> Self {
        ClientDocumentSettings {
            enabled: false,
            allow_loopback: false,
            cache: Duration::seconds(300),
        }
    }
}

impl ClientDocumentSettings {
    /// Whether the client id `id` names a document: they are on, and it is a URL.
    pub fn names_document(&self, id: &str) -> bool {
        self.enabled && (id.starts_with("https://") || (self.allow_loopback && id.starts_with("http://")))
    }
}

/// A duration is never zero (its parser refuses it), so the table needs no check of its own.
pub fn validate_client_documents(table: Option<toml::Value>, problems: &mut Vec<Problem>) -> ClientDocumentSettings {
    table
        .and_then(|t| decode::<ClientDocumentSettings>(t, "client_id_metadata_documents", problems))
        .unwrap_or_default()
}
