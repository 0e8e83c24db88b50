//! The metrics and their registry. `prometheus-client` (the Prometheus project's own Rust
//! client): typed label sets, no global registry (tests run many servers in one process),
//! and the text format Prometheus scrapes.

use crate::store::{Store, StoreMetrics};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct HttpLabels {
    pub route: &'static str,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteLabels {
    pub route: &'static str,
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    kind: &'static str,
    grant_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct UpstreamLabels {
    pub upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct FailedLoginLabels {
    pub upstream: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamCallLabels {
    upstream: String,
    endpoint: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamEndpointLabels {
    upstream: String,
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabels {
    pub outcome: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 100 µs to ~6 s: requests and upstream calls.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.5, 13))
}

/// Every metric Gatehouse keeps, and the registry that encodes them. Cheap to clone;
/// it outlives config reloads.
#[derive(Clone)]
pub struct Telemetry(pub(super) Arc<Inner>);

pub(super) struct Inner {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_seconds: Histograms<RouteLabels>,
    tokens_issued: Family<TokenLabels, Counter>,
    pub logins_started: Family<UpstreamLabels, Counter>,
    pub logins_completed: Family<UpstreamLabels, Counter>,
    pub logins_failed: Family<FailedLoginLabels, Counter>,
    pub upstream_logouts: Family<UpstreamLabels, Counter>,
    upstream_calls: Family<UpstreamCallLabels, Counter>,
    upstream_seconds: Histograms<UpstreamEndpointLabels>,
    pub refresh_reuse: Counter,
    pub code_replays: Counter,
    pub client_auth_failures: Family<ReasonLabels, Counter>,
    revocations: Family<KindLabels, Counter>,
    refusals: Family<ReasonLabels, Counter>,
    store_records: Family<TableLabels, Gauge>,
    swept: Counter,
    signing_key_age: Gauge,
    reloads: Family<OutcomeLabels, Counter>,
    backchannel_logouts: Family<OutcomeLabels, Counter>,
    pub admin_calls: Family<OutcomeLabels, Counter>,
    signals_received: Family<UpstreamOutcomeLabels, Counter>,
    signals_pushed: Family<OutcomeLabels, Counter>,
    signal_receivers_up: Family<UpstreamLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamOutcomeLabels {
    upstream: String,
    outcome: &'static str,
}

impl Telemetry {
    /// Metrics for a server on `store` (whose own counters are registered too).
    pub fn new(store: &StoreMetrics) -> Telemetry {
        let mut registry = Registry::with_prefix("gatehouse");
        let inner = Inner {
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(latency_histogram),
            tokens_issued: Family::default(),
            logins_started: Family::default(),
            logins_completed: Family::default(),
            logins_failed: Family::default(),
            upstream_logouts: Family::default(),
            upstream_calls: Family::default(),
            upstream_seconds: Family::new_with_constructor(latency_histogram),
            refresh_reuse: Counter::default(),
            code_replays: Counter::default(),
            client_auth_failures: Family::default(),
            revocations: Family::default(),
            refusals: Family::default(),
            store_records: Family::default(),
            swept: Counter::default(),
            signing_key_age: Gauge::default(),
            reloads: Family::default(),
            backchannel_logouts: Family::default(),
            admin_calls: Family::default(),
            signals_received: Family::default(),
            signals_pushed: Family::default(),
            signal_receivers_up: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            inner.http_requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request",
            Unit::Seconds,
            inner.http_seconds.clone(),
        );
        r.register(
            "tokens_issued",
            "Tokens issued, by kind (id, access, refresh) and grant type",
            inner.tokens_issued.clone(),
        );
        r.register(
            "logins_started",
            "Logins sent to an upstream (or shown its password form)",
            inner.logins_started.clone(),
        );
        r.register(
            "logins_completed",
            "Logins back from an upstream with a person",
            inner.logins_completed.clone(),
        );
        r.register(
            "logins_failed",
            "Logins at an upstream that ended without a person, by reason",
            inner.logins_failed.clone(),
        );
        r.register(
            "upstream_logouts",
            "Logout tokens taken from an upstream (back-channel logout)",
            inner.upstream_logouts.clone(),
        );
        r.register(
            "upstream_requests",
            "Calls to upstreams (HTTP requests, directory binds and searches), by endpoint and outcome",
            inner.upstream_calls.clone(),
        );
        r.register_with_unit(
            "upstream_request_duration",
            "Time an upstream took to answer",
            Unit::Seconds,
            inner.upstream_seconds.clone(),
        );
        r.register(
            "refresh_reuse_detected",
            "Rotated refresh tokens presented again (their family is revoked)",
            inner.refresh_reuse.clone(),
        );
        r.register(
            "code_replays",
            "Authorization codes presented a second time (their tokens are revoked)",
            inner.code_replays.clone(),
        );
        r.register(
            "client_authentication_failures",
            "Clients that failed to authenticate, by reason",
            inner.client_auth_failures.clone(),
        );
        r.register(
            "revocations",
            "Tokens revoked at the revocation endpoint, by kind",
            inner.revocations.clone(),
        );
        r.register(
            "refusals",
            "Requests refused by a limit or for want of capacity, by reason",
            inner.refusals.clone(),
        );
        r.register(
            "store_records",
            "Records a table holds (expired ones not yet swept included), at the last scrape",
            inner.store_records.clone(),
        );
        r.register(
            "store_swept_records",
            "Expired records removed by the sweeper",
            inner.swept.clone(),
        );
        r.register_with_unit(
            "signing_key_age",
            "Age of the key that signs now",
            Unit::Seconds,
            inner.signing_key_age.clone(),
        );
        r.register(
            "config_reloads",
            "Config reloads, by outcome (applied, refused)",
            inner.reloads.clone(),
        );
        r.register(
            "backchannel_logouts",
            "Back-channel logout attempts to clients, by outcome (sent, retried, abandoned)",
            inner.backchannel_logouts.clone(),
        );
        r.register(
            "admin_requests",
            "Admin API requests, by outcome (allowed, refused)",
            inner.admin_calls.clone(),
        );
        r.register(
            "shared_signals_received",
            "Security events from upstreams' Shared Signals transmitters, by outcome (taken, refused)",
            inner.signals_received.clone(),
        );
        r.register(
            "shared_signals_pushed",
            "Pushes of security events to apps' streams, by outcome (sent, retried, abandoned)",
            inner.signals_pushed.clone(),
        );
        r.register(
            "shared_signals_receiver_up",
            "1 while Gatehouse's stream at the upstream delivers (its last poll or verification came through), else 0",
            inner.signal_receivers_up.clone(),
        );
        r.register(
            "store_operations",
            "Store operations, by kind and outcome",
            store.operations.clone(),
        );
        r.register(
            "store_batch_writes",
            "Writes made durable together (one group commit; one transaction on PostgreSQL)",
            store.batch_writes.clone(),
        );
        r.register_with_unit(
            "store_durable_duration",
            "Time from a batch's start until it is durable",
            Unit::Seconds,
            store.durable_seconds.clone(),
        );
        Telemetry(Arc::new(Inner { registry, ..inner }))
    }

    pub fn token_issued(&self, kind: &'static str, grant_type: &'static str) {
        self.0
            .tokens_issued
            .get_or_create(&TokenLabels { kind, grant_type })
            .inc();
    }

    pub fn revoked(&self, kind: &'static str) {
        self.0.revocations.get_or_create(&KindLabels { kind }).inc();
    }

    /// A request refused by a limit (`pending_logins`, `password_queue`, ...).
    pub fn refused(&self, reason: &'static str) {
        self.0.refusals.get_or_create(&ReasonLabels { reason }).inc();
    }

    pub fn swept(&self, records: usize) {
        self.0.swept.inc_by(records as u64);
    }

    /// An attempt of the outbox ended (a back-channel logout, or a push of a security
    /// event when `signal`): `sent`, `retried` (failed, to be tried again) or `abandoned`
    /// (failed for the last time).
    pub fn outbox_attempt(&self, signal: bool, outcome: &'static str) {
        let family = match signal {
            true => &self.0.signals_pushed,
            false => &self.0.backchannel_logouts,
        };
        family.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// An upstream's security event was taken or refused.
    pub fn signal_received(&self, upstream: &str, outcome: &'static str) {
        let labels = UpstreamOutcomeLabels {
            upstream: upstream.to_string(),
            outcome,
        };
        self.0.signals_received.get_or_create(&labels).inc();
    }

    /// Whether Gatehouse's stream at `upstream` delivers now.
    pub fn signal_receiver_up(&self, upstream: &str, up: bool) {
        let labels = UpstreamLabels {
            upstream: upstream.to_string(),
        };
        self.0.signal_receivers_up.get_or_create(&labels).set(i64::from(up));
    }

    pub fn reloaded(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "refused" };
        self.0.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// One call to an upstream: its endpoint, how it ended and how long it took.
    pub fn upstream_call(&self, upstream: &str, endpoint: &'static str, outcome: &'static str, took: Duration) {
        let upstream = upstream.to_string();
        self.0
            .upstream_seconds
            .get_or_create(&UpstreamEndpointLabels {
                upstream: upstream.clone(),
                endpoint,
            })
            .observe(took.as_secs_f64());
        self.0
            .upstream_calls
            .get_or_create(&UpstreamCallLabels {
                upstream,
                endpoint,
                outcome,
            })
            .inc();
    }

    /// The metrics as Prometheus scrapes them, with the gauges read from `store` and the
    /// active key's creation time first.
    pub async fn encode(&self, store: &Store, key_created_at: Option<i64>, now: i64) -> Result<String, String> {
        for table in Store::table_names() {
            match store.table_len(table).await {
                Ok(len) => {
                    self.0
                        .store_records
                        .get_or_create(&TableLabels { table })
                        .set(i64::try_from(len).unwrap_or(i64::MAX));
                }
                Err(e) => tracing::warn!(table, error = %e, "cannot count the records of a table"),
            }
        }
        if let Some(created) = key_created_at {
            self.0.signing_key_age.set(now.saturating_sub(created).max(0));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.0.registry).map_err(|e| e.to_string())?;
        Ok(text)
    }
}
