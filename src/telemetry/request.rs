//! Every request: a request id (echoed as `X-Request-Id`, and carried by the security
//! events it causes), one `answered` line when it is done (method, route, status,
//! latency, client and upstream), and its count and latency.
//! Only the route pattern is recorded, never the path or query: they carry codes and
//! tokens.

use super::Telemetry;
use super::metrics::{HttpLabels, RouteLabels};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use std::cell::RefCell;
use std::time::Instant;

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
    let notes = Notes {
        request_id: id.to_str().unwrap_or_default().to_string(),
        ..Notes::default()
    };
    let (mut response, notes) = NOTES
        .scope(RefCell::new(notes), async {
            let response = next.run(request).await;
            (response, NOTES.with(RefCell::take))
        })
        .await;
    let status = response.status().as_u16();
    let took = started.elapsed();
    let telemetry = &observer.telemetry.0;
    telemetry
        .http_requests
        .get_or_create(&HttpLabels { route, method, status })
        .inc();
    telemetry
        .http_seconds
        .get_or_create(&RouteLabels { route, method })
        .observe(took.as_secs_f64());
    tracing::info!(
        target: "gatehouse::request",
        request_id = notes.request_id,
        method,
        route,
        status,
        latency_ms = took.as_micros() as f64 / 1000.0,
        client_id = notes.client_id.as_deref(),
        upstream = notes.upstream.as_deref(),
        "answered"
    );
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// What is known of the request being answered, for its `answered` line and the
/// security events it causes. A task-local rather than a span: span fields are formatted
/// again for every line, which cost a tenth of the cheapest requests' throughput.
#[derive(Default)]
struct Notes {
    request_id: String,
    client_id: Option<String>,
    upstream: Option<String>,
}

tokio::task_local! {
    static NOTES: RefCell<Notes>;
}

/// Names the client of the request on its `answered` line (a configured client's id only).
pub fn note_client(client_id: &str) {
    let _outside_a_request = NOTES.try_with(|notes| notes.borrow_mut().client_id = Some(client_id.to_string()));
}

/// Names the upstream of the request on its `answered` line (a configured upstream's id only).
pub fn note_upstream(upstream: &str) {
    let _outside_a_request = NOTES.try_with(|notes| notes.borrow_mut().upstream = Some(upstream.to_string()));
}

/// The id of the request being answered, outside a request none.
pub fn current_request_id() -> Option<String> {
    NOTES.try_with(|notes| notes.borrow().request_id.clone()).ok()
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

/// A new request id: a random prefix per thread and a count, so that ids are unique
/// without asking the OS for randomness per request (that showed in profiles).
fn new_request_id() -> HeaderValue {
    thread_local! {
        static NEXT: std::cell::Cell<([u8; 8], u64)> = std::cell::Cell::new((rand::random(), 0));
    }
    let (prefix, count) = NEXT.with(|next| {
        let (prefix, count) = next.get();
        next.set((prefix, count.wrapping_add(1)));
        (prefix, count)
    });
    let mut bytes = [0u8; 14];
    bytes[..8].copy_from_slice(&prefix);
    bytes[8..].copy_from_slice(&count.to_be_bytes()[2..]);
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
