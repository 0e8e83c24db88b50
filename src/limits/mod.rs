//! The guards that keep anonymous traffic within the config's `[limits]`: password checks
//! bounded per core, backoff on failed passwords, and the count of live pending logins.

mod backoff;
mod client_ip;
mod password_checks;
mod pending_quota;

pub use backoff::Backoff;
pub use client_ip::client_ip;
pub use password_checks::{CheckError, PasswordChecks};
pub use pending_quota::{Full, PendingQuota};

use crate::config::Limits;

pub struct Guards {
    pub password_checks: PasswordChecks,
    /// Failed passwords, per username at an upstream and per client address.
    pub password_failures: Backoff,
    pub pending_logins: PendingQuota,
    /// Wrong user codes of the device grant, per client address.
    pub user_code_failures: Backoff,
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
        })
    }
}
