//! The back-channel logout outbox: logout tokens owed to clients live in the store, so a
//! server killed while deliveries are pending delivers each after its restart, once; and
//! a client that never answers is given up after `[backchannel] retry_for`, listed and
//! counted.

use crate::support;

use axum::routing::post;
use gatehouse::Clock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::browser::{Browser, local_login_tokens};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::process::Server;
use support::{TestServer, client};

/// A client's back-channel logout endpoint that refuses (503) until told to accept.
#[derive(Clone, Default)]
struct Receiver {
    accept: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    /// The `sid` and `jti` of each logout token accepted.
    accepted: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let this = self.clone();
        let app = axum::Router::new().route(
            "/backchannel",
            post(move |axum::Form(form): axum::Form<HashMap<String, String>>| {
                let this = this.clone();
                async move {
                    if !this.accept.load(Ordering::SeqCst) {
                        this.refused.fetch_add(1, Ordering::SeqCst);
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let claims = support::jwt_claims(&form["logout_token"]);
                    let named = (
                        claims["sid"].as_str().unwrap().to_string(),
                        claims["jti"].as_str().unwrap().to_string(),
                    );
                    this.accepted.lock().unwrap().push(named);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/backchannel", listener.local_addr().unwrap().port());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }
}

/// `config` with the client `app`, whose back-channel logout endpoint is `url`, and bob.
fn with_receiver(config: TestConfig, url: &str) -> String {
    config
        .client(
            TestClient::confidential("app", "app-secret")
                .no_consent()
                .with("backchannel_logout_uri", &format!("\"{url}\"")),
        )
        .bob()
        .build()
}

/// Polls `done` every 50 ms until it holds, at most `limit`.
async fn until(limit: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs bob in for `app` in a browser of its own, then ends that session by RP-initiated
/// logout with its ID token; returns the session's `sid`.
async fn log_in_and_out(base: &str) -> String {
    let browser = Browser::default();
    let tokens = local_login_tokens(base, &browser, "bob", "bob", REDIRECT).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let page = browser
        .get(&format!("{base}/end_session?id_token_hint={id_token}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    support::jwt_claims(id_token)["sid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn deliveries_pending_at_a_kill_are_made_after_the_restart_once_each() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("gatehouse.toml");
    let text = with_receiver(
        TestConfig::new()
            .set("issuer", &format!("\"http://127.0.0.1:{port}\""))
            .set("data_dir", "\"data\"")
            .tables("[tokens]\nsigning_alg = \"EdDSA\"\n[backchannel]\nretry_for = \"10m\"\n"),
        &url,
    );
    std::fs::write(&config, text).unwrap();
    let mut server = Server::start(&config).await;
    let mut sids = Vec::new();
    for _ in 0..4 {
        sids.push(log_in_and_out(&server.base).await);
    }
    // Each was tried and refused at least once: all are pending, waiting to be retried.
    until(Duration::from_secs(30), "a first attempt for each", || {
        receiver.refused.load(Ordering::SeqCst) >= sids.len()
    })
    .await;
    server.signal("-KILL");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());

    receiver.accept.store(true, Ordering::SeqCst);
    let mut server = Server::start(&config).await;
    until(Duration::from_secs(90), "every delivery after the restart", || {
        receiver.accepted.lock().unwrap().len() >= sids.len()
    })
    .await;
    server.signal("-TERM");
    assert!(server.wait_for_exit(Duration::from_secs(20)).is_some());

    let accepted = receiver.accepted.lock().unwrap().clone();
    let mut delivered: Vec<&str> = accepted.iter().map(|(sid, _)| sid.as_str()).collect();
    delivered.sort();
    sids.sort();
    assert_eq!(delivered, sids, "each session end once: {accepted:?}");
    let store = support::open_when_released(&dir.path().join("data"));
    let left = gatehouse::domain::logout_outbox::queued(&store, Clock::System.now())
        .await
        .unwrap();
    assert!(left.is_empty(), "nothing is left to deliver: {left:?}");
}

#[tokio::test]
async fn a_client_that_never_answers_is_given_up_listed_and_counted() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = with_receiver(TestConfig::new().tables("[backchannel]\nretry_for = \"3s\"\n"), &url);
    let server = TestServer::start_with_admin(dir.path(), &config, Clock::System).await;
    let sid = log_in_and_out(&server.base).await;
    let store = server.app.state().store.clone();
    let mut gave_up = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while gave_up.is_none() {
        assert!(Instant::now() < deadline, "the delivery was never given up");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let queued = gatehouse::domain::logout_outbox::queued(&store, Clock::System.now())
            .await
            .unwrap();
        gave_up = queued.into_iter().find(|q| q.gave_up_at.is_some());
    }
    drop(store);
    let gave_up = gave_up.unwrap();
    assert_eq!(
        (gave_up.sid.as_str(), gave_up.client_id.as_str()),
        (sid.as_str(), "app")
    );
    assert!(gave_up.attempts >= 2, "retried before it was given up: {gave_up:?}");
    assert!(
        gave_up.last_error.as_deref().unwrap_or_default().contains("503"),
        "{gave_up:?}"
    );
    assert_eq!(receiver.refused.load(Ordering::SeqCst), gave_up.attempts as usize);

    // The command lists it (through the admin API of the running server).
    let path = server.config_path.to_str().unwrap().to_string();
    let (code, out, err) = support::gatehouse_async(&["sessions", "deliveries", "--config", &path]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&sid) && out.contains("given up"), "{out}");
    let metrics = client()
        .get(server.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gatehouse_backchannel_logouts_total{outcome=\"abandoned\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatehouse_backchannel_logouts_total{outcome=\"retried\"}"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_delivery_whose_time_ran_out_while_nothing_could_retry_it_is_given_up_with_a_trace() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = with_receiver(TestConfig::new(), &url);
    // A clock that stands still between the test's steps: the first attempt fails, and the
    // retry is not due until the clock moves, by which time retry_for (1h) is over.
    let clock = Clock::manual(1_900_000_000);
    let server = TestServer::start(dir.path(), &config, clock.clone()).await;
    let sid = log_in_and_out(&server.base).await;
    until(Duration::from_secs(30), "the first attempt", || {
        receiver.refused.load(Ordering::SeqCst) >= 1
    })
    .await;
    clock.advance(3601);
    let store = server.app.state().store.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    let gave_up = loop {
        let queued = gatehouse::domain::logout_outbox::queued(&store, clock.now())
            .await
            .unwrap();
        if let Some(q) = queued.into_iter().find(|q| q.gave_up_at.is_some()) {
            break q;
        }
        assert!(Instant::now() < deadline, "the overdue delivery was never given up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(store);
    assert_eq!(gave_up.sid, sid);
    assert_eq!(gave_up.attempts, 1, "not attempted again once its time was over");
    assert!(gave_up.last_error.unwrap().contains("retry_for ended"));
    assert_eq!(receiver.refused.load(Ordering::SeqCst), 1);
    server.stop().await;
}
