//! A fixed set of threads for long CPU work (RSA signatures, argon2 password checks), off
//! the async workers.
//!
//! One thread per core takes jobs from a bounded queue, one after the other: the threads
//! stay busy under load with no hand-over between jobs (a semaphore in front of
//! `spawn_blocking` lost a third of the RSA signing throughput to such hand-overs), and
//! the memory a job allocates is reused by the next job on the same thread (argon2 holds
//! ~19 MiB a check: on tokio's growing blocking pool each new thread's allocator arena
//! kept its own copy, 600 MB after a hundred checks).

use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error)]
#[error("the {0} threads stopped")]
pub struct Stopped(&'static str);

pub struct Workers {
    name: &'static str,
    jobs: mpsc::Sender<Job>,
}

impl Workers {
    /// Starts one thread per core, named `name-N`; at most `queue` jobs wait, beyond
    /// that callers wait to queue more.
    pub fn start(name: &'static str, queue: usize) -> std::io::Result<Workers> {
        let (jobs, waiting) = mpsc::channel::<Job>(queue.max(1));
        let waiting = Arc::new(Mutex::new(waiting));
        for n in 0..cores() {
            let waiting = Arc::clone(&waiting);
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || work_until_closed(&waiting))?;
        }
        Ok(Workers { name, jobs })
    }

    /// Runs `job` on one of the threads and hands back what it returns.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have given up (its request was dropped): nothing to do then.
            let _ = reply.send(job());
        });
        self.jobs.send(job).await.map_err(|_| Stopped(self.name))?;
        answer.await.map_err(|_| Stopped(self.name))
    }
}

/// The machine's cores (two when it cannot tell).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A worker thread: takes jobs until every sender is gone (its `Workers` was dropped).
fn work_until_closed(waiting: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while working.
        let job = waiting.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some(job) = job else {
            return;
        };
        job();
    }
}
