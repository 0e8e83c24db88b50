//! The threads that make the slow (RSA) signatures, off the async workers.
//!
//! An RSA-2048 signature is long CPU work (0.25 to 1 ms, by hardware). Made on an async
//! worker, it holds up every other request queued there (discovery answered in 8 ms
//! instead of 40 µs under RS256 load, measured).

use super::jws::PrivateKey;
use crate::workers::{Stopped, Workers};
use std::sync::Arc;

/// Signing jobs waiting beyond this make their callers wait to queue more.
const QUEUE: usize = 1024;

type Signed = (String, Result<Vec<u8>, aws_lc_rs::error::Unspecified>);

pub(super) struct Signer {
    threads: Workers,
}

impl Signer {
    /// Starts one signing thread per core.
    pub(super) fn start() -> std::io::Result<Signer> {
        Ok(Signer {
            threads: Workers::start("signer", QUEUE)?,
        })
    }

    /// Signs `message` with `key` on a signing thread; hands the message back with the
    /// signature, so that the caller appends to it without a copy.
    pub(super) async fn sign(&self, key: Arc<PrivateKey>, message: String) -> Result<Signed, Stopped> {
        self.threads
            .run(move || {
                let signature = key.sign(message.as_bytes());
                (message, signature)
            })
            .await
    }
}
