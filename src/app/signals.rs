//! The Shared Signals receivers of a running server: for each upstream with
//! `[upstreams.ssf]`, a task that makes (or finds) Gatehouse's stream at its transmitter;
//! then, for a poll stream, polls it every `poll_interval`, and for a push stream asks
//! every `verify_interval` for a verification event and sees that it arrives. A failure
//! is tried again after a pause that doubles up to five minutes; how the stream fares
//! shows in `/healthz/ready` and the `shared_signals_receiver_up` metric.

use super::App;
use crate::config::SignalDelivery;
use crate::domain::signals::receiver;
use crate::upstream::Upstream;
use std::sync::Arc;
use std::time::Duration;

const LONGEST_PAUSE: Duration = Duration::from_secs(300);
/// How long a verification event may take to arrive.
const VERIFICATION_GRACE: Duration = Duration::from_secs(30);

/// Receives from the upstream `id` (whose running kind is `kind`) until a reload replaces
/// or removes it.
pub(super) async fn receive(app: App, id: String, kind: Arc<Upstream>) {
    let still_used = |app: &App| {
        app.state()
            .upstreams
            .get(&id)
            .is_some_and(|u| Arc::ptr_eq(&u.kind, &kind))
    };
    let Some(source) = kind.signals() else {
        return;
    };
    let mut pause: Option<Duration> = None;
    let mut acks = Vec::new();
    let mut stream = None;
    while still_used(&app) {
        let state = app.state();
        let Some(live) = state.upstreams.get(&id) else {
            return;
        };
        let Some(settings) = source.signal_settings().cloned() else {
            return;
        };
        let now = state.clock.now();
        let outcome = match &stream {
            None => receiver::connect(&state.store, &state.config, live, &state.http, now)
                .await
                .map(|made| {
                    stream = Some(made);
                    false
                }),
            Some(made) if settings.delivery == SignalDelivery::Poll => {
                let handles = state.handles();
                let ctx = handles.ctx();
                receiver::poll_once(ctx.outbox(), ctx.upstreams, ctx.http, &id, made, &mut acks)
                    .await
                    .map(|polled| polled.more)
            }
            Some(made) => verify(&app, live, made).await.map(|()| false),
        };
        let next = match outcome {
            Ok(more) => {
                if pause.take().is_some() {
                    tracing::info!(upstream = %id, "the upstream's transmitter answers again");
                }
                // A stream just made has delivered nothing yet: its first check says.
                if stream.is_some() && settings.delivery == SignalDelivery::Poll {
                    source.note_receiver(Ok(()), state.clock.now());
                    state.telemetry.signal_receiver_up(&id, true);
                }
                match settings.delivery {
                    _ if more => Duration::ZERO,
                    SignalDelivery::Poll => Duration::from_secs(settings.poll_interval.as_secs()),
                    // The first verification right after the stream is made.
                    SignalDelivery::Push if source.receiver_health().since.is_none() => Duration::ZERO,
                    SignalDelivery::Push => Duration::from_secs(settings.verify_interval.as_secs()),
                }
            }
            Err(why) => {
                let first = match settings.delivery {
                    SignalDelivery::Poll => Duration::from_secs(settings.poll_interval.as_secs()),
                    SignalDelivery::Push => Duration::from_secs(1),
                };
                let next = pause.map_or(first, |p| (p * 2).min(LONGEST_PAUSE));
                tracing::warn!(upstream = %id, error = %why, retry_in = ?next, "the upstream's Shared Signals stream failed");
                source.note_receiver(Err((&why, next.as_secs())), state.clock.now());
                state.telemetry.signal_receiver_up(&id, false);
                pause = Some(next);
                next
            }
        };
        tokio::time::sleep(next).await;
    }
}

/// Asks for a verification event on the push stream `made` and waits for it to arrive
/// (at any replica: the one that takes it notes it in the store).
async fn verify(
    app: &App,
    live: &crate::upstream::LiveUpstream,
    made: &crate::store::SignalReceiverState,
) -> Result<(), String> {
    let state = app.state();
    let id = &live.config.id;
    let source = live.signals().ok_or("the upstream sends no Shared Signals")?;
    let asked_at = state.clock.now();
    let nonce = receiver::ask_verification(&state.store, &state.http, live, made, asked_at).await?;
    let deadline = tokio::time::Instant::now() + VERIFICATION_GRACE;
    loop {
        let now = state.clock.now();
        let known = state
            .store
            .signal_receivers
            .get(id, now)
            .await
            .map_err(|e| e.to_string())?;
        let arrived = known.is_some_and(|k| k.verification_state.as_deref() == Some(&nonce) && k.verified_at.is_some());
        if arrived {
            source.note_receiver(Ok(()), now);
            state.telemetry.signal_receiver_up(id, true);
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "no verification event arrived within {} s",
                VERIFICATION_GRACE.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
