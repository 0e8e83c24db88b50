//! `[shared_signals]`: Gatehouse as a Shared Signals (SSF 1.0) transmitter toward apps;
//! and the `ssf` table of an `oidc` upstream: Gatehouse as a receiver of that upstream's
//! signals.

use super::{Duration, Problem, raw::decode};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SharedSignalsSettings {
    /// For tests: streams may push to loopback addresses, by `http://` as well.
    pub allow_loopback: bool,
    /// How many streams one client may have.
    pub streams_per_client: usize,
    /// How long an event waits for a poller (or a push is retried) before it is dropped.
    pub event_ttl: Duration,
}

impl Default for SharedSignalsSettings {
    fn default() -> Self {
        SharedSignalsSettings {
            allow_loopback: false,
            streams_per_client: 4,
            event_ttl: Duration::seconds(86_400),
        }
    }
}

pub fn validate_shared_signals(table: Option<toml::Value>, problems: &mut Vec<Problem>) -> SharedSignalsSettings {
    let settings = table
        .and_then(|t| decode::<SharedSignalsSettings>(t, "shared_signals", problems))
        .unwrap_or_default();
    if !(1..=100).contains(&settings.streams_per_client) {
        problems.push(Problem::new(
            "shared_signals.streams_per_client",
            "must be between 1 and 100",
        ));
    }
    settings
}

/// How the upstream's transmitter delivers its events to Gatehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalDelivery {
    /// It POSTs each event to `/ssf/{upstream}` (RFC 8935).
    Push,
    /// Gatehouse polls it (RFC 8936).
    Poll,
}

/// The `ssf` table of an `oidc` upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalReceiver {
    pub delivery: SignalDelivery,
    /// Poll: how often Gatehouse polls.
    pub poll_interval: Duration,
    /// Push: how often Gatehouse asks for a verification event to see that the stream
    /// still delivers.
    pub verify_interval: Duration,
    /// The scope of the client_credentials token Gatehouse manages its stream with.
    pub scope: String,
    /// Where the transmitter's configuration is; by default its well-known place under
    /// the upstream's issuer.
    pub configuration_url: Option<String>,
    /// A stream made at the transmitter by its operator; by default Gatehouse makes one.
    pub stream_id: Option<String>,
}

#[derive(Deserialize)]
struct RawReceiver {
    delivery: SignalDelivery,
    poll_interval: Option<Duration>,
    verify_interval: Option<Duration>,
    scope: Option<String>,
    configuration_url: Option<String>,
    stream_id: Option<String>,
}

/// Reads the `ssf` table at `at`.
pub fn read_receiver(table: toml::Value, at: &str, problems: &mut Vec<Problem>) -> Option<SignalReceiver> {
    let raw: RawReceiver = decode(table, at, problems)?;
    let configuration_url = match &raw.configuration_url {
        Some(_) => Some(super::checks::required_url(
            at,
            "oidc",
            "configuration_url",
            &raw.configuration_url,
            problems,
        )?),
        None => None,
    };
    if raw.delivery == SignalDelivery::Push && raw.poll_interval.is_some() {
        problems.push(Problem::new(
            format!("{at}.poll_interval"),
            "only applies with delivery = \"poll\"",
        ));
    }
    if raw.delivery == SignalDelivery::Poll && raw.verify_interval.is_some() {
        problems.push(Problem::new(
            format!("{at}.verify_interval"),
            "only applies with delivery = \"push\"",
        ));
    }
    if raw.delivery == SignalDelivery::Push && raw.stream_id.is_some() {
        // The transmitter must push with the Authorization header Gatehouse chooses when
        // it makes the stream.
        problems.push(Problem::new(
            format!("{at}.stream_id"),
            "only applies with delivery = \"poll\": Gatehouse makes its push stream itself",
        ));
    }
    Some(SignalReceiver {
        delivery: raw.delivery,
        poll_interval: raw.poll_interval.unwrap_or(Duration::seconds(30)),
        verify_interval: raw.verify_interval.unwrap_or(Duration::seconds(600)),
        scope: raw.scope.unwrap_or_else(|| "ssf".into()),
        configuration_url,
        stream_id: raw.stream_id.filter(|s| !s.is_empty()),
    })
}
