//! Logging in through an OpenID Connect upstream (the mock in tests/support), and every
//! way the upstream can misbehave: each must end without a code for the RP.

use crate::support;

use serde_json::json;
use support::browser::Browser;
use support::config::REDIRECT;
use support::corp::{AFTER_LOGOUT, VERIFIER, authorize_url, id_token_claims, log_in, run, start};
use support::mock_op::{CLIENT_ID, Misbehaviour, MockOp};

#[tokio::test]
async fn a_login_through_an_oidc_upstream_maps_its_nested_claims() {
    let upstream = MockOp::start().await;
    *upstream.state.person.lock().unwrap() = json!({
        "sub": "u-42",
        "person": { "name": { "first": "Grace", "last": "Hopper" }, "department": "Navy", "city": "Arlington" },
    });
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "").await;
    let browser = Browser::default();
    let page = run(
        &browser,
        &authorize_url(&server, "openid profile address org", "&login_hint=grace"),
    )
    .await;
    let params = page.redirect_params();
    assert_eq!(params["state"], "rp-state");
    assert_eq!(params["iss"], server.base);
    let code = params.get("code").unwrap_or_else(|| panic!("no code: {params:?}"));

    let sent = upstream.last_authorize_request();
    assert_eq!(sent["redirect_uri"], format!("{}/callback/corp", server.base));
    assert_eq!(sent["code_challenge_method"], "S256");
    assert!(sent["code_challenge"].len() == 43 && sent["nonce"].len() >= 22 && sent["state"].len() >= 43);
    assert_eq!(sent["login_hint"], "grace", "login_hint is passed upstream");
    assert!(!sent.contains_key("prompt"));

    let tokens = server.redeem(("app", "s3cret"), code, REDIRECT, Some(VERIFIER)).await;
    let claims = id_token_claims(&tokens);
    assert_eq!(claims["name"], "Grace Hopper");
    assert_eq!(claims["department"], "Navy");
    assert_eq!(claims["address"], json!({ "locality": "Arlington" }));
    assert_eq!(claims["nonce"], "rp-nonce");
    assert_ne!(claims["sub"], "u-42", "the sub is Gatehouse's own");
    assert!(claims.get("email").is_none(), "email was not granted");
    server.stop().await;
}

#[tokio::test]
async fn userinfo_is_merged_when_configured_and_must_name_the_same_sub() {
    let upstream = MockOp::start().await;
    *upstream.state.userinfo.lock().unwrap() = json!({ "email": "grace@navy.example" });
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "userinfo = true").await;
    let browser = Browser::default();
    let tokens = log_in(&server, &browser, "openid email").await;
    assert_eq!(id_token_claims(&tokens)["email"], "grace@navy.example");

    upstream.misbehave(Misbehaviour::UserinfoOtherSub);
    let page = run(&Browser::default(), &authorize_url(&server, "openid email", "")).await;
    let params = page.redirect_params();
    assert_eq!(params["error"], "access_denied");
    assert!(!params.contains_key("code"));
    server.stop().await;
}

#[tokio::test]
async fn every_misbehaviour_ends_without_a_code() {
    let upstream = MockOp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "").await;
    for (how, error) in [
        (Misbehaviour::BadSignature, "access_denied"),
        (Misbehaviour::AlgNone, "access_denied"),
        (Misbehaviour::Hs256WithPublicKey, "access_denied"),
        (Misbehaviour::WrongIss, "access_denied"),
        (Misbehaviour::WrongAud, "access_denied"),
        (Misbehaviour::Expired, "access_denied"),
        (Misbehaviour::NonceMismatch, "access_denied"),
        (Misbehaviour::MissingSub, "access_denied"),
        (Misbehaviour::ErrorResponse, "access_denied"),
        (Misbehaviour::TokenError, "access_denied"),
        (Misbehaviour::WrongCallbackIss, "access_denied"),
    ] {
        upstream.misbehave(how);
        let page = run(&Browser::default(), &authorize_url(&server, "openid", "")).await;
        let params = page.redirect_params();
        assert_eq!(
            params.get("error").map(String::as_str),
            Some(error),
            "{how:?}: {params:?}"
        );
        assert!(!params.contains_key("code"), "{how:?} produced a code");
        assert_eq!(params["state"], "rp-state", "{how:?}");
        assert_eq!(params["iss"], server.base, "{how:?}");
    }
    upstream.misbehave(Misbehaviour::None);
    let page = run(&Browser::default(), &authorize_url(&server, "openid", "")).await;
    assert!(
        page.redirect_params().contains_key("code"),
        "and a well-behaved login works again"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_down_at_start_does_not_stop_gatehouse_and_its_logins_fail_cleanly() {
    let mut upstream = MockOp::start().await;
    upstream.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "").await;
    assert_eq!(
        server.get("/healthz").await.status(),
        200,
        "Gatehouse starts without its upstream"
    );
    let page = run(&Browser::default(), &authorize_url(&server, "openid", "")).await;
    let params = page.redirect_params();
    assert_eq!(params["error"], "temporarily_unavailable");
    assert_eq!(params["state"], "rp-state");
    assert!(!params.contains_key("code"));
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_that_stops_answering_mid_login_gets_temporarily_unavailable() {
    let mut upstream = MockOp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "").await;
    let browser = Browser::default();
    let page = browser.get(&authorize_url(&server, "openid", "")).await;
    let at_callback = browser
        .follow_while(page, |next| !next.contains("/callback/corp"))
        .await;
    upstream.stop().await;
    let page = browser
        .follow_while(at_callback, |next| !next.starts_with(REDIRECT))
        .await;
    let params = page.redirect_params();
    assert_eq!(params["error"], "temporarily_unavailable");
    assert!(!params.contains_key("code"));
    server.stop().await;
}

