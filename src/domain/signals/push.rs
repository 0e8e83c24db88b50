//! Push delivery (RFC 8935): what an attempt of the outbox sends for a Security Event
//! Token owed to a push stream.

use super::events::PUSH;
use crate::keys::{Keys, TokenType};
use crate::store::{PushedSignal, Store, StoreError};

/// What an attempt does with a token owed to a push stream.
pub enum Prepared {
    /// Send it: where, with what Authorization header, and the token signed now.
    Send {
        url: url::Url,
        authorization: Option<String>,
        set: String,
    },
    /// Not now: the stream is paused (SSF 1.0 §8.1.2 holds its events).
    Hold,
}

/// What to do with `signal` now; `None` when its stream is gone, no longer pushes or is
/// disabled.
pub async fn prepare(
    store: &Store,
    keys: &Keys,
    signal: &PushedSignal,
    now: i64,
) -> Result<Option<Prepared>, StoreError> {
    let Some(stream) = store.signal_streams.get(&signal.stream_key, now).await? else {
        return Ok(None);
    };
    if stream.delivery_method != PUSH || stream.status == "disabled" {
        return Ok(None);
    }
    if stream.status == "paused" {
        return Ok(Some(Prepared::Hold));
    }
    let Ok(url) = url::Url::parse(&stream.endpoint_url) else {
        return Ok(None);
    };
    match keys.sign(&signal.claims, TokenType::SecurityEvent).await {
        Ok(set) => Ok(Some(Prepared::Send {
            url,
            authorization: stream.authorization_header,
            set,
        })),
        Err(e) => {
            tracing::error!(client = %stream.client_id, error = %e, "cannot sign a security event token");
            Ok(None)
        }
    }
}
