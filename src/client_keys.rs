//! The public keys of `private_key_jwt` clients that publish them at a `jwks_uri`.
//!
//! A set is fetched when first needed and kept for [`FRESH_FOR_SECS`]. An assertion that
//! names a key the set lacks (the client rotated) makes Gatehouse fetch it again, but at
//! most once a minute, so that made-up `kid`s cannot make it hammer the client's server;
//! a failed fetch is retried after [`RETRY_FAILED_AFTER_SECS`], and meanwhile the last set
//! it had still serves. One slot per configured URI, made with the config: the table does
//! not grow with requests, and a reload starts from empty.

use crate::config::{Client, ClientJwks};
use crate::upstream::UpstreamHttp;
use openidconnect::core::CoreJsonWebKeySet;
use std::collections::HashMap;
use std::sync::Arc;

pub const FRESH_FOR_SECS: i64 = 300;
const REFETCH_AFTER_SECS: i64 = 60;
const RETRY_FAILED_AFTER_SECS: i64 = 10;

pub struct ClientKeys {
    /// Held while a fetch runs, so that requests that arrive meanwhile wait for its
    /// answer instead of fetching too.
    by_uri: HashMap<String, tokio::sync::Mutex<Slot>>,
}

#[derive(Default)]
struct Slot {
    keys: Option<Arc<CoreJsonWebKeySet>>,
    fetched_at: i64,
    /// No fetch before this (unix seconds).
    next_try_at: i64,
}

impl ClientKeys {
    pub fn for_clients(clients: &[Arc<Client>]) -> ClientKeys {
        let by_uri = clients
            .iter()
            .filter_map(|client| match &client.jwks {
                Some(ClientJwks::Uri(uri)) => Some((uri.clone(), tokio::sync::Mutex::default())),
                _ => None,
            })
            .collect();
        ClientKeys { by_uri }
    }

    /// The keys at `uri`: the cached set while it is fresh, or when `newer` (the cached
    /// set lacks a key an assertion names) a new fetch if the last is a minute old.
    pub async fn get(
        &self,
        http: &UpstreamHttp,
        uri: &str,
        newer: bool,
        now: i64,
    ) -> Result<Arc<CoreJsonWebKeySet>, String> {
        let slot = self
            .by_uri
            .get(uri)
            .ok_or_else(|| format!("{uri} is not a configured jwks_uri"))?;
        let mut slot = slot.lock().await;
        let fresh = slot.keys.is_some() && now - slot.fetched_at < FRESH_FOR_SECS;
        if (fresh && !newer) || now < slot.next_try_at {
            return slot
                .keys
                .clone()
                .ok_or_else(|| format!("the keys at {uri} could not be fetched lately"));
        }
        match fetch(http, uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *slot = Slot {
                    keys: Some(Arc::clone(&keys)),
                    fetched_at: now,
                    next_try_at: now + REFETCH_AFTER_SECS,
                };
                Ok(keys)
            }
            Err(why) => {
                tracing::warn!(jwks_uri = uri, "cannot fetch a client's keys: {why}");
                slot.next_try_at = now + RETRY_FAILED_AFTER_SECS;
                slot.keys.clone().ok_or(why)
            }
        }
    }
}

async fn fetch(http: &UpstreamHttp, uri: &str) -> Result<CoreJsonWebKeySet, String> {
    let request = http
        .client()
        .get(uri)
        .header(reqwest::header::ACCEPT, "application/json");
    let (status, body) = http.fetch(request).await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{uri} answered {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{uri} does not hold a JWK set: {e}"))
}
