//! The bounds of `[limits]`, tried the way an attacker would: floods of anonymous logins,
//! parallel and repeated wrong passwords, long parameters, slow and many connections,
//! large bodies.

use crate::support;

use gatehouse::Clock;
use std::time::Duration;
use support::browser::{Browser, Page};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::process::Server;
use support::{TestServer, client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A confidential client (no PKCE needed), the `local` upstream with bob, and `tables`.
fn config(tables: &str) -> String {
    TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .client(TestClient::confidential("service", "service-secret").with("grant_types", "[\"client_credentials\"]"))
        .bob()
        .tables(tables)
        .build()
}

fn authorize_url(base: &str, extra: &[(&str, &str)]) -> reqwest::Url {
    let mut params = vec![
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("response_type", "code"),
    ];
    params.extend_from_slice(extra);
    reqwest::Url::parse_with_params(&format!("{base}/authorize"), &params).unwrap()
}

/// Opens a new login's password form; its action URL and CSRF token.
async fn password_form(base: &str, browser: &Browser) -> (String, String) {
    let page = browser
        .follow(base, browser.get(authorize_url(base, &[]).as_str()).await)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    (format!("{base}{}", page.form_action()), page.field("csrf"))
}

async fn try_password(browser: &Browser, (action, csrf): &(String, String), user: &str, password: &str) -> Page {
    browser
        .post(action, &[("csrf", csrf), ("username", user), ("password", password)])
        .await
}

fn redirect_error(page: &Page) -> Option<String> {
    page.location.as_ref()?;
    page.redirect_params().get("error").cloned()
}

#[tokio::test]
async fn wrong_passwords_void_the_login_and_make_the_next_tries_wait() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(1_800_000_000);
    let server = TestServer::start(dir.path(), &config(""), clock.clone()).await;
    let browser = Browser::default();
    let form = password_form(&server.base, &browser).await;
    for _ in 1..5 {
        assert_eq!(try_password(&browser, &form, "bob", "nope").await.status, 401);
    }
    let fifth = try_password(&browser, &form, "bob", "nope").await;
    assert_eq!(
        redirect_error(&fifth).as_deref(),
        Some("access_denied"),
        "the fifth voids the login"
    );
    let after = try_password(&browser, &form, "bob", "bob").await;
    assert_eq!(after.status, 400, "even the right password cannot finish a void login");

    // Five free failures are used up: one more, and the next try waits.
    let form = password_form(&server.base, &browser).await;
    assert_eq!(try_password(&browser, &form, "bob", "nope").await.status, 401);
    let waiting = try_password(&browser, &form, "bob", "bob").await;
    assert_eq!(waiting.status, 429, "the right password waits its turn too");
    assert!(waiting.body.contains("Try again in a second"), "{}", waiting.body);
    let other_user = try_password(&browser, &form, "alice", "alice").await;
    assert_eq!(other_user.status, 429, "and so does every username from this address");
    clock.advance(1);
    let done = try_password(&browser, &form, "bob", "bob").await;
    assert!(done.redirect_params().contains_key("code"), "{:?}", done.location);
    server.stop().await;
}

#[tokio::test]
async fn a_hundred_parallel_wrong_passwords_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&Server::configure(dir.path())).await;
    let before = server.peak_rss();
    let browser = Browser::default();
    let (action, csrf) = password_form(&server.base, &browser).await;
    let cookie = format!("gatehouse_browser={}", browser.cookie("gatehouse_browser").unwrap());
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (action, csrf, cookie) = (action.clone(), csrf.clone(), cookie.clone());
        tries.spawn(async move {
            let form = [("csrf", csrf.as_str()), ("username", "bob"), ("password", "wrong")];
            let response = client().post(&action).header("cookie", cookie).form(&form).send().await;
            response.unwrap().status().as_u16()
        });
    }
    while let Some(status) = tries.join_next().await {
        // Wrong (401), waiting (429), too busy (503), the login void (303) or over (400).
        let status = status.unwrap();
        assert!([303, 400, 401, 429, 503].contains(&status), "status {status}");
    }
    let peak = server.peak_rss();
    assert!(
        peak < 300 << 20,
        "peak RSS {} MiB (from {} MiB)",
        peak >> 20,
        before >> 20
    );
    let health = client().get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Sends `count` anonymous authorization requests, `concurrency` at a time, each from the
