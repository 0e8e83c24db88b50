//! Logging in through a plain OAuth 2.0 upstream (GitHub-style: no ID token, a user
//! endpoint), with the shipped github.toml mapping; and client_secret_post toward upstreams.

use crate::support;

use gatehouse::Clock;
use serde_json::json;
use support::TestServer;
use support::browser::{Browser, Page};
use support::mock_op::{Misbehaviour, MockOp};

use support::config::{REDIRECT, TestClient, TestConfig};
const VERIFIER: &str = "a-verifier-that-is-long-enough-for-pkce-0123456789";

async fn start(dir: &std::path::Path, upstream: &MockOp, kind: &str, extra: &str) -> TestServer {
    let github = concat!(env!("CARGO_MANIFEST_DIR"), "/claim-mappings/github.toml");
    let base = upstream.issuer();
    let endpoints = match kind {
        "oauth2" => format!(
            "authorization_url = \"{base}/authorize\"\ntoken_url = \"{base}/token\"\nuserinfo_url = \"{base}/userinfo\"\nmapping = \"{github}\""
        ),
        _ => format!("issuer = \"{base}\""),
    };
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "s3cret").no_consent())
        .mock_upstream("gh", kind, &format!("{endpoints}\n{extra}"))
        .build();
    TestServer::start(dir, &config, Clock::System).await
}

fn authorize_url(server: &TestServer) -> String {
    let challenge = gatehouse::secrets::s256(VERIFIER);
    format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid%20profile&redirect_uri={REDIRECT}&state=s1\
         &code_challenge={challenge}&code_challenge_method=S256",
        server.base
    )
}

async fn run(browser: &Browser, url: &str) -> Page {
    let page = browser.get(url).await;
    browser.follow_while(page, |next| !next.starts_with(REDIRECT)).await
}

#[tokio::test]
async fn a_github_style_login_maps_the_user_object() {
    let upstream = MockOp::start().await;
    *upstream.state.userinfo.lock().unwrap() = json!({
        "login": "octocat", "id": 583231, "name": "The Octocat",
        "avatar_url": "https://avatars.example/u/583231", "html_url": "https://github.example/octocat"
    });
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "oauth2", "scopes = [\"read:user\"]").await;
    let page = run(&Browser::default(), &authorize_url(&server)).await;
    let params = page.redirect_params();
    let code = params.get("code").unwrap_or_else(|| panic!("{params:?}"));

    let sent = upstream.last_authorize_request();
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_eq!(sent["scope"], "read:user");
    assert_eq!(sent["redirect_uri"], format!("{}/callback/gh", server.base));
    assert!(!sent.contains_key("nonce"), "plain OAuth 2.0 has no nonce");

    let tokens = server.redeem(("app", "s3cret"), code, REDIRECT, Some(VERIFIER)).await;
    let info = server.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info["preferred_username"], "octocat");
    assert_eq!(info["name"], "The Octocat");
    assert_eq!(info["picture"], "https://avatars.example/u/583231");
    assert_eq!(info["profile"], "https://github.example/octocat");
    server.stop().await;
}

#[tokio::test]
async fn a_failing_oauth2_upstream_ends_without_a_code() {
    let upstream = MockOp::start().await;
    *upstream.state.userinfo.lock().unwrap() = json!({ "id": 1 });
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "oauth2", "").await;
    for how in [Misbehaviour::ErrorResponse, Misbehaviour::TokenError] {
        upstream.misbehave(how);
        let params = run(&Browser::default(), &authorize_url(&server))
            .await
            .redirect_params();
        assert_eq!(
            params.get("error").map(String::as_str),
            Some("access_denied"),
            "{how:?}"
        );
        assert!(!params.contains_key("code"));
    }
    server.stop().await;
}

#[tokio::test]
async fn client_secret_post_is_used_toward_upstreams_that_want_it() {
    let upstream = MockOp::start().await;
    *upstream.state.expect_post_auth.lock().unwrap() = true;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "oidc", "").await;
    let params = run(&Browser::default(), &authorize_url(&server))
        .await
        .redirect_params();
    assert_eq!(
        params.get("error").map(String::as_str),
        Some("access_denied"),
        "basic is refused by this upstream"
    );
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "oidc", "auth_method = \"client_secret_post\"").await;
    let params = run(&Browser::default(), &authorize_url(&server))
        .await
        .redirect_params();
    assert!(params.contains_key("code"), "{params:?}");
    server.stop().await;
}
