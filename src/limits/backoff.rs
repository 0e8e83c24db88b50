//! Backoff on failed passwords: after a few free failures, each further try on the same
//! key (a username at an upstream, a client IP) waits twice as long as the one before,
//! up to a maximum. Unlike a lockout, a person whose username is being guessed gets in
//! again after at most the maximum wait.

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many keys are followed; past it, the one idle longest is forgotten.
pub const CAPACITY: usize = 10_000;

pub struct Backoff {
    free_failures: u32,
    longest_wait: i64,
    capacity: usize,
    /// The SHA-256 of each key (so that a long username costs no more than a short one).
    failures: Mutex<HashMap<[u8; 32], Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: i64,
}

impl Backoff {
    pub fn new(free_failures: u32, longest_wait: i64, capacity: usize) -> Backoff {
        Backoff {
            free_failures,
            longest_wait: longest_wait.max(1),
            capacity,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How many seconds `key` must still wait before its next try, if any.
    pub fn wait(&self, key: &str, now: i64) -> Option<i64> {
        let failures = *self.lock().get(&digest(key))?;
        let allowed_at = failures.last.saturating_add(self.wait_after(failures.count));
        (now < allowed_at).then_some(allowed_at - now)
    }

    /// Notes a failed try on `key` at `now`.
    pub fn failed(&self, key: &str, now: i64) {
        let mut failures = self.lock();
        let key = digest(key);
        if failures.len() >= self.capacity && !failures.contains_key(&key) {
            let longest_wait = self.longest_wait;
            failures.retain(|_, f| !forgiven(f, now, longest_wait));
            if failures.len() >= self.capacity
                && let Some(idlest) = failures.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k)
            {
                failures.remove(&idlest);
            }
        }
        let entry = failures.entry(key).or_insert(Failures { count: 0, last: now });
        if forgiven(entry, now, self.longest_wait) {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    /// Forgets the failures of `key` (a successful login).
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(&digest(key));
    }

    /// The wait after `count` failures: none for the free ones, then 1 s, 2 s, 4 s, ...
    fn wait_after(&self, count: u32) -> i64 {
        match count.checked_sub(self.free_failures) {
            None | Some(0) => 0,
            Some(beyond) => (1i64 << (beyond - 1).min(62)).min(self.longest_wait),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Failures>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Failures long enough ago (the longest wait, after the last one) count no more.
fn forgiven(failures: &Failures, now: i64, longest_wait: i64) -> bool {
    now.saturating_sub(failures.last) > longest_wait
}

/// The SHA-256 of a key: what is kept of it (so that a long username costs no more than a
/// short one).
pub(super) fn digest(key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_failures_up_to_the_longest() {
        let backoff = Backoff::new(2, 8, 100);
        backoff.failed("alice", 100);
        backoff.failed("alice", 100);
        assert_eq!(backoff.wait("alice", 100), None, "two free failures");
        let mut expected = [1, 2, 4, 8, 8].into_iter();
        let mut now = 100;
        for _ in 0..5 {
            backoff.failed("alice", now);
            let wait = expected.next().unwrap();
            assert_eq!(backoff.wait("alice", now), Some(wait));
            now += wait;
            assert_eq!(backoff.wait("alice", now), None);
        }
        assert_eq!(backoff.wait("bob", now), None, "per key");
        backoff.succeeded("alice");
        backoff.failed("alice", now);
        assert_eq!(backoff.wait("alice", now), None, "a success starts over");
    }

    #[test]
    fn failures_are_forgiven_after_a_quiet_while() {
        let backoff = Backoff::new(1, 10, 100);
        backoff.failed("alice", 100);
        backoff.failed("alice", 100);
        assert_eq!(backoff.wait("alice", 100), Some(1));
        backoff.failed("alice", 111);
        assert_eq!(backoff.wait("alice", 111), None, "counted from one again");
    }

    #[test]
    fn follows_at_most_its_capacity() {
        let backoff = Backoff::new(0, 10, 3);
        for n in 0..10 {
            backoff.failed(&format!("user{n}"), 100 + n);
            assert!(backoff.lock().len() <= 3);
        }
        assert!(backoff.wait("user9", 109).is_some(), "the newest is kept");
        assert_eq!(backoff.wait("user0", 109), None, "the idlest went first");
    }
}