/// address `from(n)`; how many were parked (sent on to the login).
async fn flood(base: &str, count: usize, concurrency: usize, from: fn(usize) -> String) -> usize {
    let state = "s".repeat(1000);
    let url = authorize_url(base, &[("state", &state)]);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (url, http) = (url.clone(), no_redirects.clone());
        workers.spawn(async move {
            let mut parked = 0;
            for n in (worker..count).step_by(concurrency) {
                let response = http
                    .get(url.clone())
                    .header("x-forwarded-for", from(n))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 303);
                let location = response.headers()["location"].to_str().unwrap().to_string();
                if location.contains("/login/") {
                    parked += 1;
                } else {
                    assert!(location.contains("error=temporarily_unavailable"), "{location}");
                }
            }
            parked
        });
    }
    let mut parked = 0;
    while let Some(count) = workers.join_next().await {
        parked += count.unwrap();
    }
    parked
}

fn folder_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                folder_size(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[tokio::test]
async fn fifty_thousand_anonymous_authorize_requests_leave_the_database_small() {
    let dir = tempfile::tempdir().unwrap();
    // Behind a proxy on loopback, so that each request may come from another address.
    let limits = "[limits]\ntrusted_proxies = [\"127.0.0.1\"]\npending_logins = 1000\n";
    let config = Server::configure_with_tables(dir.path(), "5s", limits);
    let mut server = Server::start(&config).await;
    let one_address = flood(&server.base, 150, 8, |_| "192.0.2.1".into()).await;
    assert_eq!(one_address, 100, "pending_logins_per_ip (default 100)");
    let many_addresses = flood(&server.base, 50_000, 32, |n| {
        format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255)
    })
    .await;
    assert_eq!(many_addresses, 900, "pending_logins in all");
    let health = client().get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200, "still answering");
    server.signal("-TERM");
    assert!(server.wait_for_exit(Duration::from_secs(30)).is_some());
    let size = folder_size(&dir.path().join("data"));
    eprintln!("the database after the flood: {} KiB", size >> 10);
    assert!(size < 8 << 20, "the database holds {} KiB", size >> 10);
}

#[tokio::test]
async fn an_authorize_parameter_longer_than_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_limits(dir.path(), "parameter_length = 100").await;
    let browser = Browser::default();
    let long = "x".repeat(101);
    let page = browser
        .get(authorize_url(&server.base, &[("state", "kept"), ("nonce", &long)]).as_str())
        .await;
    let params = page.redirect_params();
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].contains("nonce"), "{params:?}");
    assert_eq!(params["state"], "kept");
    let page = browser
        .get(authorize_url(&server.base, &[("state", &long)]).as_str())
        .await;
    let params = page.redirect_params();
    assert_eq!(params["error"], "invalid_request");
    assert!(
        !params.contains_key("state"),
        "a state too long is not echoed: {params:?}"
    );
    let url = authorize_url(&server.base, &[("login_hint", &"x".repeat(100))]);
    assert!(
        browser.get(url.as_str()).await.location.unwrap().contains("/login/"),
        "100 bytes are fine"
    );
    server.stop().await;
}

