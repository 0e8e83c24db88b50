//! The public keys of `private_key_jwt` clients that publish them at a `jwks_uri`.
//!
//! A set is fetched when first needed and kept for [`FRESH_FOR_SECS`]. An assertion that
//! names a key the set lacks (the client rotated) makes Gatehouse fetch it again, but at
//! most once a minute, so that made-up `kid`s cannot make it hammer the client's server;
//! a failed fetch is retried after [`RETRY_FAILED_AFTER_SECS`], and meanwhile the last set
//! it had still serves. One slot per configured URI, made with the config: the table does
//! not grow with requests, and a reload starts from empty. The `jwks_uri`s of clients
//! that named themselves (a registration, a metadata document) get slots as they are
//! used, at most [`NAMED_CAPACITY`], and are fetched through [`PublicFetch`]: those URLs
//! are anyone's choice.

use crate::config::{Client, ClientJwks};
use crate::public_fetch::PublicFetch;
use crate::signed_jwt::{Refused, SignedJwt};
use crate::upstream::UpstreamHttp;
use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::core::CoreJwsSigningAlgorithm;
use std::collections::HashMap;
use std::sync::Arc;

pub const FRESH_FOR_SECS: i64 = 300;
const REFETCH_AFTER_SECS: i64 = 60;
const RETRY_FAILED_AFTER_SECS: i64 = 10;
/// The most `jwks_uri`s of self-named clients kept at once.
pub const NAMED_CAPACITY: usize = 1000;
/// The largest key set read from a self-named client's `jwks_uri`.
const NAMED_MOST_BYTES: usize = 64 * 1024;

pub struct ClientKeys {
    /// Held while a fetch runs, so that requests that arrive meanwhile wait for its
    /// answer instead of fetching too.
    by_uri: HashMap<String, tokio::sync::Mutex<Slot>>,
    /// The slots of the `jwks_uri`s self-named clients gave.
    named: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    public: PublicFetch,
}

#[derive(Default)]
struct Slot {
    keys: Option<Arc<CoreJsonWebKeySet>>,
    fetched_at: i64,
    /// No fetch before this (unix seconds).
    next_try_at: i64,
}

impl ClientKeys {
    pub fn for_clients(clients: &[Arc<Client>], public: PublicFetch) -> ClientKeys {
        let by_uri = clients
            .iter()
            .filter_map(|client| match &client.jwks {
                Some(ClientJwks::Uri(uri)) => Some((uri.clone(), tokio::sync::Mutex::default())),
                _ => None,
            })
            .collect();
        ClientKeys {
            by_uri,
            named: std::sync::Mutex::default(),
            public,
        }
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
        let named;
        let slot = match self.by_uri.get(uri) {
            Some(configured) => configured,
            None => {
                named = self.named_slot(uri, now);
                &*named
            }
        };
        let mut slot = slot.lock().await;
        let fresh = slot.keys.is_some() && now - slot.fetched_at < FRESH_FOR_SECS;
        if (fresh && !newer) || now < slot.next_try_at {
            return slot
                .keys
                .clone()
                .ok_or_else(|| format!("the keys at {uri} could not be fetched lately"));
        }
        let fetched = if self.by_uri.contains_key(uri) {
            fetch(http, uri).await
        } else {
            fetch_public(&self.public, uri).await
        };
        match fetched {
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

/// Why a JWT was not taken as signed by a client.
pub enum KeyFailure {
    /// Not signed by a key of the client (or not validly): the description says which.
    Refused(String),
    /// The client's keys cannot be fetched now.
    Unavailable(String),
}

impl ClientKeys {
    /// Checks that `jwt` is signed, by one of `allowed`, with a key of `jwks` (fetched
    /// again, at most once a minute, when none fits: the client may have rotated).
    pub async fn verify(
        &self,
        http: &UpstreamHttp,
        jwt: &SignedJwt<'_>,
        jwks: &ClientJwks,
        allowed: &[CoreJwsSigningAlgorithm],
        now: i64,
    ) -> Result<(), KeyFailure> {
        let refused = |e: Refused| match e {
            Refused::NoMatchingKey => {
                KeyFailure::Refused(format!("no key of the client fits {}'s kid and alg", jwt.what()))
            }
            Refused::Invalid(why) => KeyFailure::Refused(why),
        };
        let uri = match jwks {
            ClientJwks::Inline(keys) => return jwt.verify_with(keys, allowed).map_err(refused),
            ClientJwks::Uri(uri) => uri,
        };
        let keys = self.get(http, uri, false, now).await.map_err(KeyFailure::Unavailable)?;
        match jwt.verify_with(&keys, allowed) {
            Err(Refused::NoMatchingKey) => {
                let newer = self.get(http, uri, true, now).await.map_err(KeyFailure::Unavailable)?;
                if Arc::ptr_eq(&newer, &keys) {
                    return Err(refused(Refused::NoMatchingKey));
                }
                jwt.verify_with(&newer, allowed).map_err(refused)
            }
            verified => verified.map_err(refused),
        }
    }

    /// The slot of a self-named client's `uri`, made when there is none; when all are
    /// taken, the one fetched longest ago goes.
    fn named_slot(&self, uri: &str, now: i64) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        if !named.contains_key(uri) && named.len() >= NAMED_CAPACITY {
            let oldest = named
                .iter()
                .filter_map(|(key, slot)| slot.try_lock().ok().map(|s| (key.clone(), s.fetched_at)))
                .min_by_key(|(_, at)| *at)
                .map(|(key, _)| key);
            if let Some(key) = oldest {
                named.remove(&key);
            }
        }
        let slot = named.entry(uri.to_string()).or_insert_with(|| {
            Arc::new(tokio::sync::Mutex::new(Slot {
                next_try_at: now,
                ..Slot::default()
            }))
        });
        Arc::clone(slot)
    }
}

async fn fetch_public(public: &PublicFetch, uri: &str) -> Result<CoreJsonWebKeySet, String> {
    let url = url::Url::parse(uri).map_err(|e| format!("{uri} is not a URL: {e}"))?;
    let fetched = public
        .get(&url, "application/json", NAMED_MOST_BYTES)
        .await
        .map_err(|e| format!("{uri}: {e}"))?;
    serde_json::from_slice(&fetched.body).map_err(|e| format!("{uri} does not hold a JWK set: {e}"))
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
