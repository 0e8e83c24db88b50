//! An app's streams (SSF 1.0 §8.1): made, read, changed, paused and deleted by the app
//! itself, each bound to the client that made it; the subjects it asked to hear nothing
//! about; and the verification events it asks for.

use super::emit;
use super::events::{self, EventType};
use crate::config::Config;
use crate::secrets;
use crate::store::{SignalStream, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// The fewest seconds between two verification events of one stream.
pub const MIN_VERIFICATION_INTERVAL: i64 = 15;
/// The most subjects a stream may have asked to hear nothing about.
const MOST_REMOVED_SUBJECTS: usize = 1000;
const STATUSES: [&str; 3] = ["enabled", "paused", "disabled"];

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// 400, with what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// 404: no such stream of this client.
    #[error("no such stream")]
    NotFound,
    /// 409: the client has as many streams as it may.
    #[error("{0}")]
    Conflict(String),
    /// 429: a verification event was asked for too soon after the last.
    #[error("ask for a verification event at most every {MIN_VERIFICATION_INTERVAL} seconds")]
    TooSoon,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stream's delivery as the app asks for it.
#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryRequest {
    pub method: String,
    pub endpoint_url: Option<String>,
    pub authorization_header: Option<String>,
}

/// A stream's configuration as the app sends it (SSF 1.0 §8.1.1); what it leaves out
/// stays as it was (PATCH) or takes its default (POST, PUT).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct StreamRequest {
    pub stream_id: Option<String>,
    pub delivery: Option<DeliveryRequest>,
    pub events_requested: Option<Vec<String>>,
    pub description: Option<String>,
}

/// A stream's configuration as SSF 1.0 §8.1.1 shows it (never the Authorization header
/// the receiver gave).
pub fn describe(config: &Config, stream: &SignalStream) -> Json {
    let supported: Vec<String> = EventType::TRANSMITTED.iter().map(|e| e.uri()).collect();
    let delivered: Vec<&String> = stream
        .events_requested
        .iter()
        .filter(|e| supported.contains(e))
        .collect();
    let mut described = json!({
        "stream_id": stream.stream_id, "iss": config.issuer, "aud": stream.client_id,
        "events_supported": supported, "events_requested": stream.events_requested,
        "events_delivered": delivered,
        "delivery": { "method": stream.delivery_method, "endpoint_url": stream.endpoint_url },
        "min_verification_interval": MIN_VERIFICATION_INTERVAL,
    });
    if let (Some(description), Json::Object(fields)) = (&stream.description, &mut described) {
        fields.insert("description".into(), json!(description));
    }
    described
}

/// Makes a stream for `client_id` as `request` asks.
pub async fn create(
    store: &Store,
    config: &Config,
    client_id: &str,
    request: StreamRequest,
    now: i64,
) -> Result<SignalStream, StreamError> {
    if request.stream_id.is_some() {
        return Err(StreamError::Invalid("stream_id is chosen by the transmitter".into()));
    }
    let existing = store
        .signal_streams
        .entries_with_prefix(&SignalStream::prefix(client_id), now)
        .await?;
    if existing.len() >= config.shared_signals.streams_per_client {
        return Err(StreamError::Conflict(format!(
            "this client has {} streams, as many as it may: delete one first",
            existing.len()
        )));
    }
    let stream_id = secrets::random_token();
    let mut stream = SignalStream {
        stream_id: stream_id.clone(),
        client_id: client_id.to_string(),
        events_requested: Vec::new(),
        delivery_method: String::new(),
        endpoint_url: String::new(),
        authorization_header: None,
        description: None,
        status: "enabled".into(),
        reason: None,
        removed_subjects: Vec::new(),
        created_at: now,
        verified_at: None,
    };
    apply(config, &mut stream, request, Change::Replace)?;
    let key = SignalStream::key(client_id, &stream_id);
    if !store.signal_streams.insert_new(&key, &stream, None, now).await? {
        return Err(StreamError::Conflict("the stream id is taken; try again".into()));
    }
    tracing::info!(client = %client_id, stream = %stream_id, method = %stream.delivery_method, "stream created");
    Ok(stream)
}

/// The streams of `client_id`: the one `stream_id` names, or all of them.
pub async fn read(
    store: &Store,
    client_id: &str,
    stream_id: Option<&str>,
    now: i64,
) -> Result<Vec<SignalStream>, StreamError> {
    match stream_id {
        Some(id) => Ok(vec![
            store
                .signal_streams
                .get(&SignalStream::key(client_id, id), now)
                .await?
                .ok_or(StreamError::NotFound)?,
        ]),
        None => Ok(store
            .signal_streams
            .entries_with_prefix(&SignalStream::prefix(client_id), now)
            .await?
            .into_iter()
            .map(|(_, stream)| stream)
            .collect()),
    }
}

