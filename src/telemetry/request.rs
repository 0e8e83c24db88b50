//! Every request: a request id (echoed as `X-Request-Id`), a span that the request's own
//! log events carry, one `answered` line when it is done, and its count and latency.
//! Only the route pattern is recorded, never the path or query: they carry codes and
//! tokens.

use super::Telemetry;
use super::metrics::{HttpLabels, RouteLabels};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use std::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

pub const REQUEST_ID: &str = "x-request-id";

/// The longest incoming request id taken over.
const REQUEST_ID_MAX: usize = 128;

/// What the request layer needs: the metrics, and whether an incoming request id is
/// trusted (`log.trust_request_id`).
#[derive(Clone)]
pub struct Observer {
    pub telemetry: Telemetry,
    pub trust_request_id: bool,
}

/// The middleware of both routers.
pub async fn observe(State(observer): State<Observer>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| crate::routes::pattern(path.as_str()));
    let method = method_label(request.method());
    let id = observer
        .trust_request_id
        .then(|| incoming_id(&request))
        .flatten()
        .unwrap_or_else(new_request_id);
    let span = tracing::info_span!(
        "request",
        request_id = %id.to_str().unwrap_or_default(),
        method,
        route,
        client_id = Empty,
        upstream = Empty
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let took = started.elapsed();
    observer
        .telemetry
        .0
        .http_requests
        .get_or_create(&HttpLabels { route, method, status })
        .inc();
    observer
        .telemetry
        .0
        .http_seconds
        .get_or_create(&RouteLabels { route, method })
        .observe(took.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            target: "gatehouse::request",
            status,
            latency_ms = took.as_micros() as f64 / 1000.0,
            "answered"
        );
    });
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// Names the client of the request in its log lines (a configured client's id only).
pub fn note_client(client_id: &str) {
    tracing::Span::current().record("client_id", client_id);
}

/// Names the upstream of the request in its log lines (a configured upstream's id only).
pub fn note_upstream(upstream: &str) {
    tracing::Span::current().record("upstream", upstream);
}

/// An incoming id a proxy set: visible ASCII without quotes or backslashes, bounded.
fn incoming_id(request: &Request) -> Option<HeaderValue> {
    let value = request.headers().get(REQUEST_ID)?;
    let bytes = value.as_bytes();
    let fits = !bytes.is_empty()
        && bytes.len() <= REQUEST_ID_MAX
        && bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'"' && *b != b'\\');
    fits.then(|| value.clone())
}

fn new_request_id() -> HeaderValue {
    let bytes: [u8; 12] = rand::random();
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    // base64url is always a valid header value.
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
