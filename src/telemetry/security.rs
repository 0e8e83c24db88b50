//! Security events: each counted and logged on a line of its own, with target
//! `gatehouse::security` and an `event` field, so that log shipping can route them. They
//! name upstreams and clients by their configured ids and never carry a credential.

use super::Telemetry;
use super::metrics::{FailedLoginLabels, ReasonLabels, UpstreamLabels};
use super::request::current_request_id;

impl Telemetry {
    /// A login sent to an upstream, or its password form shown.
    pub fn login_started(&self, upstream: &str) {
        let labels = UpstreamLabels {
            upstream: upstream.to_string(),
        };
        self.0.logins_started.get_or_create(&labels).inc();
    }

    pub fn login_succeeded(&self, upstream: &str, client_id: &str) {
        let labels = UpstreamLabels {
            upstream: upstream.to_string(),
        };
        self.0.logins_completed.get_or_create(&labels).inc();
        tracing::info!(target: "gatehouse::security", event = "login_succeeded", request_id = current_request_id(), upstream, client_id, "login succeeded");
    }

    /// A login that ended without a person; `reason` is a fixed word (`denied`,
    /// `unavailable`, `invalid_answer`, `wrong_password`, ...).
    pub fn login_failed(&self, upstream: &str, client_id: &str, reason: &'static str) {
        let labels = FailedLoginLabels {
            upstream: upstream.to_string(),
            reason,
        };
        self.0.logins_failed.get_or_create(&labels).inc();
        tracing::warn!(target: "gatehouse::security", event = "login_failed", request_id = current_request_id(), upstream, client_id, reason, "login failed");
    }

    pub fn refresh_reuse(&self, client_id: &str) {
        self.0.refresh_reuse.inc();
        tracing::warn!(
            target: "gatehouse::security",
            event = "refresh_reuse",
            request_id = current_request_id(),
            client_id,
            "a rotated refresh token was used again: its family is revoked"
        );
    }

    pub fn code_replay(&self, client_id: &str) {
        self.0.code_replays.inc();
        tracing::warn!(
            target: "gatehouse::security",
            event = "code_replay",
            request_id = current_request_id(),
            client_id,
            "an authorization code was used twice: its tokens are revoked"
        );
    }

    /// A client that failed to authenticate. `client_id` is what it claimed, when that
    /// is a configured client; `reason` a fixed word.
    pub fn client_auth_failed(&self, client_id: Option<&str>, reason: &'static str) {
        self.0
            .client_auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
        tracing::warn!(
            target: "gatehouse::security",
            event = "client_authentication_failed",
            request_id = current_request_id(),
            client_id = client_id.unwrap_or("-"),
            reason,
            "client authentication failed"
        );
    }

    /// An upstream's logout token was taken and ended `sessions` sessions.
    pub fn upstream_logout(&self, upstream: &str, sessions: usize) {
        let labels = UpstreamLabels {
            upstream: upstream.to_string(),
        };
        self.0.upstream_logouts.get_or_create(&labels).inc();
        tracing::info!(target: "gatehouse::security", event = "upstream_logout", request_id = current_request_id(), upstream, sessions, "an upstream ended its session");
    }

    /// An admin API call: its method and route pattern, and whether the token was right.
    pub fn admin_call(&self, method: &str, route: &'static str, allowed: bool) {
        let outcome = if allowed { "allowed" } else { "refused" };
        self.0
            .admin_calls
            .get_or_create(&super::metrics::OutcomeLabels { outcome })
            .inc();
        if allowed {
            tracing::info!(target: "gatehouse::security", event = "admin_call", request_id = current_request_id(), method, route, outcome, "admin API call");
        } else {
            tracing::warn!(target: "gatehouse::security", event = "admin_call", request_id = current_request_id(), method, route, outcome, "admin API call without the admin token");
        }
    }
}
