//! What the store counts for `/metrics`: operations by kind and outcome, and how writes
//! become durable (sled: writes per group commit and the flush that ends it; PostgreSQL:
//! each transaction). The registry registers these same handles (they share their counts).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone)]
pub struct StoreMetrics {
    pub operations: Family<OperationLabels, Counter>,
    /// Writes made durable together (one per transaction on PostgreSQL).
    pub batch_writes: Histogram,
    /// From a batch's start to the moment it is durable.
    pub durable_seconds: Histogram,
    /// Whether the last operation found the store available: the log says when this
    /// changes, once, rather than on every request refused meanwhile.
    available: Arc<AtomicBool>,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            operations: Family::default(),
            // 1, 2, 4, ... 1024 (the writer's largest batch).
            batch_writes: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            // 50 µs to ~3 s.
            durable_seconds: Histogram::new(exponential_buckets(0.000_05, 3.0, 11)),
            available: Arc::new(AtomicBool::new(true)),
        }
    }
}

impl StoreMetrics {
    pub(crate) fn count<T>(&self, operation: &'static str, result: &Result<T, super::StoreError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) if e.is_unavailable() => "unavailable",
            Err(_) => "error",
        };
        self.count_outcome(operation, outcome);
        match result {
            Err(e) if e.is_unavailable() => {
                if self.available.swap(false, Ordering::Relaxed) {
                    tracing::error!(error = %e, "the store is unavailable: what needs it is answered 503 until it is back");
                }
            }
            Ok(_) => {
                if !self.available.swap(true, Ordering::Relaxed) {
                    tracing::info!("the store is available again");
                }
            }
            Err(_) => {}
        }
    }

    pub(crate) fn count_outcome(&self, operation: &'static str, outcome: &'static str) {
        self.operations
            .get_or_create(&OperationLabels { operation, outcome })
            .inc();
    }

    pub(crate) fn batch_done(&self, writes: usize, started: std::time::Instant) {
        self.batch_writes.observe(writes as f64);
        self.durable_seconds.observe(started.elapsed().as_secs_f64());
    }
}
