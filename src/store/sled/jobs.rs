//! What callers ask of the writer thread, and what it holds for each until its batch is
//! durable.

use crate::store::StoreError;
use crate::store::write::{Commit, Write};
use tokio::sync::oneshot;

/// Where a caller waits for its answer.
pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(super) enum Job {
    Commit(Write, Reply<Commit>),
    Sweep {
        now: i64,
        limit: usize,
        reply: Reply<usize>,
    },
    Flush(Reply<()>),
}

/// A job applied, waiting for its batch to be flushed before it is answered.
pub(super) enum Applied {
    Commit(Reply<Commit>, Result<Commit, StoreError>),
    Sweep(Reply<usize>, Result<usize, StoreError>),
    Flush(Reply<()>),
}

impl Applied {
    /// Why the job failed, if the disk was the reason.
    pub(super) fn unavailable(&self) -> Option<String> {
        let error = match self {
            Applied::Commit(_, Err(e)) => e,
            Applied::Sweep(_, Err(e)) => e,
            _ => return None,
        };
        error.is_unavailable().then(|| error.to_string())
    }
}
