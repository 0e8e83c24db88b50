//! The server's DPoP nonces (RFC 9449 §8, §9): one per five-minute window, made by the
//! first replica that needs it and kept in the store, so that every replica hands out and
//! accepts the same. A nonce is accepted in its own window and the next one.

use crate::secrets;
use crate::store::{DpopNonce, Store, StoreError};
use std::sync::Mutex;

/// How long one nonce is handed out.
const WINDOW_SECS: i64 = 300;

/// The nonces of the current and the previous window, as this replica last read them.
#[derive(Default)]
pub struct Nonces {
    known: Mutex<Vec<(i64, String)>>,
}

impl Nonces {
    /// The nonce to hand out now.
    pub async fn current(&self, store: &Store, now: i64) -> Result<String, StoreError> {
        let window = now.div_euclid(WINDOW_SECS);
        if let Some(nonce) = self.cached(window) {
            return Ok(nonce);
        }
        let key = window.to_string();
        let made = DpopNonce {
            value: secrets::random_token(),
        };
        // Kept through the next window, in which it is still accepted.
        let expires = (window + 2) * WINDOW_SECS;
        let nonce = if store.dpop_nonces.insert_new(&key, &made, Some(expires), now).await? {
            made.value
        } else {
            match store.dpop_nonces.get(&key, now).await? {
                Some(stored) => stored.value,
                None => return Err(StoreError::Backend("the DPoP nonce vanished as it was made".into())),
            }
        };
        self.remember(window, &nonce);
        Ok(nonce)
    }

    /// Whether `nonce` is this window's or the last one's.
    pub async fn accepts(&self, store: &Store, nonce: &str, now: i64) -> Result<bool, StoreError> {
        let window = now.div_euclid(WINDOW_SECS);
        if secrets::equal(&self.current(store, now).await?, nonce) {
            return Ok(true);
        }
        let previous = match self.cached(window - 1) {
            Some(value) => Some(value),
            None => {
                let stored = store.dpop_nonces.get(&(window - 1).to_string(), now).await?;
                if let Some(stored) = &stored {
                    self.remember(window - 1, &stored.value);
                }
                stored.map(|s| s.value)
            }
        };
        Ok(previous.is_some_and(|previous| secrets::equal(&previous, nonce)))
    }

    fn cached(&self, window: i64) -> Option<String> {
        let known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        known.iter().find(|(w, _)| *w == window).map(|(_, n)| n.clone())
    }

    /// Keeps `nonce` of `window`, and only the windows still accepted: two at most.
    fn remember(&self, window: i64, nonce: &str) {
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let newest = known.iter().map(|(w, _)| *w).chain([window]).max().unwrap_or(window);
        known.retain(|(w, _)| *w != window && *w >= newest - 1);
        known.push((window, nonce.to_string()));
    }
}
