//! RP-initiated logout and back-channel logout.

use crate::support;

use axum::routing::post;
use gatehouse::Clock;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use support::browser::{Browser, local_login};
use support::config::{REDIRECT, TestClient, TestConfig};
use support::{TestServer, client, gatehouse_async, verify_jwt};

const AFTER_LOGOUT: &str = "http://127.0.0.1:9/bye";

fn config(backchannel: &str) -> String {
    let app = TestClient::confidential("app", "app-secret")
        .no_consent()
        .with("post_logout_redirect_uris", &format!("[\"{AFTER_LOGOUT}\"]"));
    let app = if backchannel.is_empty() {
        app
    } else {
        app.with("backchannel_logout_uri", &format!("\"{backchannel}\""))
    };
    TestConfig::new().client(app).bob().build()
}

fn authorize(server: &TestServer, extra: &str) -> String {
    format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}{extra}",
        server.base
    )
}

/// Logs bob in; returns the token response.
async fn log_in(server: &TestServer, browser: &Browser) -> Value {
    let page = local_login(&server.base, browser, &authorize(server, ""), "bob", "bob").await;
    server
        .redeem(("app", "app-secret"), &page.redirect_params()["code"], REDIRECT, None)
        .await
}

async fn silent_login_error(server: &TestServer, browser: &Browser) -> Option<String> {
    browser
        .get(&authorize(server, "&prompt=none"))
        .await
        .redirect_params()
        .get("error")
        .cloned()
}

