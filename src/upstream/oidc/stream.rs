//! Gatehouse's stream at an upstream's Shared Signals transmitter (SSF 1.0 §8.1): made
//! with push delivery to Gatehouse or for polling, read back to see that it is still
//! there, and polled (RFC 8936), each call with the client_credentials token.

use super::OidcProvider;
use crate::upstream::{FetchError, UpstreamError, UpstreamHttp};
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

/// A stream as the transmitter describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteStream {
    pub stream_id: String,
    #[serde(default)]
    pub delivery: Option<RemoteDelivery>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RemoteDelivery {
    pub method: String,
    pub endpoint_url: Option<String>,
}

/// What one poll brought: the tokens by `jti`, and whether more wait.
#[derive(Debug, Default, Deserialize)]
pub struct Polled {
    #[serde(default)]
    pub sets: Map<String, Json>,
    #[serde(rename = "moreAvailable", default)]
    pub more_available: bool,
}

/// How Gatehouse's stream at an upstream fares, for `/healthz/ready`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReceiverHealth {
    /// Its last poll, or its last verification event, came through.
    pub delivering: bool,
    /// Since when it has been delivering, or failing.
    pub since: Option<i64>,
    /// Failures in a row.
    pub failures: u32,
    pub last_error: Option<String>,
    /// After a failure: how long Gatehouse waits before it tries again.
    pub retry_in_secs: Option<u64>,
}

/// How Gatehouse asks its events to come.
pub enum Delivery<'a> {
    Push { endpoint: &'a str, authorization: &'a str },
    Poll,
}

impl OidcProvider {
    /// The `ssf` table of this upstream, when it has one.
    pub fn signal_settings(&self) -> Option<&crate::config::SignalReceiver> {
        self.settings.ssf.as_ref()
    }

    /// The upstream's `acr` value `theirs` in Gatehouse's terms.
    pub fn acr_from_upstream(&self, theirs: &str) -> String {
        self.settings.acr_map.from_upstream(theirs)
    }

    /// The upstream's issuer, which names its people in `iss_sub` subjects.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Makes a stream at the transmitter for `events`, delivered as `delivery` says.
    pub async fn create_stream(
        &self,
        http: &UpstreamHttp,
        token: &str,
        delivery: Delivery<'_>,
        events: &[String],
    ) -> Result<RemoteStream, UpstreamError> {
        let endpoint = self.configuration_endpoint(http).await?;
        let delivery = match delivery {
            Delivery::Push { endpoint, authorization } => json!({
                "method": "urn:ietf:rfc:8935", "endpoint_url": endpoint, "authorization_header": authorization,
            }),
            Delivery::Poll => json!({ "method": "urn:ietf:rfc:8936" }),
        };
        let body = json!({ "delivery": delivery, "events_requested": events, "description": "Gatehouse" });
        let request = http.client().post(&endpoint).bearer_auth(token).json(&body);
        let (status, answer) = send(http, &self.id, &endpoint, request).await?;
        if !status.is_success() {
            return Err(UpstreamError::Unavailable(format!("{endpoint} answered {status} to the new stream")));
        }
        serde_json::from_slice(&answer).map_err(|e| UpstreamError::Invalid(format!("{endpoint}: not a stream: {e}")))
    }

    /// The stream `stream_id` as the transmitter has it; `None` when it has it no more.
    pub async fn read_stream(
        &self,
        http: &UpstreamHttp,
        token: &str,
        stream_id: &str,
    ) -> Result<Option<RemoteStream>, UpstreamError> {
        let endpoint = self.configuration_endpoint(http).await?;
        let request = http.client().get(&endpoint).query(&[("stream_id", stream_id)]).bearer_auth(token);
        let (status, answer) = send(http, &self.id, &endpoint, request).await?;
        match status.as_u16() {
            404 => Ok(None),
            200 => {
                // One stream, or (from some transmitters) a list of them.
                let value: Json = serde_json::from_slice(&answer)
                    .map_err(|e| UpstreamError::Invalid(format!("{endpoint}: not a stream: {e}")))?;
                let found = match value {
                    Json::Array(streams) => streams.into_iter().find(|s| s["stream_id"] == stream_id),
                    one => Some(one),
                };
                Ok(found.and_then(|s| serde_json::from_value(s).ok()))
            }
            _ => Err(UpstreamError::Unavailable(format!("{endpoint} answered {status}"))),
        }
    }

