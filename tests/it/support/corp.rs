//! A Gatehouse in front of the mock OpenID Provider: one `oidc` upstream `corp` with a
//! mapping of nested claims, and one confidential client `app` that needs no consent.

use super::TestServer;
use super::browser::{Browser, Page};
use super::config::{REDIRECT, TestClient, TestConfig};
use super::mock_op::MockOp;
use gatehouse::Clock;

pub const AFTER_LOGOUT: &str = "http://127.0.0.1:9/bye";
pub const VERIFIER: &str = "a-verifier-that-is-long-enough-for-pkce-0123456789";

const MAPPING: &str = r#"
subject = "{{sub}}"
[claims]
name = "{{person.name.first}} {{person.name.last}}"
email = "{{coalesce email person.email}}"
department = { from = "person.department" }
[claims.address]
locality = "{{person.city}}"
"#;

/// Gatehouse in front of `upstream`, whose table gets the `extra` lines.
pub async fn start(dir: &std::path::Path, upstream: &MockOp, extra: &str) -> TestServer {
    start_with(dir, upstream, extra, TestClient::confidential("app", "s3cret")).await
}

/// [`start`], with the client `app` made from `app`.
pub async fn start_with(dir: &std::path::Path, upstream: &MockOp, extra: &str, app: TestClient) -> TestServer {
    start_at(dir, upstream, extra, app, Clock::System).await
}

/// [`start_with`], on `clock`.
pub async fn start_at(
    dir: &std::path::Path,
    upstream: &MockOp,
    extra: &str,
    app: TestClient,
    clock: Clock,
) -> TestServer {
    std::fs::write(dir.join("corp.toml"), MAPPING).unwrap();
    let app = app
        .no_consent()
        .with("name", "\"The App\"")
        .with("post_logout_redirect_uris", &format!("[\"{AFTER_LOGOUT}\"]"));
    let corp = format!(
        "name = \"Corporate SSO\"\nissuer = \"{}\"\nmapping = \"corp.toml\"\n{extra}",
        upstream.issuer()
    );
    let config = TestConfig::new()
        .tables("[scopes.org]\nclaims = [\"department\"]\n")
        .client(app)
        .mock_upstream("corp", "oidc", &corp)
        .build();
    TestServer::start(dir, &config, clock).await
}

pub fn authorize_url(server: &TestServer, scope: &str, extra: &str) -> String {
    let challenge = gatehouse::secrets::s256(VERIFIER);
    format!(
        "{}/authorize?client_id=app&response_type=code&scope={scope}&redirect_uri={REDIRECT}&state=rp-state\
         &nonce=rp-nonce&code_challenge={challenge}&code_challenge_method=S256{extra}",
        server.base
    )
}

/// Goes through Gatehouse and the upstream until the answer to the RP.
pub async fn run(browser: &Browser, url: &str) -> Page {
    let page = browser.get(url).await;
    browser.follow_while(page, |next| !next.starts_with(REDIRECT)).await
}

/// Logs the person in through the upstream and redeems the code; returns the token response.
pub async fn log_in(server: &TestServer, browser: &Browser, scope: &str) -> serde_json::Value {
    let page = run(browser, &authorize_url(server, scope, "")).await;
    server
        .redeem(
            ("app", "s3cret"),
            &page.redirect_params()["code"],
            REDIRECT,
            Some(VERIFIER),
        )
        .await
}

pub fn id_token_claims(tokens: &serde_json::Value) -> serde_json::Value {
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    use base64::Engine;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
