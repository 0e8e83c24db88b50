//! The broker carries the upstream's truth: what the app asks of the authentication
//! (`max_age`, `prompt=login`, `acr_values`, an essential acr) is passed on to the
//! upstream and checked in what comes back, and the upstream's `auth_time`, `acr` and
//! `amr` are what the app's ID token says.

use crate::support;

use serde_json::json;
use support::TestServer;
use support::browser::Browser;
use support::config::REDIRECT;
use support::corp::{VERIFIER, authorize_url, id_token_claims, run, start};
use support::mock_op::{Misbehaviour, MockOp};

const ACR_MAP: &str = r#"acr_map = { "urn:gatehouse:mfa" = "mfa-upstream", "urn:gatehouse:pwd" = ["pwd", "basic"] }"#;

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// The code of an answer to the RP, redeemed.
async fn redeem(server: &TestServer, params: &std::collections::HashMap<String, String>) -> serde_json::Value {
    let code = params.get("code").unwrap_or_else(|| panic!("no code: {params:?}"));
    server.redeem(("app", "s3cret"), code, REDIRECT, Some(VERIFIER)).await
}

fn sent_upstreams(upstream: &MockOp) -> usize {
    upstream.state.authorize_requests.lock().unwrap().len()
}

#[tokio::test]
async fn freshness_acr_and_locales_are_passed_upstream_and_its_answer_is_carried_into_the_id_token() {
    let upstream = MockOp::start().await;
    *upstream.state.amr.lock().unwrap() = Some(json!(["pwd", "otp"]));
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, ACR_MAP).await;
    let browser = Browser::default();
    let extra = "&max_age=600&acr_values=urn:gatehouse:mfa%20urn:gatehouse:pwd&ui_locales=de%20en&login_hint=grace";
    let page = run(&browser, &authorize_url(&server, "openid", extra)).await;

    let sent = upstream.last_authorize_request();
    assert_eq!(sent["max_age"], "600");
    assert_eq!(
        sent["acr_values"], "mfa-upstream pwd basic",
        "translated by acr_map, in order"
    );
    assert_eq!(sent["ui_locales"], "de en");
    assert_eq!(sent["login_hint"], "grace");
    assert!(!sent.contains_key("prompt"));

    let claims = id_token_claims(&redeem(&server, &page.redirect_params()).await);
    let upstream_auth_time = upstream.state.authenticated_at.lock().unwrap().unwrap();
    assert_eq!(claims["auth_time"], upstream_auth_time, "the upstream's auth_time");
    assert_eq!(
        claims["acr"], "urn:gatehouse:mfa",
        "the upstream's acr in Gatehouse's terms"
    );
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));

    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["acr_values_supported"],
        json!(["urn:gatehouse:mfa", "urn:gatehouse:pwd"])
    );
    assert_eq!(discovery["claims_parameter_supported"], true);
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_session_from_yesterday_is_the_auth_time_and_max_age_asks_for_a_fresh_one() {
    let upstream = MockOp::start().await;
    let yesterday = now() - 13 * 3600;
    *upstream.state.authenticated_at.lock().unwrap() = Some(yesterday);
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "").await;
    let browser = Browser::default();
    let page = run(&browser, &authorize_url(&server, "openid offline_access", "")).await;
    let tokens = redeem(&server, &page.redirect_params()).await;
    assert_eq!(id_token_claims(&tokens)["auth_time"], yesterday);

    // The session and the refresh family last from the login at Gatehouse, not from
    // the upstream's auth_time (older than the 12 h session_ttl).
    let silent = run(&browser, &authorize_url(&server, "openid", "&prompt=none")).await;
    let again = redeem(&server, &silent.redirect_params()).await;
    assert_eq!(id_token_claims(&again)["auth_time"], yesterday);
    let refreshed = server
        .refresh(("app", "s3cret"), tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: serde_json::Value = refreshed.json().await.unwrap();
    assert_eq!(id_token_claims(&refreshed)["auth_time"], yesterday);

    // max_age: the session is too old, so the upstream is asked, and re-authenticates.
    let before = now();
    let fresh = run(&browser, &authorize_url(&server, "openid", "&max_age=300")).await;
    assert_eq!(upstream.last_authorize_request()["max_age"], "300");
    let auth_time = id_token_claims(&redeem(&server, &fresh.redirect_params()).await)["auth_time"]
        .as_i64()
        .unwrap();
    assert!(auth_time >= before, "a fresh authentication: {auth_time} < {before}");
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_that_ignores_max_age_or_prompt_login_gets_no_code_but_login_required() {
    let upstream = MockOp::start().await;
    *upstream.state.authenticated_at.lock().unwrap() = Some(now() - 3600);
    upstream.misbehave(Misbehaviour::IgnoresFreshness);
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "").await;
    for extra in ["&max_age=300", "&prompt=login", "&max_age=0"] {
        let page = run(&Browser::default(), &authorize_url(&server, "openid", extra)).await;
        let params = page.redirect_params();
        assert_eq!(
            params.get("error").map(String::as_str),
            Some("login_required"),
            "{extra}: {params:?}"
        );
        assert!(!params.contains_key("code"));
        assert_eq!(params["state"], "rp-state");
    }
    // Without a freshness requirement the old upstream session is fine.
    let page = run(&Browser::default(), &authorize_url(&server, "openid", "&max_age=7200")).await;
    assert!(
        page.redirect_params().contains_key("code"),
        "{:?}",
        page.redirect_params()
    );

    // An upstream that does not say when the person authenticated cannot prove freshness.
    upstream.misbehave(Misbehaviour::NoAuthTime);
    let page = run(&Browser::default(), &authorize_url(&server, "openid", "&max_age=300")).await;
    assert_eq!(page.redirect_params()["error"], "login_required");
    let page = run(&Browser::default(), &authorize_url(&server, "openid", "")).await;
    assert!(page.redirect_params().contains_key("code"), "none was asked for");
    server.stop().await;
}