/// How an update treats what the request leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// PATCH: it stays.
    Update,
    /// POST, PUT: it takes its default.
    Replace,
}

/// Changes the stream the request names (SSF 1.0 §8.1.1.3, §8.1.1.4).
pub async fn change(
    store: &Store,
    config: &Config,
    client_id: &str,
    request: StreamRequest,
    how: Change,
    now: i64,
) -> Result<SignalStream, StreamError> {
    let stream_id = request
        .stream_id
        .clone()
        .ok_or_else(|| StreamError::Invalid("stream_id is required".into()))?;
    let key = SignalStream::key(client_id, &stream_id);
    modify(store, &key, now, |stream| apply(config, stream, request.clone(), how)).await
}

/// Deletes the stream `stream_id` of `client_id` and the events waiting in its queue.
pub async fn delete(store: &Store, client_id: &str, stream_id: &str, now: i64) -> Result<(), StreamError> {
    let key = SignalStream::key(client_id, stream_id);
    if store.signal_streams.take(&key, now).await?.is_none() {
        return Err(StreamError::NotFound);
    }
    let waiting = store
        .queued_signals
        .entries_with_prefix(&emit::queue_prefix(&key), now)
        .await?;
    let mut write = store.write(now);
    for (queued, _) in waiting {
        store.queued_signals.stage_delete(&mut write, &queued);
    }
    // Deletes check nothing: no conflict.
    let _ = store.commit(write).await?;
    tracing::info!(client = %client_id, stream = %stream_id, "stream deleted");
    Ok(())
}

