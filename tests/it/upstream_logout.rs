//! Back-Channel Logout from an upstream at `/backchannel/{upstream}`: a valid logout
//! token ends the sessions that came from the upstream session it names, revokes their
//! refresh tokens and tells the app; a forged, replayed or otherwise wrong one changes
//! nothing and gets 400.

use crate::support;

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::TestServer;
use support::browser::Browser;
use support::config::{REDIRECT, TestClient};
use support::corp::{VERIFIER, authorize_url, run, start_with};
use support::mock_op::MockOp;

/// The app's back-channel logout endpoint: the logout tokens it received.
struct Receiver {
    url: String,
    tokens: Arc<Mutex<Vec<String>>>,
    arrived: Arc<tokio::sync::Notify>,
}

async fn receiver() -> Receiver {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let arrived = Arc::new(tokio::sync::Notify::new());
    let (t, n) = (tokens.clone(), arrived.clone());
    let app = axum::Router::new().route(
        "/bc",
        axum::routing::post(
            move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| async move {
                t.lock().unwrap().push(form["logout_token"].clone());
                n.notify_one();
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/bc", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, tokens, arrived }
}

struct LoggedIn {
    server: TestServer,
    upstream: MockOp,
    receiver: Receiver,
    browser: Browser,
    refresh_token: String,
    access_token: String,
    _dir: tempfile::TempDir,
}

/// Logs a person in through the mock, whose session is `up-session-1`.
async fn logged_in() -> LoggedIn {
    let upstream = MockOp::start().await;
    *upstream.state.session_id.lock().unwrap() = Some("up-session-1".into());
    let receiver = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let app =
        TestClient::confidential("app", "s3cret").with("backchannel_logout_uri", &format!("\"{}\"", receiver.url));
    let server = start_with(dir.path(), &upstream, "", app).await;
    let browser = Browser::default();
    let tokens = log_in(&server, &browser).await;
    LoggedIn {
        server,
        upstream,
        receiver,
        browser,
        refresh_token: tokens["refresh_token"].as_str().unwrap().to_string(),
        access_token: tokens["access_token"].as_str().unwrap().to_string(),
        _dir: dir,
    }
}

/// Logs in with offline_access; returns the app's tokens.
async fn log_in(server: &TestServer, browser: &Browser) -> Value {
    let page = run(browser, &authorize_url(server, "openid offline_access", "")).await;
    let code = &page.redirect_params()["code"];
    server.redeem(("app", "s3cret"), code, REDIRECT, Some(VERIFIER)).await
}

async fn send(server: &TestServer, upstream: &str, token: &str) -> (u16, Value) {
    let response = support::client()
        .post(format!("{}/backchannel/{upstream}", server.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Whether the browser's session still answers `prompt=none` with a code.
async fn still_logged_in(person: &LoggedIn) -> bool {
    let page = run(
        &person.browser,
        &authorize_url(&person.server, "openid", "&prompt=none"),
    )
    .await;
    page.redirect_params().contains_key("code")
}

async fn refresh_status(person: &LoggedIn) -> u16 {
    let response = person.server.refresh(("app", "s3cret"), &person.refresh_token).await;
    response.status().as_u16()
}

#[tokio::test]
async fn a_logout_token_for_the_upstream_session_ends_it_revokes_refresh_and_tells_the_app() {
    let person = logged_in().await;
    assert!(still_logged_in(&person).await);
    assert_eq!(person.server.userinfo_status(&person.access_token).await, 200);
    let token = person
        .upstream
        .logout_token(json!({ "sub": "upstream-user-1", "sid": "up-session-1" }), false);
    let (status, _) = send(&person.server, "corp", &token).await;
    assert_eq!(status, 200);
    assert!(!still_logged_in(&person).await, "the session is over");
    assert_eq!(refresh_status(&person).await, 400, "its refresh family is revoked");
    assert_eq!(
        person.server.userinfo_status(&person.access_token).await,
        401,
        "and its access tokens end"
    );
    tokio::time::timeout(std::time::Duration::from_secs(20), person.receiver.arrived.notified())
        .await
        .expect("the app is told");
    let told = person.receiver.tokens.lock().unwrap()[0].clone();
    let claims = support::verify_jwt(&person.server, &told, "app").await.unwrap();
    assert!(claims["sid"].is_string() && claims["sub"].is_string());

    let (status, body) = send(&person.server, "corp", &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "a replay"
    );
    person.server.stop().await;
}

#[tokio::test]
async fn a_logout_token_naming_only_the_subject_ends_all_their_sessions_from_that_upstream() {
    let person = logged_in().await;
    let other_browser = Browser::default();
    log_in(&person.server, &other_browser).await;
    let token = person.upstream.logout_token(json!({ "sub": "upstream-user-1" }), false);
    assert_eq!(send(&person.server, "corp", &token).await.0, 200);
    assert!(!still_logged_in(&person).await);
    let page = run(&other_browser, &authorize_url(&person.server, "openid", "&prompt=none")).await;
    assert_eq!(
        page.redirect_params()["error"],
        "login_required",
        "the other browser's too"
    );
    person.server.stop().await;
}

#[tokio::test]
async fn a_wrong_logout_token_ends_nothing() {
    let person = logged_in().await;
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let session = json!({ "sid": "up-session-1" });
    let with = |extra: Value| {
        let mut claims = session.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    let up = &person.upstream;
    let cases = [
        ("forged", up.logout_token(session.clone(), true)),
        (
            "another issuer",
            up.logout_token(with(json!({ "iss": "https://evil.example" })), false),
        ),
        (
            "another audience",
            up.logout_token(with(json!({ "aud": "someone-else" })), false),
        ),
        (
            "old",
            up.logout_token(with(json!({ "iat": now - 3600, "exp": now - 3000 })), false),
        ),
        // Back-Channel Logout 1.0 §2.4: exp is REQUIRED.
        ("no exp", up.logout_token(with(json!({ "exp": null })), false)),
        ("no event", up.logout_token(with(json!({ "events": {} })), false)),
        ("a nonce", up.logout_token(with(json!({ "nonce": "n" })), false)),
        ("no jti", up.logout_token(with(json!({ "jti": null })), false)),
        ("neither sub nor sid", up.logout_token(json!({}), false)),
        (
            "another person's session",
            up.logout_token(with(json!({ "sub": "someone-else" })), false),
        ),
        ("not a JWT", "not-a-jwt".to_string()),
    ];
    for (what, token) in &cases {
        let (status, body) = send(&person.server, "corp", token).await;
        if *what == "another person's session" {
            assert_eq!(status, 200, "{what}: a valid token that names no session of ours");
        } else {
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_request")),
                "{what}: {body}"
            );
        }
        assert!(still_logged_in(&person).await, "{what} ended the session");
    }
    let valid = up.logout_token(session.clone(), false);
    assert_eq!(
        send(&person.server, "nobody", &valid).await.0,
        400,
        "an unknown upstream"
    );
    let (status, _) = support::client()
        .post(format!("{}/backchannel/corp", person.server.base))
        .body("{}")
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 400, "not a form");
    assert!(still_logged_in(&person).await);
    assert_eq!(refresh_status(&person).await, 200);
    assert_eq!(person.server.userinfo_status(&person.access_token).await, 200);
    person.server.stop().await;
}
