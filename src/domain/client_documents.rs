//! Client ID Metadata Documents: a `client_id` that is an https URL names the client's
//! own metadata there. The document is fetched when the client first asks (through
//! [`PublicFetch`]: public addresses only, no redirects, 5 s, 5 KiB), must name itself
//! as `client_id`, is checked as a registration is (a public or `private_key_jwt`
//! client, exact redirect URIs) and kept as long as its Cache-Control says, within
//! bounds, else `[client_id_metadata_documents] cache`. A fetch that fails is
//! remembered for a while too, so that nobody can make Gatehouse fetch a URL at the rate
//! of their requests. One fetch per URL at a time; a bounded number of URLs kept.

use super::client_metadata::{self, Policy};
use crate::config::{Client, ClientDocumentSettings, ClientOrigin, Config};
use crate::public_fetch::PublicFetch;
use crate::store::ClientMetadata;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use url::Url;

/// The largest document read.
pub const MOST_BYTES: usize = 5 * 1024;
/// How many documents (or failures) are kept at once.
const CAPACITY: usize = 1000;
/// The bounds on how long a document is kept, whatever its Cache-Control says.
const KEEP_AT_LEAST_SECS: i64 = 60;
const KEEP_AT_MOST_SECS: i64 = 86_400;
/// How long a failed fetch answers for its URL.
const FAILED_FOR_SECS: i64 = 60;

pub struct ClientDocuments {
    settings: ClientDocumentSettings,
    fetch: PublicFetch,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

#[derive(Default)]
struct Slot {
    /// The client, or why the document cannot be used.
    known: Option<Result<Arc<Client>, String>>,
    until: i64,
}

impl ClientDocuments {
    pub fn new(settings: ClientDocumentSettings, fetch: PublicFetch) -> ClientDocuments {
        ClientDocuments {
            settings,
            fetch,
            slots: Mutex::default(),
        }
    }

    /// The client the document at `id` describes, or why there is none.
    pub async fn client(&self, config: &Config, id: &str, now: i64) -> Result<Arc<Client>, String> {
        let slot = self.slot(id, now);
        let mut slot = slot.lock().await;
        if let Some(known) = slot.known.as_ref().filter(|_| now < slot.until) {
            return known.clone();
        }
        let (known, keep_for) = match self.fetched(config, id).await {
            Ok((client, max_age)) => {
                let keep = max_age
                    .unwrap_or(self.settings.cache.as_secs_i64())
                    .clamp(KEEP_AT_LEAST_SECS, KEEP_AT_MOST_SECS);
                (Ok(Arc::new(client)), keep)
            }
            Err(why) => {
                tracing::warn!(client_id = %id, "a client metadata document cannot be used: {why}");
                (Err(why), FAILED_FOR_SECS)
            }
        };
        *slot = Slot {
            known: Some(known.clone()),
            until: now.saturating_add(keep_for),
        };
        known
    }

    /// The slot of `id`, made when there is none; when all are taken, those past their
    /// time go, and if none is, the one that ends first.
    fn slot(&self, id: &str, now: i64) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get(id) {
            return Arc::clone(slot);
        }
        if slots.len() >= CAPACITY {
            slots.retain(|_, slot| slot.try_lock().map_or(true, |s| now < s.until));
        }
        if slots.len() >= CAPACITY {
            let first_to_end = slots
                .iter()
                .filter_map(|(key, slot)| slot.try_lock().ok().map(|s| (key.clone(), s.until)))
                .min_by_key(|(_, until)| *until)
                .map(|(key, _)| key);
            if let Some(key) = first_to_end {
                slots.remove(&key);
            }
        }
        Arc::clone(slots.entry(id.to_string()).or_default())
    }

    /// Fetches and checks the document at `id`; the client, and its max-age.
    async fn fetched(&self, config: &Config, id: &str) -> Result<(Client, Option<i64>), String> {
        let url = document_url(id)?;
        let fetched = self
            .fetch
            .get(&url, "application/json", MOST_BYTES)
            .await
            .map_err(|e| format!("fetching it: {e}"))?;
        let document: serde_json::Value =
            serde_json::from_slice(&fetched.body).map_err(|e| format!("it is not JSON: {e}"))?;
        if document.get("client_id").and_then(|v| v.as_str()) != Some(id) {
            return Err("its client_id is not its own URL".into());
        }
        for secret in ["client_secret", "client_secret_expires_at"] {
            if document.get(secret).is_some() {
                return Err(format!("it holds {secret}: a document anyone can read has no secret"));
            }
        }
        let metadata: ClientMetadata =
            serde_json::from_value(document).map_err(|e| format!("it does not fit RFC 7591: {e}"))?;
        let metadata =
            client_metadata::check(metadata, &Policy::DOCUMENT, config).map_err(|e| e.description().to_string())?;
        let host = url.host_str().unwrap_or_default().to_string();
        let client = client_metadata::client_of(id, &metadata, None, ClientOrigin::Document { host })?;
        Ok((client, fetched.max_age))
    }
}

/// A client id that may name a document: an absolute URL with a path, no fragment,
/// no credentials, written as its normal form (no dot segments).
fn document_url(id: &str) -> Result<Url, String> {
    let url = Url::parse(id).map_err(|e| format!("the client_id is not a URL: {e}"))?;
    if url.as_str() != id {
        return Err("the client_id is not written in its normal form (dot segments, case, escapes)".into());
    }
    if url.path() == "/" || url.fragment().is_some() {
        return Err("the client_id must have a path and no fragment".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::document_url;

    #[test]
    fn a_document_url_has_a_path_and_its_normal_form() {
        assert!(document_url("https://app.example/client.json").is_ok());
        for refused in [
            "https://app.example",
            "https://app.example/",
            "https://app.example/a/../client.json",
            "https://APP.example/client.json",
            "https://app.example/client.json#x",
            "not a url",
        ] {
            assert!(document_url(refused).is_err(), "{refused}");
        }
    }
}