/// Sets the stream's status (SSF 1.0 §8.1.2.2).
pub async fn set_status(
    store: &Store,
    client_id: &str,
    stream_id: &str,
    status: &str,
    reason: Option<String>,
    now: i64,
) -> Result<SignalStream, StreamError> {
    if !STATUSES.contains(&status) {
        return Err(StreamError::Invalid(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    let key = SignalStream::key(client_id, stream_id);
    modify(store, &key, now, |stream| {
        stream.status = status.to_string();
        stream.reason = reason.clone();
        Ok(())
    })
    .await
}

/// Asks (`hear = true`, §8.1.3.2) or asks not (§8.1.3.3) to hear of `subject`, which must
/// name a person as this issuer does (`iss_sub`, or `opaque` with their `sub`).
pub async fn hear_of(
    store: &Store,
    config: &Config,
    client_id: &str,
    stream_id: &str,
    subject: &Json,
    hear: bool,
    now: i64,
) -> Result<(), StreamError> {
    let sub = subject_sub(config, subject)?;
    let key = SignalStream::key(client_id, stream_id);
    modify(store, &key, now, |stream| {
        stream.removed_subjects.retain(|s| *s != sub);
        if !hear {
            if stream.removed_subjects.len() >= MOST_REMOVED_SUBJECTS {
                return Err(StreamError::Invalid(format!(
                    "a stream may leave out at most {MOST_REMOVED_SUBJECTS} subjects"
                )));
            }
            stream.removed_subjects.push(sub.clone());
        }
        Ok(())
    })
    .await
    .map(|_| ())
}

/// The person `subject` names, by their `sub` here.
fn subject_sub(config: &Config, subject: &Json) -> Result<String, StreamError> {
    let field = |name: &str| subject.get(name).and_then(Json::as_str).filter(|v| !v.is_empty());
    match field("format") {
        Some("iss_sub") if field("iss") == Some(config.issuer.as_str()) => field("sub")
            .map(String::from)
            .ok_or_else(|| StreamError::Invalid("the subject has no sub".into())),
        Some("iss_sub") => Err(StreamError::Invalid("the subject's iss is not this issuer".into())),
        Some("opaque") => field("id")
            .map(String::from)
            .ok_or_else(|| StreamError::Invalid("the subject has no id".into())),
        _ => Err(StreamError::Invalid(
            "the subject must be of format iss_sub (with this issuer) or opaque".into(),
        )),
    }
}

/// Queues a verification event for the stream (§8.1.4.2), carrying `state` back.
pub async fn verify(
    store: &Store,
    config: &Config,
    client_id: &str,
    stream_id: &str,
    state: Option<String>,
    now: i64,
) -> Result<Option<String>, StreamError> {
    let key = SignalStream::key(client_id, stream_id);
    for _ in 0..crate::store::MAX_RACES {
        let current = store
            .signal_streams
            .read(&key, now)
            .await?
            .ok_or(StreamError::NotFound)?;
        if current
            .value
            .verified_at
            .is_some_and(|at| now.saturating_sub(at) < MIN_VERIFICATION_INTERVAL)
        {
            return Err(StreamError::TooSoon);
        }
        let mut stream = current.value.clone();
        stream.verified_at = Some(now);
        let mut write = store.write(now);
        store.signal_streams.expect(&mut write, &key, Some(&current));
        store
            .signal_streams
            .stage_put(&mut write, &key, &stream, current.expires_at)?;
        let subject = json!({ "format": "opaque", "id": stream_id });
        let payload = match state {
            Some(ref state) => json!({ "state": state }),
            None => json!({}),
        };
        let claims = events::set_claims(
            &config.issuer,
            client_id,
            subject,
            EventType::Verification,
            payload,
            now,
        );
        let push = emit::queue(store, config, &mut write, &key, &stream, claims, now)?;
        if store.commit(write).await? == crate::store::Commit::Done {
            return Ok(push);
        }
    }
    Err(StreamError::Store(StoreError::Contended {
        table: "signal-streams",
        key_len: key.len(),
    }))
}

/// Reads the stream `key`, changes it with `change` and writes it back if nobody changed
/// it meanwhile.
async fn modify(
    store: &Store,
    key: &str,
    now: i64,
    mut change: impl FnMut(&mut SignalStream) -> Result<(), StreamError>,
) -> Result<SignalStream, StreamError> {
    for _ in 0..crate::store::MAX_RACES {
        let current = store
            .signal_streams
            .read(key, now)
            .await?
            .ok_or(StreamError::NotFound)?;
        let mut stream = current.value.clone();
        change(&mut stream)?;
        let mut write = store.write(now);
        store.signal_streams.expect(&mut write, key, Some(&current));
        store
            .signal_streams
            .stage_put(&mut write, key, &stream, current.expires_at)?;
        if store.commit(write).await? == crate::store::Commit::Done {
            return Ok(stream);
        }
    }
    Err(StreamError::Store(StoreError::Contended {
        table: "signal-streams",
        key_len: key.len(),
    }))
}

/// Applies what `request` asks to `stream`.
fn apply(config: &Config, stream: &mut SignalStream, request: StreamRequest, how: Change) -> Result<(), StreamError> {
    let invalid = |why: &str| Err(StreamError::Invalid(why.to_string()));
    match (request.delivery, how) {
        (Some(delivery), _) => set_delivery(config, stream, delivery)?,
        (None, Change::Replace) if stream.delivery_method.is_empty() => {
            // SSF 1.0 §8.1.1: a stream made without a delivery is polled.
            set_delivery(
                config,
                stream,
                DeliveryRequest {
                    method: events::POLL.into(),
                    endpoint_url: None,
                    authorization_header: None,
                },
            )?
        }
        (None, _) => {}
    }
    match (request.events_requested, how) {
        (Some(requested), _) => {
            if requested.len() > 32 || requested.iter().any(|e| e.len() > 200) {
                return invalid("events_requested is too long");
            }
            stream.events_requested = requested;
        }
        (None, Change::Replace) => stream.events_requested = Vec::new(),
        (None, Change::Update) => {}
    }
    match (request.description, how) {
        (Some(description), _) if description.len() > 500 => return invalid("description is too long"),
        (Some(description), _) => stream.description = Some(description),
        (None, Change::Replace) => stream.description = None,
        (None, Change::Update) => {}
    }
    Ok(())
}

fn set_delivery(config: &Config, stream: &mut SignalStream, delivery: DeliveryRequest) -> Result<(), StreamError> {
    let invalid = |why: String| Err(StreamError::Invalid(why));
    match delivery.method.as_str() {
        events::PUSH => {
            let Some(endpoint) = delivery.endpoint_url else {
                return invalid("push delivery needs an endpoint_url".into());
            };
            let url = url::Url::parse(&endpoint).map_err(|e| StreamError::Invalid(format!("endpoint_url: {e}")))?;
            crate::public_fetch::fetchable(&url, config.shared_signals.allow_loopback)
                .map_err(|why| StreamError::Invalid(format!("endpoint_url: {why}")))?;
            if delivery
                .authorization_header
                .as_ref()
                .is_some_and(|h| h.len() > 1024 || h.contains(['\r', '\n']))
            {
                return invalid("authorization_header is not a header value".into());
            }
            stream.endpoint_url = endpoint;
            stream.authorization_header = delivery.authorization_header;
        }
        events::POLL => {
            if delivery.endpoint_url.is_some() {
                return invalid("a poll stream's endpoint_url is the transmitter's to give".into());
            }
            stream.endpoint_url = format!("{}{}", config.issuer, crate::routes::signals_poll(&stream.stream_id));
            stream.authorization_header = None;
        }
        other => return invalid(format!("delivery method {other} is not supported")),
    }
    stream.delivery_method = delivery.method;
    Ok(())
}
