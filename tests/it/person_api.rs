//! A Person API as the source of a person's attributes: an upstream whose ID token carries
//! only `sub`, and the shipped person-api.toml mapping.

use crate::support;

use axum::http::StatusCode;
use gatehouse::Clock;
use serde_json::json;
use support::TestServer;
use support::browser::{Browser, Page};
use support::mock_op::MockOp;

use support::config::{REDIRECT, TestClient, TestConfig};
const VERIFIER: &str = "a-verifier-that-is-long-enough-for-pkce-0123456789";

async fn start(dir: &std::path::Path, upstream: &MockOp) -> TestServer {
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/claim-mappings/person-api.toml");
    let base = upstream.issuer();
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "s3cret").no_consent())
        .mock_upstream(
            "eid",
            "oidc",
            &format!("issuer = \"{base}\"\nattributes_url = \"{base}/person\"\nmapping = \"{mapping}\""),
        )
        .build();
    TestServer::start(dir, &config, Clock::System).await
}

async fn run(server: &TestServer) -> Page {
    let challenge = gatehouse::secrets::s256(VERIFIER);
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid%20profile%20email%20address%20phone\
         &redirect_uri={REDIRECT}&state=s&code_challenge={challenge}&code_challenge_method=S256",
        server.base
    );
    let browser = Browser::default();
    let page = browser.get(&url).await;
    browser.follow_while(page, |next| !next.starts_with(REDIRECT)).await
}

#[tokio::test]
async fn an_id_token_with_only_sub_ends_with_the_full_person_record() {
    let upstream = MockOp::start().await;
    *upstream.state.person.lock().unwrap() = json!({ "sub": "eid-opaque-1" });
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mappings/person-api.input.json"
    ))
    .unwrap();
    *upstream.state.person_api.lock().unwrap() = (StatusCode::OK, fixture);
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream).await;

    let page = run(&server).await;
    let code = page.redirect_params()["code"].clone();
    let tokens = server.redeem(("app", "s3cret"), &code, REDIRECT, Some(VERIFIER)).await;
    let info = server.userinfo(tokens["access_token"].as_str().unwrap()).await;
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mappings/person-api.expected.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut expected = expected["claims"].as_object().unwrap().clone();
    expected.insert("sub".into(), info["sub"].clone());
    assert_eq!(
        info,
        serde_json::Value::Object(expected),
        "profile, email, address and phone from the Person API"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failed_or_non_json_person_api_ends_the_login_without_an_account() {
    let upstream = MockOp::start().await;
    *upstream.state.person.lock().unwrap() = json!({ "sub": "eid-opaque-2" });
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream).await;
    for (status, body, error) in [
        (StatusCode::INTERNAL_SERVER_ERROR, "oops", "temporarily_unavailable"),
        (StatusCode::OK, "<html>not json</html>", "access_denied"),
        (StatusCode::OK, "[1, 2]", "access_denied"),
    ] {
        *upstream.state.person_api.lock().unwrap() = (status, body.into());
        let params = run(&server).await.redirect_params();
        assert_eq!(params.get("error").map(String::as_str), Some(error), "{status} {body}");
        assert!(!params.contains_key("code"));
    }
    assert_eq!(
        server.app.state().store.accounts.stored_len().await.unwrap(),
        0,
        "no half-mapped account"
    );
    server.stop().await;
}
