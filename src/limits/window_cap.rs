//! A cap on failures per key in a fixed time window: however patiently a key paces its
//! tries to stay under a backoff, no more than `limit` of them fail in one window.
//! Counting is per window that starts with the key's first failure in it.

use super::backoff::digest;
use std::collections::HashMap;
use std::sync::Mutex;

pub struct WindowCap {
    limit: u32,
    window: i64,
    capacity: usize,
    /// The SHA-256 of each key, with its window's start and its failures in it.
    windows: Mutex<HashMap<[u8; 32], Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: i64,
    failures: u32,
}

impl WindowCap {
    pub fn new(limit: u32, window: i64, capacity: usize) -> WindowCap {
        WindowCap {
            limit: limit.max(1),
            window: window.max(1),
            capacity,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// How many seconds `key` must wait for its window to end, when it is used up.
    pub fn wait(&self, key: &str, now: i64) -> Option<i64> {
        let window = *self.lock().get(&digest(key))?;
        let ends = window.started.saturating_add(self.window);
        (now < ends && window.failures >= self.limit).then_some(ends - now)
    }

    /// Notes a failure of `key` at `now`.
    pub fn failed(&self, key: &str, now: i64) {
        let mut windows = self.lock();
        let key = digest(key);
        if windows.len() >= self.capacity && !windows.contains_key(&key) {
            let length = self.window;
            windows.retain(|_, w| now < w.started.saturating_add(length));
            // Still full: the window that ends first goes (the least left to count).
            if windows.len() >= self.capacity
                && let Some(oldest) = windows.iter().min_by_key(|(_, w)| w.started).map(|(k, _)| *k)
            {
                windows.remove(&oldest);
            }
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= window.started.saturating_add(self.window) {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_limit_fails_in_a_window_then_the_key_waits_for_the_next() {
        let cap = WindowCap::new(3, 3600, 100);
        for second in 0..3 {
            assert_eq!(cap.wait("addr", 1000 + second), None);
            cap.failed("addr", 1000 + second);
        }
        assert_eq!(cap.wait("addr", 1003), Some(3597), "used up until the window ends");
        assert_eq!(cap.wait("other", 1003), None, "per key");
        assert_eq!(cap.wait("addr", 4600), None, "a new window");
        cap.failed("addr", 4600);
        assert_eq!(cap.wait("addr", 4600), None, "counted from one again");
    }

    #[test]
    fn follows_at_most_its_capacity() {
        let cap = WindowCap::new(1, 60, 3);
        for n in 0..10 {
            cap.failed(&format!("addr{n}"), 100 + n);
            assert!(cap.lock().len() <= 3);
        }
        assert!(cap.wait("addr9", 109).is_some(), "the newest is kept");
        assert_eq!(cap.wait("addr0", 109), None, "the oldest went first");
    }
}