#[tokio::test]
async fn an_upstream_that_rotates_its_keys_is_followed() {
    let upstream = MockOp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "").await;
    let page = run(&Browser::default(), &authorize_url(&server, "openid", "")).await;
    assert!(page.redirect_params().contains_key("code"));
    upstream.rotate_key("k2");
    let page = run(&Browser::default(), &authorize_url(&server, "openid", "")).await;
    assert!(
        page.redirect_params().contains_key("code"),
        "the new kid was fetched: {:?}",
        page.redirect_params()
    );
    server.stop().await;
}

#[tokio::test]
async fn prompt_login_is_forwarded_upstream() {
    let upstream = MockOp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "").await;
    let browser = Browser::default();
    run(&browser, &authorize_url(&server, "openid", "")).await;
    let page = run(&browser, &authorize_url(&server, "openid", "&prompt=login")).await;
    assert!(page.redirect_params().contains_key("code"));
    let sent = upstream.last_authorize_request();
    assert_eq!(sent.get("prompt").map(String::as_str), Some("login"));
    assert_eq!(sent.get("max_age").map(String::as_str), Some("0"));
    server.stop().await;
}

#[tokio::test]
async fn a_callback_in_another_browser_or_replayed_gets_no_code() {
    let upstream = MockOp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &upstream, "").await;
    let victim = Browser::default();
    // The login goes upstream; stop at the callback to Gatehouse.
    let page = victim.get(&authorize_url(&server, "openid", "")).await;
    let at_callback = victim.follow_while(page, |next| !next.contains("/callback/corp")).await;
    let callback = url::Url::parse(&at_callback.url)
        .unwrap()
        .join(at_callback.location.as_deref().unwrap())
        .unwrap();

    let attacker = Browser::default();
    let page = attacker.get(callback.as_str()).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none(), "no redirect, no code");

    let page = victim.get(callback.as_str()).await;
    assert!(
        page.redirect_params().contains_key("code"),
        "the browser that started it finishes it"
    );
    let page = victim.get(callback.as_str()).await;
    assert_eq!(page.status, 400, "a replayed callback finds nothing");
    server.stop().await;
}

#[tokio::test]
async fn logout_upstream_sends_the_person_through_the_upstreams_logout_and_back() {
    let upstream = MockOp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let after = AFTER_LOGOUT;
    let server = start(dir.path(), &upstream, "logout_upstream = true").await;

    let browser = Browser::default();
    let tokens = log_in(&server, &browser, "openid").await;
    let url = format!(
        "{}/end_session?id_token_hint={}&post_logout_redirect_uri={after}&state=bye-state",
        server.base,
        tokens["id_token"].as_str().unwrap()
    );
    let page = browser.get(&url).await;
    let page = browser.follow_while(page, |next| !next.starts_with(after)).await;
    assert_eq!(
        page.location.as_deref(),
        Some(format!("{after}?state=bye-state").as_str())
    );
    let sent = upstream
        .state
        .logout_requests
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the upstream's logout was visited");
    assert_eq!(sent["client_id"], CLIENT_ID);
    assert_eq!(
        sent["post_logout_redirect_uri"],
        format!("{}/end_session/upstream", server.base)
    );
    let silent = run(&browser, &authorize_url(&server, "openid", "&prompt=none")).await;
    assert_eq!(silent.redirect_params()["error"], "login_required");
    server.stop().await;
}
