//! Log lines leave the request path through a bounded buffer: a request appends its line
//! and goes on; one thread writes whatever has gathered to standard error every
//! [`WRITE_EVERY`], in one write. A request never waits for the disk, a slow pipe or
//! journald, and no line costs a system call or a thread wake-up of its own (waking the
//! writer for each line cost a fifth of the cheapest requests' throughput, measured).
//! When the buffer is full a line is dropped rather than block an async worker, and the
//! writer says how many were dropped.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How often gathered lines are written.
const WRITE_EVERY: Duration = Duration::from_millis(50);

/// The most bytes gathered between two writes (about 50,000 request lines).
const MOST_BYTES: usize = 16 * 1024 * 1024;

/// How long [`Flush`] waits for the last lines to be written when the process ends.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Shared {
    gathered: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    /// Set by [`Flush`]; the writer writes once more and ends.
    ending: AtomicBool,
    ended: (Mutex<bool>, Condvar),
}

/// The writing end, cloned into every `MakeWriter` call.
#[derive(Clone)]
pub struct LineQueue(Arc<Shared>);

/// Dropped when the process ends: waits (briefly) until every gathered line is written.
#[must_use = "dropping it at once ends the wait before the last lines are written"]
pub struct Flush(Arc<Shared>);

impl LineQueue {
    /// Starts the writer thread.
    pub fn start() -> io::Result<(LineQueue, Flush)> {
        let shared = Arc::new(Shared::default());
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_gathered(&writer))?;
        Ok((LineQueue(shared.clone()), Flush(shared)))
    }
}

impl Write for LineQueue {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut gathered = self.0.gathered.lock().unwrap_or_else(|e| e.into_inner());
        if gathered.len() + buf.len() > MOST_BYTES {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            gathered.extend_from_slice(buf);
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.0.ending.store(true, Ordering::Release);
        let (ended, written) = &self.0.ended;
        let ended = ended.lock().unwrap_or_else(|e| e.into_inner());
        let _ = written.wait_timeout_while(ended, FLUSH_WAIT, |ended| !*ended);
    }
}

/// The thread: every [`WRITE_EVERY`], takes what was gathered and writes it.
fn write_gathered(shared: &Shared) {
    let mut out = io::stderr();
    let mut batch = Vec::new();
    loop {
        let ending = shared.ending.load(Ordering::Acquire);
        std::mem::swap(
            &mut batch,
            &mut *shared.gathered.lock().unwrap_or_else(|e| e.into_inner()),
        );
        let lost = shared.dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let _ = writeln!(
                batch,
                "{lost} log line(s) dropped: the log could not be written fast enough"
            );
        }
        if !batch.is_empty() {
            let _ = out.write_all(&batch);
            batch.clear();
        }
        if ending {
            let (ended, written) = &shared.ended;
            *ended.lock().unwrap_or_else(|e| e.into_inner()) = true;
            written.notify_all();
            return;
        }
        std::thread::sleep(WRITE_EVERY);
    }
}
