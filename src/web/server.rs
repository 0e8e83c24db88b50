//! The HTTP server: accepts connections on a listener and serves a router on each, within
//! the config's `[limits]` — at most `connections` at once (more wait in the listen
//! backlog), headers within `header_read_timeout`, a bounded header size, and every
//! request within `request_timeout`. Each request carries its peer address
//! (`ConnectInfo`) for the limits counted per client address.

use crate::config::Limits;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The most bytes of a request line and headers; far above what browsers send.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Serves the router `current` returns on `listener` until `stop` completes, then waits
/// for the requests in flight (the caller bounds that wait). `current` is asked once per
/// request, so that a config reload takes effect at the next request of every connection.
pub async fn serve<R>(listener: TcpListener, current: R, limits: &Limits, stop: impl Future<Output = ()>)
where
    R: Fn() -> Router + Clone + Send + Sync + 'static,
{
    let request_timeout = Duration::from_secs(limits.request_timeout.as_secs());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout.as_secs()))
        .max_buf_size(MAX_HEADER_BYTES);
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let place = tokio::select! {
            place = connections.clone().acquire_owned() => place,
            () = &mut stop => break,
        };
        let Ok(place) = place else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: give connections time to close.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // A plain function per request, without a box or a middleware: those cost a sixth
        // of the cheapest requests' throughput (discovery, measured).
        let current = current.clone();
        let service = tower::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            let answer = current().oneshot(request.map(axum::body::Body::new));
            async move {
                match tokio::time::timeout(request_timeout, answer).await {
                    Ok(answered) => answered,
                    Err(_) => Ok(request_timed_out()),
                }
            }
        });
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or times out is its own business, not an error here.
            let _ = connection.await;
            drop(place);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

fn request_timed_out() -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::info!("a request took longer than limits.request_timeout and was cut off");
    (
        axum::http::StatusCode::REQUEST_TIMEOUT,
        [(axum::http::header::CONNECTION, "close")],
        "the request took too long",
    )
        .into_response()
}
