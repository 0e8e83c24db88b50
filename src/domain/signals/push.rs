//! Push delivery (RFC 8935): what an attempt of the outbox sends for a Security Event
//! Token owed to a push stream.

use super::events::PUSH;
use crate::keys::{Keys, TokenType};
use crate::store::{PushedSignal, Store, StoreError};

/// Where the token goes, with what Authorization header, and the token signed now;
/// `None` when the stream is gone, no longer pushes or is disabled.
pub async fn prepare(
    store: &Store,
    keys: &Keys,
    signal: &PushedSignal,
    now: i64,
) -> Result<Option<(url::Url, Option<String>, String)>, StoreError> {
    let Some(stream) = store.signal_streams.get(&signal.stream_key, now).await? else {
        return Ok(None);
    };
    if stream.delivery_method != PUSH || stream.status == "disabled" {
        return Ok(None);
    }
    let Ok(url) = url::Url::parse(&stream.endpoint_url) else {
        return Ok(None);
    };
    match keys.sign(&signal.claims, TokenType::SecurityEvent).await {
        Ok(set) => Ok(Some((url, stream.authorization_header, set))),
        Err(e) => {
            tracing::error!(client = %stream.client_id, error = %e, "cannot sign a security event token");
            Ok(None)
        }
    }
}
