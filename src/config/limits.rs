//! `[limits]`: the bounds that keep anonymous traffic from exhausting the disk, memory or
//! connections. Every one has a default a real deployment can run with.

use super::{Duration, Problem, raw::decode};
use serde::Deserialize;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// The longest value of any one authorization request parameter, in bytes.
    pub parameter_length: usize,
    /// Live pending logins (parked authorization requests), all clients together.
    pub pending_logins: usize,
    /// Live pending logins started from one client IP address.
    pub pending_logins_per_ip: usize,
    /// Password checks waiting for a core; more are refused with 503.
    pub password_check_queue: usize,
    /// Wrong passwords per username and per IP address before each next try must wait.
    pub password_failures_before_backoff: u32,
    /// The longest such wait (it doubles with every further failure).
    pub password_backoff_max: Duration,
    /// Wrong passwords within one pending login before it is void.
    pub password_attempts_per_login: u32,
    /// Wrong device user codes from one client address in an hour; more wait for the hour.
    pub user_code_failures_per_hour: u32,
    /// Open client connections at once; more wait to be accepted.
    pub connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long one request may take, its body included.
    pub request_timeout: Duration,
    /// The largest request body, in bytes.
    pub request_body_bytes: usize,
    /// The largest answer read from an upstream, in bytes.
    pub upstream_response_bytes: usize,
    /// Client registrations (RFC 7591) from one address in an hour.
    pub registrations_per_ip_per_hour: u32,
    /// Registered clients kept at once, all addresses together.
    pub registered_clients: usize,
    /// The largest registration (its JSON body), in bytes.
    pub registration_body_bytes: usize,
    /// Peers (reverse proxies) whose `client_ip_header` names the client's address.
    pub trusted_proxies: Vec<IpAddr>,
    /// The header a trusted proxy puts the client address in; its last entry counts.
    pub client_ip_header: String,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            parameter_length: 2048,
            pending_logins: 10_000,
            pending_logins_per_ip: 100,
            password_check_queue: 64,
            password_failures_before_backoff: 5,
            password_backoff_max: Duration::seconds(15 * 60),
            password_attempts_per_login: 5,
            user_code_failures_per_hour: 20,
            connections: 1024,
            header_read_timeout: Duration::seconds(10),
            request_timeout: Duration::seconds(30),
            request_body_bytes: 64 * 1024,
            upstream_response_bytes: 1024 * 1024,
            registrations_per_ip_per_hour: 20,
            registered_clients: 10_000,
            registration_body_bytes: 16 * 1024,
            trusted_proxies: Vec::new(),
            client_ip_header: "X-Forwarded-For".to_string(),
        }
    }
}

pub fn validate_limits(limits: Option<toml::Value>, problems: &mut Vec<Problem>) -> Limits {
    let Some(limits) = limits else {
        return Limits::default();
    };
    let before = problems.len();
    let Some(limits) = decode::<Limits>(limits, "limits", problems) else {
        return Limits::default();
    };
    let counts = [
        ("parameter_length", limits.parameter_length),
        ("pending_logins", limits.pending_logins),
        ("pending_logins_per_ip", limits.pending_logins_per_ip),
        ("password_check_queue", limits.password_check_queue),
        (
            "password_attempts_per_login",
            limits.password_attempts_per_login as usize,
        ),
        (
            "user_code_failures_per_hour",
            limits.user_code_failures_per_hour as usize,
        ),
        ("connections", limits.connections),
        ("request_body_bytes", limits.request_body_bytes),
        ("upstream_response_bytes", limits.upstream_response_bytes),
        (
            "registrations_per_ip_per_hour",
            limits.registrations_per_ip_per_hour as usize,
        ),
        ("registered_clients", limits.registered_clients),
        ("registration_body_bytes", limits.registration_body_bytes),
    ];
    for (key, value) in counts {
        if value == 0 {
            problems.push(Problem::new(format!("limits.{key}"), "must be at least 1"));
        }
    }
    if axum::http::HeaderName::try_from(limits.client_ip_header.as_str()).is_err() {
        problems.push(Problem::new(
            "limits.client_ip_header",
            format!("\"{}\" is not a header name", limits.client_ip_header),
        ));
    }
    if problems.len() > before {
        return Limits::default();
    }
    limits
}