#[tokio::test]
async fn logout_with_a_hint_ends_the_session_and_returns_to_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let browser = Browser::default();
    let tokens = log_in(&server, &browser).await;
    assert_eq!(silent_login_error(&server, &browser).await, None, "logged in");
    // A second access token of the session's, from a refresh.
    let refreshed = server
        .refresh(("app", "app-secret"), tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let access_tokens = [&tokens, &refreshed].map(|t| t["access_token"].as_str().unwrap().to_string());
    for token in &access_tokens {
        assert_eq!(server.userinfo_status(token).await, 200);
    }

    let url = format!(
        "{}/end_session?id_token_hint={}&post_logout_redirect_uri={AFTER_LOGOUT}&state=st",
        server.base,
        tokens["id_token"].as_str().unwrap()
    );
    let page = browser.get(&url).await;
    assert_eq!(
        page.location.as_deref(),
        Some(format!("{AFTER_LOGOUT}?state=st").as_str())
    );
    assert!(
        browser.cookie("gatehouse_session").is_none(),
        "the session cookie is cleared"
    );
    assert_eq!(
        silent_login_error(&server, &browser).await.as_deref(),
        Some("login_required")
    );

    let refresh = refreshed["refresh_token"].as_str().unwrap();
    let response = server.refresh(("app", "app-secret"), refresh).await;
    assert_eq!(response.status(), 400, "the session's refresh tokens end with it");
    for token in &access_tokens {
        assert_eq!(
            server.userinfo_status(token).await,
            401,
            "and so do its access tokens, refreshed ones too"
        );
        let (_, introspected) =
            support::post_form(&server, "/introspect", ("app", "app-secret"), &[("token", token)]).await;
        assert_eq!(introspected["active"], false, "{introspected}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_id_token_of_an_earlier_session_is_no_hint_for_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    // Bob's first session, ended; his ID token from it lives on (in a log, a leak).
    let first = Browser::default();
    let old = log_in(&server, &first).await;
    let ended = first
        .get(&format!(
            "{}/end_session?id_token_hint={}",
            server.base,
            old["id_token"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ended.status, 200, "signed out");

    let browser = Browser::default();
    log_in(&server, &browser).await;
    let url = format!(
        "{}/end_session?id_token_hint={}&post_logout_redirect_uri={AFTER_LOGOUT}",
        server.base,
        old["id_token"].as_str().unwrap()
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 200, "the person is asked");
    assert!(page.body.contains("Sign out"), "{}", page.body);
    assert_eq!(silent_login_error(&server, &browser).await, None, "still logged in");
    server.stop().await;
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let browser = Browser::default();
    let tokens = log_in(&server, &browser).await;
    let url = format!(
        "{}/end_session?id_token_hint={}&post_logout_redirect_uri=https://evil.example/",
        server.base,
        tokens["id_token"].as_str().unwrap()
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    assert_eq!(silent_login_error(&server, &browser).await, None, "still logged in");
    server.stop().await;
}

#[tokio::test]
async fn logout_without_a_hint_asks_the_person_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let browser = Browser::default();
    log_in(&server, &browser).await;
    let page = browser
        .get(&format!(
            "{}/end_session?client_id=app&post_logout_redirect_uri={AFTER_LOGOUT}",
            server.base
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign out"), "{}", page.body);
    let csrf = page.field("csrf");

    // A forged form (no or wrong CSRF token) ends nothing.
    let forged = browser
        .post(
            &format!("{}/end_session", server.base),
            &[("csrf", "forged"), ("decision", "logout"), ("client_id", "app")],
        )
        .await;
    assert_eq!(forged.status, 200, "asked again");
    assert_eq!(silent_login_error(&server, &browser).await, None, "still logged in");

    let page = browser
        .post(
            &format!("{}/end_session", server.base),
            &[
                ("csrf", &csrf),
                ("decision", "logout"),
                ("client_id", "app"),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
            ],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some(AFTER_LOGOUT));
    assert_eq!(
        silent_login_error(&server, &browser).await.as_deref(),
        Some("login_required")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_code_issued_before_logout_is_worthless_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(""), Clock::System).await;
    let browser = Browser::default();
    let page = local_login(&server.base, &browser, &authorize(&server, ""), "bob", "bob").await;
    let code = page.redirect_params()["code"].clone();

    let confirm = browser.get(&format!("{}/end_session?client_id=app", server.base)).await;
    let csrf = confirm.field("csrf");
    let ended = browser
        .post(
            &format!("{}/end_session", server.base),
            &[("csrf", csrf.as_str()), ("decision", "logout"), ("client_id", "app")],
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(
        silent_login_error(&server, &browser).await.as_deref(),
        Some("login_required")
    );

    let response = client()
        .post(format!("{}/token", server.base))
        .basic_auth("app", Some("app-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    server.stop().await;
}

/// A relying party's back-channel logout endpoint that fails its first request.
struct Receiver {
    url: String,
    tokens: Arc<Mutex<Vec<String>>>,
    notify: Arc<tokio::sync::Notify>,
}

async fn receiver() -> Receiver {
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let attempts = Arc::new(Mutex::new(0));
    let notify = Arc::new(tokio::sync::Notify::new());
    let (t, a, n) = (tokens.clone(), attempts.clone(), notify.clone());
    let app = axum::Router::new().route(
        "/backchannel",
        post(
            move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
                let (t, a, n) = (t.clone(), a.clone(), n.clone());
                async move {
                    *a.lock().unwrap() += 1;
                    if *a.lock().unwrap() == 1 {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    t.lock().unwrap().push(form["logout_token"].clone());
                    n.notify_one();
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/backchannel", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, tokens, notify }
}

/// A server whose client has a back-channel receiver, and bob logged in: the folder, the
/// receiver, the server, bob's browser, his token response and his verified ID token.
async fn logged_in_with_receiver() -> (tempfile::TempDir, Receiver, TestServer, Browser, Value, Value) {
    let receiver = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &config(&receiver.url), Clock::System).await;
    let browser = Browser::default();
    let tokens = log_in(&server, &browser).await;
    let id_token = verify_jwt(&server, tokens["id_token"].as_str().unwrap(), "app")
        .await
        .unwrap();
    (dir, receiver, server, browser, tokens, id_token)
}

#[tokio::test]
async fn the_client_gets_a_signed_logout_token_and_failures_are_retried() {
    let (_dir, receiver, server, browser, tokens, id_token) = logged_in_with_receiver().await;

    let url = format!(
        "{}/end_session?id_token_hint={}",
        server.base,
        tokens["id_token"].as_str().unwrap()
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 200, "the logout page does not wait for the back channel");
    tokio::time::timeout(std::time::Duration::from_secs(20), receiver.notify.notified())
        .await
        .expect("a logout token arrives after a retry");

    let logout_token = receiver.tokens.lock().unwrap()[0].clone();
    let header = jsonwebtoken::decode_header(&logout_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let claims = verify_jwt(&server, &logout_token, "app").await.unwrap();
    assert_eq!(claims["sid"], id_token["sid"]);
    assert_eq!(claims["sub"], id_token["sub"]);
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_session_ended_from_the_command_line_tells_its_clients_too() {
    let (_dir, receiver, server, _browser, _tokens, id_token) = logged_in_with_receiver().await;
    let sid = id_token["sid"].as_str().unwrap().to_string();
    let config = server.config_path.to_str().unwrap().to_string();
    server.stop().await;

    // No server runs: the command opens the database itself, and does what the admin API
    // does, waiting for the delivery (retried once here) before it exits.
    let (code, stdout, stderr) = gatehouse_async(&["sessions", "revoke", "--config", &config, &sid]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("back-channel logout"), "{stdout}");
    let delivered = receiver.tokens.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1, "the logout token arrived before the command ended");
    let header = jsonwebtoken::decode_header(&delivered[0]).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let payload = delivered[0].split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["aud"], "app");
}
