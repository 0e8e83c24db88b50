//! The Shared Signals receivers of a running server: for each upstream with
//! `[upstreams.ssf]`, a task that makes (or finds) Gatehouse's stream at its transmitter
//! and, for a poll stream, polls it every `poll_interval`; on failure it tries again after
//! a pause that doubles up to five minutes, and back at the interval once it succeeds.

use super::App;
use crate::config::SignalDelivery;
use crate::domain::signals::receiver;
use crate::upstream::Upstream;
use std::sync::Arc;
use std::time::Duration;

const LONGEST_PAUSE: Duration = Duration::from_secs(300);

/// Receives from the upstream `id` (whose running kind is `kind`) until a reload replaces
/// or removes it.
pub(super) async fn receive(app: App, id: String, kind: Arc<Upstream>) {
    let still_used = |app: &App| {
        app.state()
            .upstreams
            .get(&id)
            .is_some_and(|u| Arc::ptr_eq(&u.kind, &kind))
    };
    let mut pause: Option<Duration> = None;
    let mut acks = Vec::new();
    let mut stream = None;
    while still_used(&app) {
        let state = app.state();
        let Some(live) = state.upstreams.get(&id) else {
            return;
        };
        let Some(settings) = live.signals().and_then(|s| s.signal_settings()).cloned() else {
            return;
        };
        let interval = Duration::from_secs(settings.poll_interval.as_secs());
        let now = state.clock.now();
        let outcome = match &stream {
            None => receiver::connect(&state.store, &state.config, live, &state.http, now)
                .await
                .map(|made| {
                    stream = Some(made);
                    false
                }),
            Some(made) => {
                let ctx_handles = state.handles();
                let ctx = ctx_handles.ctx();
                receiver::poll_once(ctx.outbox(), ctx.upstreams, ctx.http, &id, made, &mut acks)
                    .await
                    .map(|polled| polled.more)
            }
        };
        match outcome {
            Ok(more) => {
                if pause.take().is_some() {
                    tracing::info!(upstream = %id, "the upstream's transmitter answers again");
                }
                if settings.delivery == SignalDelivery::Push {
                    // Pushed events come to /ssf/{id}: nothing more to do here.
                    if stream.is_some() {
                        return;
                    }
                }
                if !more && stream.is_some() {
                    tokio::time::sleep(interval).await;
                }
            }
            Err(why) => {
                let next = pause.map_or(interval, |p| (p * 2).min(LONGEST_PAUSE));
                tracing::warn!(upstream = %id, error = %why, retry_in = ?next, "the upstream's transmitter failed");
                pause = Some(next);
                tokio::time::sleep(next).await;
            }
        }
    }
}
