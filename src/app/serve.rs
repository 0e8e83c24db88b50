//! Serving an application until told to stop, with its background work: maintenance,
//! the back-channel outbox's retries, the key poll of replicas, upstream discovery.

use super::{App, StartError};
use crate::{domain, op, web};
use std::future::Future;

/// How often expired records are swept and key rotation is checked.
const MAINTENANCE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// How often the back-channel outbox is looked at for retries that are due.
const DELIVERY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves `app` on `listener` until `shutdown` completes, running maintenance in the
/// background; then lets requests in flight finish for at most the config's
/// `shutdown_grace`, and returns once every write accepted is on disk. Requests still
/// running at the deadline are left behind: the caller ends the process (or runtime).
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // One shutdown signal for both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let state = app.state();
    let limits = state.config.limits.clone();
    let admin = admin.map(|listener| {
        let router = op::admin::router(app.clone());
        let stopped = until_stopped(stopped.clone());
        let limits = limits.clone();
        tokio::spawn(async move { web::server::serve(listener, move || router.clone(), &limits, stopped).await })
    });
    let maintenance = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(MAINTENANCE_INTERVAL);
            loop {
                ticks.tick().await;
                match app.maintain().await {
                    Ok(()) => {}
                    // The store says once that it is unavailable, not every pass.
                    Err(StartError::Store(e)) if e.is_unavailable() => {
                        tracing::debug!(error = %e, "maintenance waits for the store");
                    }
                    Err(e) => tracing::error!(error = %e, "maintenance failed"),
                }
            }
        })
    };
    let deliveries = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(DELIVERY_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let state = app.state();
                // A pass ends with its attempts, so that passes never pile up.
                match domain::logout_outbox::deliver_due(state.handles().ctx().outbox(), state.clock.now()).await {
                    Ok(attempts) => attempts.wait().await,
                    Err(e) if e.is_unavailable() => {
                        tracing::debug!(error = %e, "the back-channel outbox waits for the store");
                    }
                    Err(e) => tracing::error!(error = %e, "the back-channel outbox cannot be read"),
                }
            }
        })
    };
    let key_poll = state.store.is_shared().then(|| {
        // Other replicas rotate keys too: pick up theirs well before they sign with them.
        let state = state.clone();
        let every = std::time::Duration::from_secs(state.config.store.poll_interval.as_secs());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match state.keys.refresh(state.clock.now()).await {
                    Ok(()) => {}
                    Err(crate::keys::KeyError::Store(e)) if e.is_unavailable() => {
                        tracing::debug!(error = %e, "re-reading the signing keys waits for the store");
                    }
                    Err(e) => tracing::error!(error = %e, "re-reading the signing keys failed"),
                }
            }
        })
    });
    app.prepare_upstreams(&state);
    // The end of the grace period, as a second signal that can be awaited many times.
    let grace = std::time::Duration::from_secs(state.config.shutdown_grace.as_secs());
    let (cut_off, deadline) = tokio::sync::watch::channel(false);
    {
        let stopped = until_stopped(stopped.clone());
        tokio::spawn(async move {
            stopped.await;
            tokio::time::sleep(grace).await;
            let _ = cut_off.send(true);
        });
    }
    tokio::select! {
        () = web::server::serve(listener, { let app = app.clone(); move || app.router() }, &limits, until_stopped(stopped)) => {}
        () = until_stopped(deadline.clone()) => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still running at the end of the shutdown grace period are cut off");
        }
    };
    if let Some(mut admin) = admin {
        tokio::select! {
            joined = &mut admin => match joined {
                Ok(()) => {}
                Err(e) => tracing::error!(error = %e, "the admin API task failed"),
            },
            () = until_stopped(deadline) => admin.abort(),
        }
    }
    for task in app
        .stop_discovery()
        .into_iter()
        .chain([maintenance, deliveries])
        .chain(key_poll)
    {
        task.abort();
        let _ = task.await;
    }
    state.store.flush().await?;
    Ok(())
}
