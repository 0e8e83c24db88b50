//! Telling apps' streams what happened: each event becomes one Security Event Token per
//! stream that asked for it, staged in the same write as the change it reports, so none
//! is lost. A push stream's token goes to the outbox (delivered, retried and leased as
//! logout tokens are); a poll stream's waits in its queue until the app acknowledges it.

use super::events::{self, EventType};
use crate::config::Config;
use crate::domain::logout_outbox;
use crate::store::{QueuedSignal, SignalStream, Store, StoreError, Write};
use serde_json::Value as Json;

/// What happened, to whom.
pub struct Signal {
    pub event: EventType,
    /// The person, by Gatehouse's `sub`.
    pub sub: String,
    /// Their session, when the event is about one.
    pub sid: Option<String>,
    /// The event's own claims (reason, initiating entity, ...).
    pub payload: Json,
}

/// The streams of the apps `client_ids` (those that take Shared Signals), by key.
pub async fn streams_of(
    store: &Store,
    config: &Config,
    client_ids: &[String],
    now: i64,
) -> Result<Vec<(String, SignalStream)>, StoreError> {
    let mut streams = Vec::new();
    for client_id in client_ids {
        if config.client(client_id).is_some_and(|c| c.shared_signals) {
            streams.extend(
                store
                    .signal_streams
                    .entries_with_prefix(&SignalStream::prefix(client_id), now)
                    .await?,
            );
        }
    }
    Ok(streams)
}

/// Adds to `write` the token each of `streams` is owed for `signal`; returns the keys
/// of the outbox messages to start delivering once the write is done.
pub fn stage(
    store: &Store,
    config: &Config,
    write: &mut Write,
    streams: &[(String, SignalStream)],
    signal: &Signal,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let mut pushes = Vec::new();
    let uri = signal.event.uri();
    for (key, stream) in streams {
        let wanted = stream.status != "disabled"
            && stream.events_requested.contains(&uri)
            && !stream.removed_subjects.contains(&signal.sub);
        if !wanted {
            continue;
        }
        let subject = match &signal.sid {
            Some(sid) => events::session(&config.issuer, &signal.sub, sid),
            None => events::person(&config.issuer, &signal.sub),
        };
        let claims = events::set_claims(
            &config.issuer,
            &stream.client_id,
            subject,
            signal.event,
            signal.payload.clone(),
            now,
        );
        pushes.extend(queue(store, config, write, key, stream, claims, now)?);
    }
    Ok(pushes)
}

/// Adds to `write` the token `claims` for the stream `key`: to the outbox for a push
/// stream (its message's key returned), to the stream's queue for a poll stream.
pub fn queue(
    store: &Store,
    config: &Config,
    write: &mut Write,
    key: &str,
    stream: &SignalStream,
    claims: Json,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let until = now.saturating_add(config.shared_signals.event_ttl.as_secs_i64());
    if stream.delivery_method == events::PUSH {
        return logout_outbox::stage_signal(store, write, &stream.client_id, key, claims, now, until).map(Some);
    }
    let jti = claims.get("jti").and_then(Json::as_str).unwrap_or_default().to_string();
    let queued_key = format!("{}{now:012}:{jti}", queue_prefix(key));
    store
        .queued_signals
        .stage_put(write, &queued_key, &QueuedSignal { claims }, Some(until))?;
    Ok(None)
}

/// What the keys of the tokens waiting in the poll queue of the stream `key` start with.
pub fn queue_prefix(stream_key: &str) -> String {
    format!("{stream_key}|")
}

/// Tells the streams of the apps `client_ids` about `signal` now, on its own (not with a
/// change it reports), and starts the pushes.
pub async fn tell(
    outbox: logout_outbox::Parts<'_>,
    client_ids: &[String],
    signal: &Signal,
    now: i64,
) -> Result<(), StoreError> {
    let pushes = record(outbox.store, outbox.config, client_ids, signal, now).await?;
    logout_outbox::start(outbox, &pushes, now).await?.detach();
    Ok(())
}

/// Queues `signal` for the streams of the apps `client_ids`, for the outbox's next pass
/// to push (or their pollers to take); returns the keys of the pushes.
pub async fn record(
    store: &Store,
    config: &Config,
    client_ids: &[String],
    signal: &Signal,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let streams = streams_of(store, config, client_ids, now).await?;
    if streams.is_empty() {
        return Ok(Vec::new());
    }
    let mut write = store.write(now);
    let pushes = stage(store, config, &mut write, &streams, signal, now)?;
    // Puts that check nothing: no conflict.
    let _ = store.commit(write).await?;
    Ok(pushes)
}
