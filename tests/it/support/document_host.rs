//! A web server on loopback that serves what a test puts at each path (a client's
//! metadata document, its keys) and misbehaves there on demand, counting the requests.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a path answers.
#[derive(Clone)]
pub enum Served {
    Json(Value),
    /// JSON with this Cache-Control header.
    JsonCached(Value, &'static str),
    /// A body of this many bytes (JSON that goes on and on).
    Huge(usize),
    /// A redirect to another URL.
    Redirect(String),
    /// No answer for this many seconds.
    Slow(u64),
}

#[derive(Default)]
struct Host {
    served: HashMap<String, Served>,
    requests: HashMap<String, usize>,
}

pub struct DocumentHost {
    pub base: String,
    host: Arc<Mutex<Host>>,
    task: tokio::task::JoinHandle<()>,
}

impl DocumentHost {
    pub async fn start() -> DocumentHost {
        let host = Arc::new(Mutex::new(Host::default()));
        let router = Router::new().route("/{*path}", get(serve)).with_state(host.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        DocumentHost { base, host, task }
    }

    /// The URL of `path` ("/client.json").
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn serve(&self, path: &str, served: Served) {
        self.host.lock().unwrap().served.insert(path.to_string(), served);
    }

    /// How many requests came for `path`.
    pub fn requests(&self, path: &str) -> usize {
        self.host.lock().unwrap().requests.get(path).copied().unwrap_or(0)
    }
}

impl Drop for DocumentHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(State(host): State<Arc<Mutex<Host>>>, Path(path): Path<String>) -> Response {
    let path = format!("/{path}");
    let served = {
        let mut host = host.lock().unwrap();
        *host.requests.entry(path.clone()).or_default() += 1;
        host.served.get(&path).cloned()
    };
    match served {
        None => StatusCode::NOT_FOUND.into_response(),
        Some(Served::Json(value)) => axum::Json(value).into_response(),
        Some(Served::JsonCached(value, cache_control)) => {
            let mut response = axum::Json(value).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
            response
        }
        Some(Served::Huge(bytes)) => {
            let body = format!("{{\"client_id\": \"{}\"}}", "x".repeat(bytes));
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Some(Served::Redirect(to)) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Some(Served::Slow(seconds)) => {
            tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}