#[tokio::test]
async fn an_essential_acr_the_upstream_does_not_meet_ends_with_unmet_authentication_requirements() {
    let upstream = MockOp::start().await;
    *upstream.state.acr.lock().unwrap() = Some("basic".into());
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, ACR_MAP).await;
    let essential = r#"{"id_token":{"acr":{"essential":true,"values":["urn:gatehouse:mfa"]}}}"#;
    let extra = format!("&claims={}", urlencoding(essential));
    let page = run(&Browser::default(), &authorize_url(&server, "openid", &extra)).await;
    let params = page.redirect_params();
    assert_eq!(params["error"], "unmet_authentication_requirements", "{params:?}");
    assert!(!params.contains_key("code"));
    assert_eq!(upstream.last_authorize_request()["acr_values"], "mfa-upstream");

    // Asked for without `essential`, the acr is a wish: the login goes on with what the
    // upstream did, in Gatehouse's terms.
    let page = run(
        &Browser::default(),
        &authorize_url(&server, "openid", "&acr_values=urn:gatehouse:mfa"),
    )
    .await;
    let claims = id_token_claims(&redeem(&server, &page.redirect_params()).await);
    assert_eq!(claims["acr"], "urn:gatehouse:pwd");

    // Met, the essential acr gives a code.
    *upstream.state.acr.lock().unwrap() = Some("mfa-upstream".into());
    let page = run(&Browser::default(), &authorize_url(&server, "openid", &extra)).await;
    let claims = id_token_claims(&redeem(&server, &page.redirect_params()).await);
    assert_eq!(claims["acr"], "urn:gatehouse:mfa");

    // A claims parameter that is not a claims request is refused.
    let page = run(&Browser::default(), &authorize_url(&server, "openid", "&claims=%5B%5D")).await;
    assert_eq!(page.redirect_params()["error"], "invalid_request");
    server.stop().await;
}

