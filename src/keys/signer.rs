//! Threads that make the slow (RSA) signatures, off the async workers.
//!
//! An RSA-2048 signature is long CPU work (0.25 to 1 ms, by hardware). Made on an async
//! worker, it holds up every other request queued there (discovery answered in 8 ms
//! instead of 40 µs under RS256 load, measured). One thread per core takes signing jobs
//! from a bounded queue, one after the other, so the threads stay busy under load with no
//! hand-over between signatures (a semaphore in front of `spawn_blocking` lost a third of
//! the throughput to such hand-overs).

use super::jws::PrivateKey;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Signing jobs waiting beyond this make their callers wait to queue more.
const QUEUE: usize = 1024;

type Signed = (String, Result<Vec<u8>, aws_lc_rs::error::Unspecified>);

struct Job {
    key: Arc<PrivateKey>,
    message: String,
    reply: oneshot::Sender<Signed>,
}

pub(super) struct Signer {
    jobs: mpsc::Sender<Job>,
}

impl Signer {
    /// Starts one signing thread per core.
    pub(super) fn start() -> std::io::Result<Signer> {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for n in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("signer-{n}"))
                .spawn(move || sign_until_closed(&queue))?;
        }
        Ok(Signer { jobs })
    }

    /// Signs `message` with `key` on a signing thread; hands the message back with the
    /// signature, so that the caller appends to it without a copy.
    pub(super) async fn sign(&self, key: Arc<PrivateKey>, message: String) -> Result<Signed, &'static str> {
        let (reply, answer) = oneshot::channel();
        let job = Job { key, message, reply };
        self.jobs.send(job).await.map_err(|_| "the signing threads stopped")?;
        answer.await.map_err(|_| "the signing threads stopped")
    }
}

/// A signing thread: takes jobs until every sender is gone (the key ring was dropped).
fn sign_until_closed(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while signing.
        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some(Job { key, message, reply }) = job else {
            return;
        };
        let signature = key.sign(message.as_bytes());
        // The caller may have given up (its request was dropped): nothing to do then.
        let _ = reply.send((message, signature));
    }
}