    /// Acknowledges `acks` and takes what waits at the poll endpoint `url`, at once.
    pub async fn poll_stream(
        &self,
        http: &UpstreamHttp,
        token: &str,
        url: &str,
        acks: &[String],
    ) -> Result<Polled, UpstreamError> {
        let body = json!({ "ack": acks, "maxEvents": 50, "returnImmediately": true });
        let request = http.client().post(url).bearer_auth(token).json(&body);
        let (status, answer) = send(http, &self.id, url, request).await?;
        if !status.is_success() {
            return Err(UpstreamError::Unavailable(format!("{url} answered {status}")));
        }
        serde_json::from_slice(&answer).map_err(|e| UpstreamError::Invalid(format!("{url}: not a poll answer: {e}")))
    }

    /// Asks the transmitter for a verification event on `stream_id` carrying `state`
    /// (SSF 1.0 §8.1.4.2).
    pub async fn request_verification(
        &self,
        http: &UpstreamHttp,
        token: &str,
        stream_id: &str,
        state: &str,
    ) -> Result<(), UpstreamError> {
        let endpoint = self
            .signal_transmitter(http)
            .await?
            .verification_endpoint
            .ok_or_else(|| UpstreamError::Invalid("the transmitter has no verification_endpoint".into()))?;
        let body = json!({ "stream_id": stream_id, "state": state });
        let request = http.client().post(&endpoint).bearer_auth(token).json(&body);
        let (status, _) = send(http, &self.id, &endpoint, request).await?;
        if !status.is_success() {
            return Err(UpstreamError::Unavailable(format!("{endpoint} answered {status}")));
        }
        Ok(())
    }

    /// Records how Gatehouse's stream at the upstream fares: `Ok` when it just delivered
    /// (or answered a poll); the reason when it did not, and the pause before the next try.
    pub fn note_receiver(&self, outcome: Result<(), (&str, u64)>, now: i64) {
        let mut health = self.signal_health.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(()) => {
                if !health.delivering {
                    health.since = Some(now);
                }
                health.delivering = true;
                health.failures = 0;
                health.last_error = None;
                health.retry_in_secs = None;
            }
            Err((why, retry_in_secs)) => {
                health.retry_in_secs = Some(retry_in_secs);
                if health.delivering || health.since.is_none() {
                    health.since = Some(now);
                }
                health.delivering = false;
                health.failures = health.failures.saturating_add(1);
                health.last_error = Some(why.to_string());
            }
        }
    }

    /// How Gatehouse's stream at the upstream fares, as last noted.
    pub fn receiver_health(&self) -> ReceiverHealth {
        self.signal_health.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn configuration_endpoint(&self, http: &UpstreamHttp) -> Result<String, UpstreamError> {
        self.signal_transmitter(http)
            .await?
            .configuration_endpoint
            .ok_or_else(|| UpstreamError::Invalid("the transmitter has no configuration_endpoint".into()))
    }
}

/// Sends `request` to the transmitter at `url`: its status and body (bounded).
pub(super) async fn send(
    http: &UpstreamHttp,
    upstream: &str,
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, Vec<u8>), UpstreamError> {
    http.to(upstream, "ssf").fetch(request).await.map_err(|e| match e {
        FetchError::Http(e) => UpstreamError::Unavailable(format!("{url} failed: {e}")),
        too_large @ FetchError::TooLarge(_) => UpstreamError::Invalid(format!("{url}: {too_large}")),
    })
}
