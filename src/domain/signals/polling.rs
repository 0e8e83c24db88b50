//! Poll delivery (RFC 8936): an app's poller takes the events waiting for its stream,
//! signed as it takes them, and acknowledges those it has; an event leaves the queue only
//! once acknowledged (or reported as not processed, or past its time).

use super::emit;
use super::streams::StreamError;
use crate::keys::{Keys, TokenType};
use crate::store::{SignalStream, Store};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

/// The most events one answer carries.
const MOST_PER_ANSWER: usize = 100;

/// A poll request (RFC 8936 §2.4).
#[derive(Debug, Deserialize, Default)]
pub struct PollRequest {
    #[serde(default)]
    pub ack: Vec<String>,
    #[serde(rename = "setErrs", default)]
    pub set_errs: Map<String, Json>,
    #[serde(rename = "maxEvents")]
    pub max_events: Option<usize>,
    #[serde(rename = "returnImmediately")]
    pub return_immediately: Option<bool>,
}

/// Takes the acknowledgements of `request` and answers the events waiting for the
/// stream `stream_id` of `client_id` (RFC 8936 §2.5), at most `maxEvents` of them.
pub async fn poll(
    store: &Store,
    keys: &Keys,
    client_id: &str,
    stream_id: &str,
    request: PollRequest,
    now: i64,
) -> Result<Json, StreamError> {
    let key = SignalStream::key(client_id, stream_id);
    let stream = store
        .signal_streams
        .get(&key, now)
        .await?
        .ok_or(StreamError::NotFound)?;
    if stream.delivery_method != super::events::POLL {
        return Err(StreamError::Invalid("this stream is delivered by push".into()));
    }
    for (jti, error) in &request.set_errs {
        tracing::warn!(client = %client_id, stream = %stream_id, jti = %jti, error = %error, "the receiver could not process an event");
    }
    let waiting = store
        .queued_signals
        .entries_with_prefix(&emit::queue_prefix(&key), now)
        .await?;
    let done = |queued_key: &str| {
        let jti = queued_key.rsplit(':').next().unwrap_or_default();
        request.ack.iter().any(|a| a == jti) || request.set_errs.contains_key(jti)
    };
    let mut write = store.write(now);
    let mut acknowledged = 0;
    let mut left = Vec::new();
    for (queued_key, queued) in waiting {
        if done(&queued_key) {
            store.queued_signals.stage_delete(&mut write, &queued_key);
            acknowledged += 1;
        } else {
            left.push(queued);
        }
    }
    if acknowledged > 0 {
        // Deletes check nothing: no conflict.
        let _ = store.commit(write).await?;
    }
    // A paused stream keeps its events until it is enabled again (SSF 1.0 §8.1.2).
    let most = match stream.status.as_str() {
        "enabled" => request.max_events.unwrap_or(MOST_PER_ANSWER).min(MOST_PER_ANSWER),
        _ => 0,
    };
    let mut sets = Map::new();
    for queued in left.iter().take(most) {
        let Some(jti) = queued.claims.get("jti").and_then(Json::as_str) else {
            continue;
        };
        let set = keys
            .sign(&queued.claims, TokenType::SecurityEvent)
            .await
            .map_err(|e| StreamError::Store(crate::store::StoreError::Backend(format!("cannot sign: {e}"))))?;
        sets.insert(jti.to_string(), Json::String(set));
    }
    Ok(json!({ "sets": sets, "moreAvailable": left.len() > sets.len() }))
}
