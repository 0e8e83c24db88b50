//! What an operator sees of a running Gatehouse: Prometheus metrics (`/metrics` on the
//! admin listener), one log line per request with its request id, and security events
//! as lines of their own (target `gatehouse::security`). One call at each place where
//! something happens both counts it and, for security events, logs it.
//!
//! Label values are bounded: routes are the router's patterns, upstream and client ids
//! come from the config, reasons and kinds are fixed words.

mod metrics;
mod request;
mod security;

pub use metrics::Telemetry;
pub use request::{Observer, REQUEST_ID, note_client, note_upstream, observe};
