//! The guards that keep anonymous traffic within the config's `[limits]`: password checks
//! bounded per core, backoff on failed passwords and user codes, a cap on wrong user codes
//! per hour, and the count of live pending logins.

mod backoff;
mod client_ip;
mod password_checks;
mod pending_quota;
mod window_cap;

pub use backoff::Backoff;
pub use client_ip::client_ip;
pub use password_checks::{CheckError, PasswordChecks};
pub use pending_quota::{Full, PendingQuota};
pub use window_cap::WindowCap;

use crate::config::Limits;

pub struct Guards {
    pub password_checks: PasswordChecks,
    /// Failed passwords, per username at an upstream and per client address.
    pub password_failures: Backoff,
    pub pending_logins: PendingQuota,
    /// Wrong user codes of the device grant, per client address: each next try waits...
    pub user_code_failures: Backoff,
    /// ...and at most so many fail in an hour (RFC 8628 §5.1).
    pub user_code_failures_per_hour: WindowCap,
    /// Client registrations (RFC 7591) per client address in an hour.
    pub registrations_per_hour: WindowCap,
    /// Held while a registration counts the registered clients and adds one, so that
    /// two at once cannot both take the last place.
    pub registering: tokio::sync::Mutex<()>,
}

impl Guards {
    pub fn new(limits: &Limits) -> std::io::Result<Guards> {
        Ok(Guards {
            password_checks: PasswordChecks::new(limits.password_check_queue)?,
            password_failures: Backoff::new(
                limits.password_failures_before_backoff,
                limits.password_backoff_max.as_secs_i64(),
                backoff::CAPACITY,
            ),
            pending_logins: PendingQuota::new(limits.pending_logins, limits.pending_logins_per_ip),
            user_code_failures: Backoff::new(
                limits.password_failures_before_backoff,
                limits.password_backoff_max.as_secs_i64(),
                backoff::CAPACITY,
            ),
            user_code_failures_per_hour: WindowCap::new(limits.user_code_failures_per_hour, 3600, backoff::CAPACITY),
            registrations_per_hour: WindowCap::new(limits.registrations_per_ip_per_hour, 3600, backoff::CAPACITY),
            registering: tokio::sync::Mutex::new(()),
        })
    }
}
