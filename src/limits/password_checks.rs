//! The one gate every argon2 check passes: at most one per core at a time, on threads of
//! their own, a bounded number waiting, and the rest refused at once.
//!
//! argon2 is built to cost memory (~19 MiB a check) and time; run without a bound, a
//! burst of wrong passwords grows the process by gigabytes.

use crate::workers::{Workers, cores};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Every core is checking and the queue is full: try again shortly (503).
    #[error("too many password checks at once")]
    Busy,
    #[error("the password check failed: {0}")]
    Failed(String),
    /// What checks the password (a directory) cannot be asked now (503).
    #[error("the password cannot be checked now: {0}")]
    Unavailable(String),
}

pub struct PasswordChecks {
    threads: Workers,
    /// A thread each: taken before `before` runs, so that it sees every check finished.
    running: Semaphore,
    /// Checks holding or waiting for a core.
    admitted: AtomicUsize,
    /// Cores plus the queue: more than this are refused.
    most_admitted: usize,
}

impl PasswordChecks {
    /// One check per core, and `queue` more waiting.
    pub fn new(queue: usize) -> std::io::Result<PasswordChecks> {
        Ok(PasswordChecks {
            threads: Workers::start("password", cores())?,
            running: Semaphore::new(cores()),
            admitted: AtomicUsize::new(0),
            most_admitted: cores() + queue,
        })
    }

    /// Runs `check` on a password thread once one is free; `before` runs first, once
    /// admitted, so that a caller can skip work another check finished meanwhile.
    pub async fn run<T: Send + 'static>(
        &self,
        before: impl FnOnce() -> Option<T>,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CheckError> {
        let _admission = self.admit()?;
        let _core = self
            .running
            .acquire()
            .await
            .map_err(|e| CheckError::Failed(e.to_string()))?;
        if let Some(done) = before() {
            return Ok(done);
        }
        self.threads
            .run(check)
            .await
            .map_err(|e| CheckError::Failed(e.to_string()))
    }

    /// Runs `check`, which waits on the network rather than a core (a directory's bind),
    /// once admitted among the checks: refused as [`CheckError::Busy`] like the others
    /// when as many are admitted as there are cores and places in the queue.
    pub async fn run_remote<T>(&self, check: impl Future<Output = T>) -> Result<T, CheckError> {
        let _admission = self.admit()?;
        Ok(check.await)
    }

    fn admit(&self) -> Result<Admission<'_>, CheckError> {
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(&self.admitted);
        if admitted >= self.most_admitted {
            return Err(CheckError::Busy);
        }
        Ok(admission)
    }
}

/// A place among the admitted checks, given back when dropped (a request that gives up
/// while waiting included).
struct Admission<'a>(&'a AtomicUsize);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_what_neither_a_core_nor_the_queue_takes() {
        let checks = Arc::new(PasswordChecks::new(1).unwrap());
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(released));
        let mut admitted = Vec::new();
        // Fill every place: cores plus the queue of one.
        for _ in 0..checks.most_admitted {
            let (checks, released) = (checks.clone(), released.clone());
            admitted.push(tokio::spawn(async move {
                checks
                    .run(
                        || None,
                        move || released.lock().map(|r| r.recv().is_ok()).unwrap_or(false),
                    )
                    .await
            }));
        }
        while checks.admitted.load(Ordering::Acquire) < checks.most_admitted {
            tokio::task::yield_now().await;
        }
        assert!(matches!(checks.run(|| None, || true).await, Err(CheckError::Busy)));
        for _ in 0..checks.most_admitted {
            release.send(()).unwrap();
        }
        for check in admitted {
            assert!(check.await.unwrap().unwrap());
        }
        assert!(checks.run(|| None, || true).await.unwrap(), "places are given back");
    }
}