/// A server (see [`config`]) with these `[limits]` lines.
async fn start_with_limits(dir: &std::path::Path, limits: &str) -> TestServer {
    TestServer::start(dir, &config(&format!("[limits]\n{limits}\n")), Clock::System).await
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads from `stream` until the server closes it; what it sent, or `None` if it kept the
/// connection open for `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_limits(dir.path(), "header_read_timeout = \"1s\"").await;
    let mut stream = connect(&server).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(30)).await;
    assert!(answer.is_some(), "still open after 30 s");
    server.stop().await;
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_limits(dir.path(), "request_timeout = \"1s\"").await;
    let mut stream = connect(&server).await;
    let head = "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type";
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(30))
        .await
        .expect("closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_limits(dir.path(), "connections = 1").await;
    let address = server.base.trim_start_matches("http://").to_string();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = TcpStream::connect(&address).await.unwrap();
    first.write_all(request).await.unwrap();
    let mut answer = [0; 12];
    first.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    // The first connection stays open (keep-alive): the second is not served meanwhile.
    let mut second = TcpStream::connect(&address).await.unwrap();
    second.write_all(request).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(500), second.read_exact(&mut answer)).await;
    assert!(early.is_err(), "served beside the first");
    drop(first);
    tokio::time::timeout(Duration::from_secs(30), second.read_exact(&mut answer))
        .await
        .expect("served once the first closed")
        .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_limits(dir.path(), "request_body_bytes = 1024").await;
    let send = |padding: usize| {
        client()
            .post(format!("{}/token", server.base))
            .basic_auth("service", Some("service-secret"))
            .form(&[("grant_type", "client_credentials"), ("padding", &"p".repeat(padding))])
            .send()
    };
    assert_eq!(send(100).await.unwrap().status(), 200, "under the limit");
    let refused = send(2000).await.unwrap();
    assert_eq!(refused.status(), 400);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request", "{error}");
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_answer_over_the_size_limit_ends_the_login() {
    use support::mock_op::MockOp;
    let upstream = MockOp::start().await;
    let base = upstream.issuer().to_string();
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .mock_upstream(
            "big",
            "oidc",
            &format!("issuer = \"{base}\"\nattributes_url = \"{base}/person\""),
        )
        .tables("[limits]\nupstream_response_bytes = 65536\n")
        .build();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config, Clock::System).await;
    let login = || async {
        let browser = Browser::default();
        let page = browser.get(authorize_url(&server.base, &[]).as_str()).await;
        browser
            .follow_while(page, |next| !next.starts_with(REDIRECT))
            .await
            .redirect_params()
    };
    let padding = "p".repeat(100_000);
    *upstream.state.person.lock().unwrap() = serde_json::json!({ "sub": "big-1", "padding": padding });
    *upstream.state.person_api.lock().unwrap() = (axum::http::StatusCode::OK, "{}".into());
    let answer = login().await;
    assert!(
        answer.contains_key("error") && !answer.contains_key("code"),
        "a huge token answer: {answer:?}"
    );

    *upstream.state.person.lock().unwrap() = serde_json::json!({ "sub": "big-1" });
    let huge = serde_json::json!({ "padding": padding }).to_string();
    *upstream.state.person_api.lock().unwrap() = (axum::http::StatusCode::OK, huge);
    let answer = login().await;
    assert!(
        answer.contains_key("error") && !answer.contains_key("code"),
        "a huge attributes answer: {answer:?}"
    );

    *upstream.state.person_api.lock().unwrap() = (axum::http::StatusCode::OK, "{}".into());
    assert!(login().await.contains_key("code"), "answers within the limit log in");
    server.stop().await;
}

#[tokio::test]
async fn finished_logins_give_their_place_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = config("[limits]\npending_logins_per_ip = 2\n");
    let server = TestServer::start(dir.path(), &config, Clock::System).await;
    // Many people behind one address (an office's NAT), one after the other.
    for _ in 0..6 {
        let browser = Browser::default();
        let url = authorize_url(&server.base, &[]);
        let answer = support::browser::local_login(&server.base, &browser, url.as_str(), "bob", "bob").await;
        assert!(answer.redirect_params().contains_key("code"), "{:?}", answer.location);
    }
    // Logins that are started and left are what the cap is for.
    let browser = Browser::default();
    for _ in 0..2 {
        let page = browser.get(authorize_url(&server.base, &[]).as_str()).await;
        assert!(page.location.unwrap().contains("/login/"));
    }
    let page = browser.get(authorize_url(&server.base, &[]).as_str()).await;
    assert_eq!(redirect_error(&page).as_deref(), Some("temporarily_unavailable"));
    server.stop().await;
}