#[tokio::test]
async fn a_session_of_a_weaker_acr_steps_up_at_the_upstream_and_a_stronger_one_is_reused() {
    let upstream = MockOp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, ACR_MAP).await;
    let browser = Browser::default();
    *upstream.state.acr.lock().unwrap() = Some("pwd".into());
    let page = run(&browser, &authorize_url(&server, "openid", "")).await;
    assert_eq!(
        id_token_claims(&redeem(&server, &page.redirect_params()).await)["acr"],
        "urn:gatehouse:pwd"
    );
    assert_eq!(sent_upstreams(&upstream), 1);

    // The session's acr is not the one asked for: the person goes back to the upstream.
    *upstream.state.acr.lock().unwrap() = None;
    let step_up = authorize_url(&server, "openid", "&acr_values=urn:gatehouse:mfa");
    let page = run(&browser, &step_up).await;
    assert_eq!(sent_upstreams(&upstream), 2, "stepped up at the upstream");
    assert_eq!(
        id_token_claims(&redeem(&server, &page.redirect_params()).await)["acr"],
        "urn:gatehouse:mfa"
    );

    // The new session has it: the next request is answered from the session.
    let page = run(&browser, &step_up).await;
    assert_eq!(sent_upstreams(&upstream), 2, "answered from the session");
    assert_eq!(
        id_token_claims(&redeem(&server, &page.redirect_params()).await)["acr"],
        "urn:gatehouse:mfa"
    );
    server.stop().await;
}

fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn email_verified_is_believed_where_trusted_and_the_idp_claim_names_the_upstream() {
    let upstream = MockOp::start().await;
    let person = json!({ "sub": "u-7", "email": "grace@corp.example", "email_verified": true });
    *upstream.state.person.lock().unwrap() = person.clone();
    *upstream.state.userinfo.lock().unwrap() = person;
    let dir = tempfile::tempdir().unwrap();
    let mapping = "subject = \"{{sub}}\"\n[claims]\nemail = { from = \"email\" }\n\
                   email_verified = { from = \"email_verified\", type = \"bool\" }\n";
    std::fs::write(dir.path().join("m.toml"), mapping).unwrap();
    let base = upstream.issuer();
    let oauth2 = format!(
        "authorization_url = \"{base}/authorize\"\ntoken_url = \"{base}/token\"\nuserinfo_url = \"{base}/userinfo\"\nmapping = \"m.toml\""
    );
    let oidc = format!("issuer = \"{base}\"\nmapping = \"m.toml\"");
    let config = support::config::TestConfig::new()
        .client(
            support::config::TestClient::confidential("app", "s3cret")
                .no_consent()
                .with("idp_claim", "true"),
        )
        .client(support::config::TestClient::confidential("plain", "s3cret").no_consent())
        .mock_upstream("trusted", "oidc", &oidc)
        .mock_upstream("distrusted", "oidc", &format!("{oidc}\ntrust_email_verified = false"))
        .mock_upstream("api", "oauth2", &oauth2)
        .mock_upstream("vouched", "oauth2", &format!("{oauth2}\ntrust_email_verified = true"))
        .build();
    let server = TestServer::start(dir.path(), &config, gatehouse::Clock::System).await;
    let mut subs = std::collections::HashSet::new();
    for (id, verified) in [
        ("trusted", true),
        ("distrusted", false),
        ("api", false),
        ("vouched", true),
    ] {
        let page = run(
            &Browser::default(),
            &authorize_url(&server, "openid%20email", &format!("&upstream={id}")),
        )
        .await;
        let claims = id_token_claims(&redeem(&server, &page.redirect_params()).await);
        assert_eq!(claims["email_verified"], verified, "{id}");
        assert_eq!(claims["idp"], id, "the upstream the person logged in at");
        subs.insert(claims["sub"].as_str().unwrap().to_string());
    }
    assert_eq!(
        subs.len(),
        4,
        "the same email at another upstream is never linked by itself"
    );
    // A client that did not opt in gets no idp claim.
    let url = authorize_url(&server, "openid", "&upstream=trusted").replace("client_id=app", "client_id=plain");
    let page = run(&Browser::default(), &url).await;
    let params = page.redirect_params();
    let tokens = server
        .redeem(("plain", "s3cret"), &params["code"], REDIRECT, Some(VERIFIER))
        .await;
    assert!(id_token_claims(&tokens).get("idp").is_none());
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert!(
        discovery["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("idp"))
    );
    server.stop().await;
}
