//! Gatehouse's own stream at each upstream that sends Shared Signals: made when first
//! needed (push to `/ssf/{upstream}` with an Authorization header chosen here, or for
//! polling) and remembered in the store for every replica; and one poll of it.

use super::events::EventType;
use super::receive::{self, Refused};
use crate::config::{Config, SignalDelivery, SignalReceiver};
use crate::domain::logout_outbox;
use crate::secrets;
use crate::store::{SignalReceiverState, Store};
use crate::upstream::oidc::{Delivery, OidcProvider};
use crate::upstream::{LiveUpstream, UpstreamHttp, Upstreams};

/// Gatehouse's stream at the upstream `upstream`: the one the store remembers while the
/// transmitter still has it, else a new one (or the one `stream_id` names).
pub async fn connect(
    store: &Store,
    config: &Config,
    upstream: &LiveUpstream,
    http: &UpstreamHttp,
    now: i64,
) -> Result<SignalReceiverState, String> {
    let id = &upstream.config.id;
    let (source, settings) = source_of(upstream)?;
    let token = source
        .service_token(http, &settings.scope)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(known) = store.signal_receivers.get(id, now).await.map_err(|e| e.to_string())? {
        if source
            .read_stream(http, &token, &known.stream_id)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
            return Ok(known);
        }
        tracing::warn!(upstream = %id, "the transmitter no longer has Gatehouse's stream: making a new one");
    }
    let (remote, authorization_hash) = match (&settings.stream_id, settings.delivery) {
        (Some(stream_id), _) => {
            let remote = source
                .read_stream(http, &token, stream_id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("the transmitter has no stream {stream_id}"))?;
            (remote, None)
        }
        (None, SignalDelivery::Push) => {
            let authorization = format!("Bearer {}", secrets::random_token());
            let endpoint = format!("{}{}", config.issuer, crate::routes::ssf_receiver(id));
            let delivery = Delivery::Push {
                endpoint: &endpoint,
                authorization: &authorization,
            };
            let remote = source
                .create_stream(http, &token, delivery, &requested())
                .await
                .map_err(|e| e.to_string())?;
            (remote, Some(secrets::hash(&authorization)))
        }
        (None, SignalDelivery::Poll) => {
            let remote = source
                .create_stream(http, &token, Delivery::Poll, &requested())
                .await
                .map_err(|e| e.to_string())?;
            (remote, None)
        }
    };
    let state = SignalReceiverState {
        poll_url: remote
            .delivery
            .as_ref()
            .filter(|d| d.method == super::events::POLL)
            .and_then(|d| d.endpoint_url.clone()),
        stream_id: remote.stream_id,
        authorization_hash,
        created_at: now,
        verification_state: None,
        verification_asked_at: None,
        verified_at: None,
    };
    let mut write = store.write(now);
    store
        .signal_receivers
        .stage_put(&mut write, id, &state, None)
        .map_err(|e| e.to_string())?;
    // The write checks nothing: no conflict. Of two replicas that made a stream at once,
    // the last one written is the one kept; the other's stream goes unused.
    let _ = store.commit(write).await.map_err(|e| e.to_string())?;
    tracing::info!(upstream = %id, stream = %state.stream_id, "stream at the upstream's transmitter ready");
    Ok(state)
}

/// The upstream as a transmitter, and its `ssf` table.
fn source_of(upstream: &LiveUpstream) -> Result<(&OidcProvider, &SignalReceiver), String> {
    let source = upstream.signals().ok_or("the upstream sends no Shared Signals")?;
    let settings = source.signal_settings().ok_or("the upstream sends no Shared Signals")?;
    Ok((source, settings))
}

fn requested() -> Vec<String> {
    EventType::RECEIVED.iter().map(|e| e.uri()).collect()
}

/// Whether `authorization` is the header Gatehouse asked the upstream to push with.
pub async fn push_allowed(
    store: &Store,
    upstream_id: &str,
    authorization: Option<&str>,
    now: i64,
) -> Result<bool, Refused> {
    let known = store
        .signal_receivers
        .get(upstream_id, now)
        .await
        .map_err(|e| Refused::Unavailable(e.to_string()))?;
    Ok(match (known.and_then(|k| k.authorization_hash), authorization) {
        (Some(hash), Some(sent)) => secrets::equal(&hash, &secrets::hash(sent)),
        _ => false,
    })
}

/// What one poll did.
#[derive(Debug, Default)]
pub struct Polled {
    pub taken: usize,
    pub refused: usize,
    /// More events wait: poll again at once.
    pub more: bool,
}

/// Polls Gatehouse's stream at the upstream once, acknowledging `acks` (taken by the
/// last poll) and filling it with what this one took.
pub async fn poll_once(
    outbox: logout_outbox::Parts<'_>,
    upstreams: &Upstreams,
    http: &UpstreamHttp,
    upstream_id: &str,
    state: &SignalReceiverState,
    acks: &mut Vec<String>,
) -> Result<Polled, String> {
    let upstream = upstreams.get(upstream_id).ok_or("the upstream is gone")?;
    let (source, settings) = source_of(upstream)?;
    let url = state.poll_url.as_deref().ok_or("the stream has no poll endpoint")?;
    let token = source
        .service_token(http, &settings.scope)
        .await
        .map_err(|e| e.to_string())?;
    let answer = source
        .poll_stream(http, &token, url, acks)
        .await
        .map_err(|e| e.to_string())?;
    acks.clear();
    let mut polled = Polled {
        more: answer.more_available,
        ..Polled::default()
    };
    for (jti, set) in answer.sets {
        let Some(set) = set.as_str() else {
            continue;
        };
        match receive::take(outbox, upstreams, http, upstream_id, set, outbox.clock.now()).await {
            Ok(_) => polled.taken += 1,
            Err(Refused::Unavailable(why)) => return Err(why),
            Err(refused) => {
                tracing::warn!(upstream = %upstream_id, error = %refused, "polled event refused");
                polled.refused += 1;
            }
        }
        // Taken or refused for good: either way it is not to come again.
        acks.push(jti);
    }
    Ok(polled)
}

/// Asks the transmitter for a verification event on Gatehouse's push stream `made`,
/// remembering in the store the `state` it must carry back; returns that state.
pub async fn ask_verification(
    store: &Store,
    http: &UpstreamHttp,
    upstream: &LiveUpstream,
    made: &SignalReceiverState,
    now: i64,
) -> Result<String, String> {
    let id = &upstream.config.id;
    let (source, settings) = source_of(upstream)?;
    let state = secrets::random_token();
    store
        .signal_receivers
        .update(id, now, |current| {
            current.map(|mut known| {
                known.verification_state = Some(state.clone());
                known.verification_asked_at = Some(now);
                known.verified_at = None;
                (known, None)
            })
        })
        .await
        .map_err(|e| e.to_string())?;
    let token = source
        .service_token(http, &settings.scope)
        .await
        .map_err(|e| e.to_string())?;
    source
        .request_verification(http, &token, &made.stream_id, &state)
        .await
        .map_err(|e| e.to_string())?;
    Ok(state)
}
